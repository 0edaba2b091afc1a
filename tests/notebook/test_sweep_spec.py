"""The shared sweep pieces (qm_jupyter.sweep_spec): grids, objectives, searches, the tally."""

from __future__ import annotations

import pytest

from qm_jupyter.engine import ParamError, get_strategy
from qm_jupyter.sweep_spec import Tally, make_search, parse_sweep_spec

SMA = get_strategy("sma_crossover").params


def combinations(spec) -> list[dict]:
    search, asked = make_search(spec), []
    while (next_one := search.ask()) is not None:
        asked.append(next_one[1])
        search.tell(next_one[0], float(len(asked)))
        if len(asked) == spec.total_trials:
            break
    return asked


def test_a_grid_is_lists_and_ranges_whose_stop_counts_when_it_lands_on_a_step():
    spec = parse_sweep_spec(
        SMA, {"fast": [5, 10, 5], "slow": {"start": 20, "stop": 60, "step": 20}}, seed=1
    )
    assert spec.grid == {"fast": [5, 10], "slow": [20, 40, 60]}  # duplicates dropped
    assert spec.total_trials == spec.grid_size == 6
    assert combinations(spec)[:3] == [
        {"fast": 5, "slow": 20},
        {"fast": 5, "slow": 40},
        {"fast": 5, "slow": 60},
    ]  # last axis fastest
    off_step = parse_sweep_spec(SMA, {"slow": {"start": 20, "stop": 55, "step": 10}})
    assert off_step.grid == {"slow": [20, 30, 40, 50]}


def test_a_float_range_lands_on_its_stop_without_drift():
    declared = get_strategy("rsi_reversion").params
    spec = parse_sweep_spec(declared, {"lower": {"start": 0.1, "stop": 0.3, "step": 0.1}})
    assert spec.grid == {"lower": [0.1, 0.2, 0.3]}  # 0.1 + 2 * 0.1 is 0.30000000000000004


@pytest.mark.parametrize(
    ("grid", "options", "field"),
    [
        ({}, {}, "grid"),
        ({"fast": []}, {}, "grid.fast"),
        ({"speed": [1]}, {}, "grid.speed"),
        ({"fast": [1.5]}, {}, "grid.fast"),
        ({"fast": {"start": 5, "stop": 10, "step": 0}}, {}, "grid.fast.step"),
        ({"fast": {"start": 5, "stop": 1, "step": 1}}, {}, "grid.fast.stop"),
        ({"fast": {"start": 5, "stop": 10}}, {}, "grid.fast"),
        ({"fast": [5, 10]}, {"params": {"fast": 5}}, "grid.fast"),
        ({"fast": [5, 10]}, {"method": "anneal"}, "method"),
        ({"fast": [5, 10]}, {"method": "random"}, "max_trials"),
        ({"fast": [5, 10]}, {"method": "tpe", "max_trials": 3}, "max_trials"),
        ({"fast": [5, 10, 15]}, {"max_trials": 2}, "max_trials"),
        ({"fast": [5, 10]}, {"maximize": "profit"}, "maximize"),
        ({"fast": [5, 10]}, {"maximize": "sharpe_ratio", "minimize": "bars"}, "minimize"),
        ({"fast": [5, 10]}, {"seed": -1}, "seed"),
        ({"fast": [5, 10]}, {"trial_events": "all"}, "trial_events"),
        ({"fast": {"start": 2, "stop": 10_000, "step": 1}}, {"limit": 100}, "grid.fast"),
        ({"fast": list(range(2, 12)), "slow": list(range(20, 40))}, {"limit": 100}, "grid"),
    ],
)
def test_a_refusal_names_the_field(grid, options, field):
    with pytest.raises(ParamError) as refused:
        parse_sweep_spec(SMA, grid, **options)
    assert refused.value.param == field


def test_random_and_tpe_are_reproducible_with_a_seed():
    grid = {"fast": list(range(2, 12)), "slow": {"start": 20, "stop": 200, "step": 20}}
    for method in ("random", "tpe"):
        first, again, other = (
            combinations(parse_sweep_spec(SMA, grid, method=method, max_trials=8, seed=seed))
            for seed in (3, 3, 4)
        )
        assert first == again != other
        assert len(first) == 8
        if method == "random":
            assert len({tuple(c.values()) for c in first}) == 8  # distinct combinations
        values = {
            name: set(grid_values) for name, grid_values in parse_sweep_spec(SMA, grid).grid.items()
        }
        assert all(c[name] in values[name] for c in first for name in c)  # on the grid


def test_the_tally_keeps_the_best_in_the_objectives_direction():
    def entry(objective, status="completed"):
        return {"backtest_id": str(objective), "params": {}, "metrics": {}, "objective": objective,
                "status": status}  # fmt: skip

    for direction, best in (("maximize", 3.0), ("minimize", -1.0)):
        tally = Tally("sharpe_ratio", direction, 5)
        for added in (entry(1.0), entry(3.0), entry(-1.0), entry(9.0, "failed"), entry(None)):
            tally.add(added)
        assert tally.best["objective"] == best
        assert tally.counts == {"total": 5, "completed": 4, "failed": 1, "cancelled": 0,
                                "skipped": 0}  # fmt: skip
        assert tally.ended == 5

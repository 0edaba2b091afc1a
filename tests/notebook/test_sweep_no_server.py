"""qm.sweep with no server: the kernel (this process) drives the sweep on a local Dask cluster
of its own (one worker process here, kept for the whole module)."""

from __future__ import annotations

import asyncio
import time

import pandas as pd
import pytest
from nb_helpers import SAMPLE, library_frames

import qm_jupyter as qm
from qm_jupyter.engine import DataError, Param, ParamError, Strategy, VectorStrategy, load_prices
from qm_jupyter.engine import run_backtest as engine_run
from qm_jupyter.notebook import sweep_kernel

GRID = {"fast": [5, 10, 20], "slow": {"start": 10, "stop": 30, "step": 10}}
#: fast >= slow is rejected by sma_crossover's check_params: skipped, never run.
SKIPPED = {(10, 10), (20, 10), (20, 20)}


class Breakout(VectorStrategy):
    """A strategy defined here, as in a notebook: long above the rolling high of ``window``
    bars, flat below the rolling low of ``exit`` bars."""

    window = Param(20, min=2)
    exit = Param(10, min=2)

    def signals(self, data):
        close = data["close"]
        enter = close > close.shift(1).rolling(self.window).max()
        leave = close < close.shift(1).rolling(self.exit).min()
        return enter.to_numpy(), leave.to_numpy()


def momentum(data, lookback=20):
    return (data.close > data.close.shift(lookback)).to_numpy().astype(int)


class Fragile(VectorStrategy):
    """Raises in some trials (odd ``n``)."""

    n = Param(2, min=1)

    def signals(self, data):
        if self.n % 2:
            raise RuntimeError(f"odd n={self.n}")
        close = data["close"]
        return (close > close.shift(self.n)).to_numpy(), (close < close.shift(self.n)).to_numpy()


class Slow(Strategy):
    pause = Param(1, min=1)

    def next(self):
        time.sleep(0.002)


@pytest.fixture(autouse=True)
def one_worker(monkeypatch, kernel_alone):
    """One worker process of one thread (several test sessions share the machine)."""
    monkeypatch.setattr(sweep_kernel, "LOCAL_WORKERS", 1)
    return kernel_alone


def same_as_single_runs(result, strategy, data, **settings) -> None:
    """Every completed trial's metrics are those of one run of the same params."""
    completed = result.trials[result.trials["status"] == "completed"]
    assert len(completed) > 0
    for _, row in completed.iterrows():
        params = {name: row[name] for name in result.grid}
        single = engine_run(data, strategy, {**params}, **settings).metrics
        for key, value in single.items():
            if key != "duration":
                assert row[key] == pytest.approx(value, nan_ok=True), (params, key)


def test_a_builtin_strategy_sweeps_in_the_kernel_and_each_trial_equals_a_single_run(
    kernel_alone,
):
    sweep = qm.sweep(SAMPLE, "sma_crossover", GRID, maximize="total_return", display=False)
    assert sweep.where == "kernel"
    result = sweep.result(120)
    assert result.status == sweep.status == "completed"
    assert result.counts == {"total": 9, "completed": 6, "failed": 0, "cancelled": 0,
                             "skipped": 3}  # fmt: skip
    trials = result.trials
    assert list(trials.columns[:2]) == ["fast", "slow"] and len(trials) == 9
    skipped = trials[trials["status"] == "skipped"]
    assert {(r.fast, r.slow) for r in skipped.itertuples()} == SKIPPED
    assert skipped["backtest_id"].isna().all()
    assert skipped["error"].str.contains("must be less than slow").all()
    same_as_single_runs(result, "sma_crossover", SAMPLE)
    completed = trials[trials["status"] == "completed"]
    assert completed["backtest_id"].is_unique and (completed["attempt"] == 1).all()
    best = completed.loc[completed["total_return"].idxmax()]
    assert result.best["params"]["fast"] == best["fast"]
    assert result.best["objective"] == best["total_return"]
    # each trial is a run of this kernel: qm.watch shows it
    watched = qm.watch(best["backtest_id"], display=False)
    assert watched.status == "completed"
    assert watched.result(5).metrics["total_return"] == pytest.approx(best["total_return"])
    assert "completed: 9/9 trials (3 skipped)" in repr(sweep)
    assert "best total_return" in repr(result)


def test_notebook_strategies_and_dataframes_sweep_with_run_settings(kernel_alone):
    frame = load_prices(SAMPLE)
    for strategy, grid in ((Breakout, {"window": [10, 30], "exit": [5, 15]}),
                           (momentum, {"lookback": [5, 20, 40]})):  # fmt: skip
        result = qm.sweep(frame, strategy, grid, commission=0.001, display=False).result(120)
        assert result.counts["completed"] == result.counts["total"] == len(result.trials)
        same_as_single_runs(result, strategy, frame, commission=0.001)
    # every run setting reaches every trial: broker settings, conventions, vectorized stops
    settings = {"commission": 0.001, "spread": 0.0005, "conventions": "backtesting.py",
                "sl_stop": 0.01, "tp_stop": 0.02}  # fmt: skip
    result = qm.sweep(frame, "sma_crossover", GRID, display=False, **settings).result(120)
    assert result.counts["completed"] == 6
    same_as_single_runs(result, "sma_crossover", frame, **settings)


def test_heatmaps_cover_the_grid_and_aggregate_the_other_params_by_max(kernel_alone):
    grid = {"fast": [5, 10], "slow": [20, 40], "upper": [60.0, 70.0, 80.0]}
    with pytest.raises(ParamError) as refused:  # rsi_reversion has no fast
        qm.sweep(SAMPLE, "rsi_reversion", grid, display=False)
    assert refused.value.param == "grid.fast"
    grid = {"period": [5, 10], "lower": [20.0, 30.0], "upper": [60.0, 70.0, 80.0]}
    result = qm.sweep(SAMPLE, "rsi_reversion", grid, display=False).result(120)
    table = result.heatmap("period", "lower")
    assert table.shape == (2, 2)
    assert list(table.index) == [20.0, 30.0] and list(table.columns) == [5, 10]
    assert (table.index.name, table.columns.name) == ("lower", "period")
    by_hand = result.trials.groupby(["lower", "period"])["sharpe_ratio"].max().unstack()
    pd.testing.assert_frame_equal(table, by_hand, check_names=False)
    assert result.heatmap("upper", "period", "total_return", agg="mean").shape == (2, 3)

    series = result.heatmap_series()
    assert series.name == "sharpe_ratio" and list(series.index.names) == list(grid)
    assert len(series) == 12 and series.index.is_unique
    assert result.heatmap_series("total_trades").name == "total_trades"
    with pytest.raises(KeyError, match="not a swept param"):
        result.heatmap("period", "nope")
    with pytest.raises(KeyError, match="not a metric"):
        result.heatmap_series("profit")


def test_skipped_combinations_are_nan_cells_and_absent_from_the_series(kernel_alone):
    result = qm.sweep(SAMPLE, "sma_crossover", GRID, display=False).result(120)
    table = result.heatmap("fast", "slow")
    assert table.shape == (3, 3)
    assert {(f, s) for f in table.columns for s in table.index if pd.isna(table.at[s, f])} == (
        SKIPPED
    )
    series = result.heatmap_series()
    assert len(series) == 6 and not set(series.index) & SKIPPED


def test_backtesting_plot_heatmaps_takes_the_heatmap_series_unchanged(kernel_alone, tmp_path):
    from backtesting.lib import plot_heatmaps

    grid = {"period": [5, 10], "lower": [20.0, 30.0], "upper": [60.0, 70.0]}
    series = qm.sweep(SAMPLE, "rsi_reversion", grid, display=False).result(120).heatmap_series()
    out = tmp_path / "heatmaps.html"
    grid_plot = plot_heatmaps(series, filename=str(out), open_browser=False)
    pairs = [(plot.xaxis.axis_label, plot.yaxis.axis_label) for plot, *_ in grid_plot.children]
    assert pairs == [("period", "lower"), ("period", "upper"), ("lower", "upper")]
    assert out.stat().st_size > 0


def test_random_and_tpe_sweeps_are_reproducible_with_a_seed(kernel_alone):
    grid = {"fast": [5, 10, 15, 20], "slow": [30, 40, 50, 60]}
    for method in ("random", "tpe"):
        tried = []
        for _ in range(2):
            result = qm.sweep(SAMPLE, "sma_crossover", grid, method=method, max_trials=5,
                              seed=11, display=False).result(120)  # fmt: skip
            assert len(result.trials) == result.counts["total"] == 5
            tried.append(sorted(zip(result.trials["fast"], result.trials["slow"], strict=True)))
        assert tried[0] == tried[1]


def test_minimize_picks_the_lowest(kernel_alone):
    result = qm.sweep(SAMPLE, "sma_crossover", GRID, minimize="max_drawdown",
                      display=False).result(120)  # fmt: skip
    assert result.direction == "minimize"
    assert result.best["objective"] == result.trials["max_drawdown"].min()


def test_trials_that_raise_fail_with_their_message_and_the_sweep_completes(kernel_alone):
    result = qm.sweep(SAMPLE, Fragile, {"n": [2, 3, 4, 5]}, display=False).result(120)
    assert result.status == "completed"
    assert result.counts["failed"] == 2 and result.counts["completed"] == 2
    failed = result.trials[result.trials["status"] == "failed"]
    assert list(failed["n"]) == [3, 5]
    assert failed["error"].str.contains("odd n=").all()
    assert result.heatmap_series("sharpe_ratio").loc[[3, 5]].isna().all()


async def test_cancel_keeps_the_finished_trials_and_ends_within_seconds(kernel_alone):
    sweep = qm.sweep(SAMPLE, Slow, {"pause": list(range(1, 21))}, display=False)
    while not sweep.state.counts.get("completed"):
        await asyncio.sleep(0.05)
    asked = time.monotonic()
    assert sweep.cancel()
    result = await sweep
    assert time.monotonic() - asked < 4.0
    assert result.status == sweep.status == "cancelled"
    counts = result.counts
    assert 1 <= counts["completed"] < 20
    assert counts["completed"] + counts["cancelled"] == len(result.trials) < 20
    assert not sweep.cancel()  # it already ended


@pytest.mark.parametrize(
    ("data", "strategy", "grid", "options", "error", "field"),
    [
        (SAMPLE, "sma_crossover", {"speed": [1]}, {}, ParamError, "grid.speed"),
        (SAMPLE, "sma_crossover", {}, {}, ParamError, "grid"),
        (SAMPLE, "sma_crossover", GRID, {"maximize": "profit"}, ParamError, "maximize"),
        (SAMPLE, "sma_crossover", GRID, {"method": "random"}, ParamError, "max_trials"),
        (SAMPLE, "sma_crossover", GRID, {"commission": 2}, ParamError, "commission"),
        (SAMPLE, "sma_crossover", GRID, {"spread": -1}, ParamError, "spread"),
        (SAMPLE, "sma_crossover", GRID, {"log_trades": -1}, ParamError, "log_trades"),
        (SAMPLE, "no_such_strategy", GRID, {}, ParamError, "strategy"),
        ("no_such_file.csv", "sma_crossover", GRID, {}, DataError, None),
    ],
)
def test_a_mistake_raises_the_engines_error_naming_the_field(
    kernel_alone, data, strategy, grid, options, error, field
):
    with pytest.raises(error) as raised:
        qm.sweep(data, strategy, grid, display=False, **options)
    assert getattr(raised.value, "param", None) == field
    assert library_frames(raised.value.__traceback__) == ["sweep"]


def test_an_unknown_run_setting_is_refused_by_name():
    with pytest.raises(TypeError, match=r"unexpected keyword argument.*: sprad"):
        qm.sweep(SAMPLE, "sma_crossover", GRID, sprad=0.001)


def test_the_old_argument_order_is_refused_with_the_right_one():
    with pytest.raises(TypeError, match=r"sweep takes \(data, strategy, grid\)"):
        qm.sweep("sma_crossover", SAMPLE, GRID)

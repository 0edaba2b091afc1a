"""The sweep heatmap's shaping: cells, missing cells, extra params folded, best, top trials."""

from __future__ import annotations

from qm_jupyter.notebook.heatmap_data import describe_trial, heatmap_data, top_trials

GRID = {"fast": [5, 10], "slow": [20, 40, 60], "stop": [0.01, 0.02]}


def trial(fast, slow, stop, sharpe, status="completed", ret=0.1):
    metrics = {"sharpe_ratio": sharpe, "total_return": ret, "max_drawdown": -0.05,
               "win_rate": 0.5, "total_trades": 12}  # fmt: skip
    return {
        "backtest_id": f"b{fast}-{slow}-{stop}",
        "params": {"fast": fast, "slow": slow, "stop": stop},
        "status": status,
        "metrics": metrics if status == "completed" else None,
        "objective": sharpe if status == "completed" else None,
    }


def shape(entries, metric="sharpe_ratio", direction="maximize", best=None, x="fast", y="slow"):
    return heatmap_data(
        entries, GRID, x, y, metric, objective="sharpe_ratio", direction=direction, best=best
    )


def test_extra_params_are_folded_by_max_and_the_cell_reads_the_winning_trial():
    entries = [trial(5, 20, 0.01, 1.0), trial(5, 20, 0.02, 2.0), trial(10, 40, 0.01, -1.0)]
    data = shape(entries)
    assert data.x_values == [5, 10] and data.y_values == [20, 40, 60]
    assert data.z == [[2.0, None], [None, -1.0], [None, None]]
    assert data.ids[0][0] == "b5-20-0.02"
    assert "stop=0.02" in data.hover[0][0] and "Sharpe 2.00" in data.hover[0][0]
    assert data.aggregated == ["stop"] and data.note() == "sharpe_ratio: max over stop"


def test_an_objective_to_minimize_is_folded_by_min():
    entries = [trial(5, 20, 0.01, 1.0), trial(5, 20, 0.02, 2.0)]
    data = shape(entries, direction="minimize")
    assert data.z[0][0] == 1.0 and data.aggregation == "min"
    other = shape(entries, metric="total_return", direction="minimize")
    assert other.aggregation == "max"  # another metric than the objective: max, as said


def test_missing_cells_say_why_they_are_empty():
    entries = [trial(5, 20, 0.01, None, status="skipped"), trial(10, 20, 0.01, None, "failed")]
    data = shape(entries)
    assert data.z[0] == [None, None]
    assert data.hover[0][0].endswith("skipped") and data.hover[0][1].endswith("failed")
    assert data.hover[2][1] == "not run yet"
    # a completed trial of the same cell fills it, whatever order they ended in
    data = shape([*entries, trial(5, 20, 0.02, 0.5)])
    assert data.z[0][0] == 0.5 and "Sharpe 0.50" in data.hover[0][0]


def test_cells_fill_in_live_as_trials_arrive():
    entries = [trial(5, 20, 0.01, 1.0), trial(10, 60, 0.01, 3.0), trial(10, 60, 0.02, 4.0)]
    filled = [sum(v is not None for row in shape(entries[:n]).z for v in row) for n in range(4)]
    assert filled == [0, 1, 2, 2]
    best = {"params": {"fast": 10, "slow": 60, "stop": 0.02}, "objective": 4.0}
    assert shape(entries, best=best).best == (2, 1)
    assert shape(entries).best is None


def test_a_single_param_is_one_row_and_values_match_across_int_and_float():
    grid = {"fast": [5.0, 10.0]}
    entries = [{"backtest_id": "a", "params": {"fast": 5}, "status": "completed",
                "metrics": {"sharpe_ratio": 1.5}, "objective": 1.5}]  # fmt: skip
    data = heatmap_data(
        entries, grid, "fast", None, "sharpe_ratio", objective="sharpe_ratio", direction="maximize"
    )
    assert data.y_values == [""] and data.z == [[1.5, None]] and data.aggregated == []


def test_top_trials_are_the_completed_ones_best_first():
    entries = [trial(5, 20, 0.01, 1.0), trial(5, 40, 0.01, 3.0), trial(10, 20, 0.01, 2.0)]
    entries.append(trial(10, 40, 0.01, None, status="failed"))
    assert [e["objective"] for e in top_trials(entries, "maximize")] == [3.0, 2.0, 1.0]
    assert [e["objective"] for e in top_trials(entries, "minimize", count=2)] == [1.0, 2.0]
    assert describe_trial(entries[1]).startswith("fast=5, slow=40, stop=0.01 · Sharpe 3.00")

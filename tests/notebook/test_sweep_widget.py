"""SweepWidget: live progress and heatmap from a sweep's events, the end, clicks, text."""

from __future__ import annotations

import base64

from qm_jupyter.events import SWEEP_COMPLETE, SWEEP_PROGRESS, SWEEP_TRIAL
from qm_jupyter.notebook.sweep import SweepState
from qm_jupyter.notebook.sweep_widget import SweepWidget

DESCRIPTION = {
    "strategy": "sma_crossover",
    "grid": {"fast": [5, 10], "slow": [20, 40], "stop": [1, 2]},
    "objective": {"metric": "sharpe_ratio", "direction": "maximize"},
    "total_trials": 8,
}


def entry(fast: int, slow: int, stop: int, sharpe: float) -> dict:
    metrics = {"sharpe_ratio": sharpe, "total_return": sharpe / 10, "max_drawdown": -0.1,
               "win_rate": 0.5, "total_trades": 3}  # fmt: skip
    return {
        "backtest_id": f"b{fast}{slow}{stop}",
        "params": {"fast": fast, "slow": slow, "stop": stop},
        "status": "completed",
        "metrics": metrics,
        "objective": sharpe,
    }


def progressed(state: SweepState, *entries: dict, end: bool = False) -> None:
    for data in entries:
        state.apply(SWEEP_TRIAL, data)
    best = max(state.entries, key=lambda e: e["objective"])
    counts = {"total": 8, "completed": len(state.entries), "failed": 0, "skipped": 0}
    state.apply(SWEEP_COMPLETE if end else SWEEP_PROGRESS, {"counts": counts, "best": best})


def test_the_display_fills_in_live_and_shows_the_best_at_the_end():
    state = SweepState("s1", DESCRIPTION)
    widget = SweepWidget(state, where="in the kernel")
    assert [list(row) for row in widget.heatmap.data[0].z] == [[None, None], [None, None]]
    assert [r.layout.display for r in widget.rows] == ["none"] * len(widget.rows)
    progressed(state, entry(5, 20, 1, 0.5), entry(10, 40, 2, 1.5))
    widget.render(state)
    assert widget.progress_bar.value == 2 and widget.progress_bar.max == 8
    assert [list(row) for row in widget.heatmap.data[0].z] == [[0.5, None], [None, 1.5]]
    assert widget.heatmap.data[1].x == ("10",) and widget.heatmap.data[1].y == ("40",)
    assert "max over stop" in widget.heatmap.layout.title.text
    assert "Best so far" in widget.best.value and widget.static_heatmap.value == ""
    assert widget.rows[0].description.startswith(" 1. fast=10, slow=40, stop=2")
    progressed(state, entry(5, 20, 2, 2.5), end=True)
    widget.render(state)
    assert widget.progress_bar.bar_style == "success"
    assert widget.heatmap.data[0].z[0][0] == 2.5  # stop=2 beats stop=1 in that cell
    assert "<b>Best</b>" in widget.best.value and "fast=5, slow=20, stop=2" in widget.best.value
    png = widget.static_heatmap.value.split("base64,")[1].split('"')[0]
    assert base64.b64decode(png).startswith(b"\x89PNG")
    assert "best: fast=5, slow=20, stop=2 · Sharpe 2.50" in widget.text()
    assert widget._repr_mimebundle_()["text/plain"] == widget.text()


def test_choosers_change_the_axes_and_the_metric():
    state = SweepState("s1", DESCRIPTION)
    progressed(state, entry(5, 20, 1, 0.5), entry(5, 40, 2, 1.5))
    widget = SweepWidget(state, where="in the kernel")
    assert widget.x_axis in widget.controls.children  # three params: axes can be chosen
    widget.y_axis.value = "stop"
    assert widget.heatmap.layout.yaxis.title.text == "stop"
    assert "max over slow" in widget.heatmap.layout.title.text
    widget.metric.value = "total_return"
    assert widget.heatmap.data[0].z[0][0] == 0.05


def test_two_params_have_no_axis_choosers():
    description = {**DESCRIPTION, "grid": {"fast": [5, 10], "slow": [20, 40]}}
    widget = SweepWidget(SweepState("s1", description), where="in the kernel")
    assert widget.controls.children == (widget.metric,)


def test_clicking_a_cell_or_a_row_shows_that_trials_run():
    state = SweepState("s1", DESCRIPTION)
    progressed(state, entry(5, 20, 1, 0.5), entry(10, 40, 2, 1.5))
    widget = SweepWidget(state, where="in the kernel")
    opened = []
    widget.open_trial = opened.append
    widget.rows[1].click()
    assert opened == ["b5201"]
    heatmap = widget.heatmap.data[0]
    shown = []
    widget.trial_view = lambda backtest_id: shown.append(backtest_id) or widget.best
    # what plotly calls when a cell is clicked in the browser
    points = type("Points", (), {"xs": ["10"], "ys": ["40"]})()
    for callback in heatmap._click_callbacks:
        callback(heatmap, points, None)
    assert shown == ["b10402"]

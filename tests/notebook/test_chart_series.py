"""The run chart's series: live from progress points, the equity_curve fallback, run_chart."""

from __future__ import annotations

import pytest
from nb_helpers import make_events

from qm_jupyter.engine import load_prices, run_backtest
from qm_jupyter.engine.chart_data import run_chart
from qm_jupyter.events import BACKTEST_PROGRESS, BACKTEST_START
from qm_jupyter.notebook.chart_series import (
    curve_series,
    drawdown_of,
    full_series,
    live_series,
    series_for,
    trade_markers,
)
from qm_jupyter.notebook.plots import plot_times
from qm_jupyter.notebook.run_view import MAX_CURVE_POINTS, CurvePoint, RunView


def progress(bars: int, equity: float, price: float | None = 100.0) -> tuple[str, dict]:
    time = f"2020-01-01T{bars // 60:02d}:{bars % 60:02d}:00+00:00" if price else None
    data = {"progress": bars / 10, "bars_processed": bars, "equity": equity}
    return BACKTEST_PROGRESS, {**data, "time": time, "price": price}


def test_live_series_marks_equity_to_market_by_time_with_its_drawdown():
    points = [CurvePoint(10, 100.0, "t1", 5.0), CurvePoint(20, 120.0, "t2", 6.0)]
    points.append(CurvePoint(30, 90.0, "t3", 4.0))
    series = live_series(points)
    assert series.x == ["t1", "t2", "t3"] and series.close == [5.0, 6.0, 4.0]
    assert series.drawdown == pytest.approx([0.0, 0.0, -0.25])
    assert series.ohlc is None and not series.markers and series.source == "live"


def test_live_series_of_a_run_without_times_is_drawn_by_bar_number():
    series = live_series([CurvePoint(10, 100.0), CurvePoint(20, 101.0)])
    assert series.x == [10, 20] and plot_times(series.x) == [10, 20]


def test_live_series_stays_bounded_on_a_long_run():
    view = RunView("r1")
    steps = [progress(i, 10_000.0 + i) for i in range(1, 3 * MAX_CURVE_POINTS)]
    for event in make_events("r1", (BACKTEST_START, {}), *steps):
        view.apply(event)
    series = series_for(view)
    assert series.source == "live" and len(series.x) <= MAX_CURVE_POINTS
    assert series.equity[-1] == 10_000.0 + 3 * MAX_CURVE_POINTS - 1  # the newest point is kept


def test_the_best_source_wins_chart_then_equity_curve_then_progress():
    prices = load_prices({"sample": "gbm", "bars": 1_500, "seed": 4})
    result = run_backtest(prices, "sma_crossover", {"fast": 5, "slow": 20})
    chart = run_chart(prices, result.equity, result.trades, buckets=50)
    curve = [["2020-01-01T00:00:00", 1.0], ["2020-01-02T00:00:00", 2.0]]
    view = RunView("r1")
    for event in make_events("r1", (BACKTEST_START, {}), progress(1, 1.0), progress(2, 2.0)):
        view.apply(event)
    assert series_for(view).source == "live"
    view.metrics = {"equity_curve": curve}
    assert series_for(view).source == "curve"
    view.metrics = {"equity_curve": curve, "chart": chart}
    assert series_for(view).source == "full"


def test_full_series_is_run_charts_buckets_with_every_trade_marked():
    prices = load_prices({"sample": "gbm", "bars": 4_000, "seed": 7})
    result = run_backtest(prices, "sma_crossover", {"fast": 5, "slow": 20})
    series = full_series(run_chart(prices, result.equity, result.trades, buckets=80))
    assert len(series.x) == 80 and series.ohlc is not None
    assert min(series.ohlc[2]) == prices["low"].min()  # the extremes survive the reduction
    assert min(series.drawdown) == result.metrics["max_drawdown"]
    entries = len(series.markers["Long entry"].x) + len(series.markers["Short entry"].x)
    exits = len(series.markers["Exit (profit)"].x) + len(series.markers["Exit (loss)"].x)
    assert entries == exits == len(result.trades) == series.trades_total
    assert "trades marked" in series.note() and "largest" not in series.note()


def test_a_chart_with_fewer_trades_than_the_run_says_so():
    chart = {
        "time": ["2020-01-01T00:00:00", "2020-01-02T00:00:00"],
        **{k: [1.0, 2.0] for k in ("open", "high", "low", "close", "equity")},
        "drawdown": [0.0, 0.0],
        "trades": [],
        "trades_total": 5_000,
    }
    assert "of 5,000" in full_series(chart).note()


def test_trades_are_marked_by_side_and_exits_by_outcome():
    trades = [
        {"entry_time": "a", "exit_time": "b", "entry_price": 10.0, "exit_price": 12.0,
         "size": 3, "pnl": 6.0, "exit_reason": "tp"},
        {"entry_time": "c", "exit_time": "d", "entry_price": 12.0, "exit_price": 13.0,
         "size": -2, "pnl": -2.0, "exit_reason": "sl"},
    ]  # fmt: skip
    markers = trade_markers(trades)
    assert (markers["Long entry"].x, markers["Long entry"].y) == (["a"], [10.0])
    assert (markers["Short entry"].x, markers["Short entry"].y) == (["c"], [12.0])
    assert markers["Exit (profit)"].x == ["b"] and markers["Exit (loss)"].x == ["d"]
    assert "short 2 @ 12 → 13" in markers["Short entry"].text[0]
    assert "P&L -2.00 (sl)" in markers["Exit (loss)"].text[0]


def test_curve_series_has_no_prices_and_the_metrics_drawdown():
    series = curve_series([["t1", 100.0], ["t2", 200.0], ["t3", 50.0]])
    assert series.close == [] and series.drawdown[-1] == -0.75 and not series.empty


def test_drawdown_of_nothing_or_of_zero_equity_is_defined():
    assert drawdown_of([]) == []
    assert drawdown_of([0.0, 0.0]) == [0.0, 0.0]


def test_plot_times_drop_the_offset_and_keep_wall_time():
    assert plot_times(["2020-01-01T09:30:00-05:00", "2020-01-01T10:30:00-05:00"]) == [
        "2020-01-01 09:30:00",
        "2020-01-01 10:30:00",
    ]

"""BacktestWidget: throttled live rendering, the final state, the log filter, the text repr."""

from __future__ import annotations

import base64
import time
from html import escape

from nb_helpers import make_events

from qm_jupyter.engine import load_prices, run_backtest
from qm_jupyter.engine.chart_data import run_chart
from qm_jupyter.events import (
    BACKTEST_CANCELLED,
    BACKTEST_COMPLETE,
    BACKTEST_ERROR,
    BACKTEST_PROGRESS,
    BACKTEST_START,
    LOG_ENTRY,
)
from qm_jupyter.notebook.plots import CANDLES, CLOSE, DRAWDOWN, EQUITY, FIRST_MARKERS
from qm_jupyter.notebook.run_view import RunView
from qm_jupyter.notebook.widget import MAX_SHOWN_LINES, BacktestWidget

START = (BACKTEST_START, {"strategy": "buy_and_hold", "params": {}, "total_bars": 100})
PROGRESS = (
    BACKTEST_PROGRESS,
    {
        "progress": 100.0,
        "bars_processed": 100,
        "total_bars": 100,
        "trades_count": 1,
        "pnl": 12.5,
        "equity": 10_012.5,
    },
)
METRICS = {
    "final_balance": 10_012.5,
    "total_return": 0.00125,
    "total_trades": 1,
    "win_rate": 1.0,
    "sharpe_ratio": 0.5,
    "max_drawdown": -0.01,
    "bars": 100,
    "duration": 0.01,
}


def log(level: str, message: str) -> tuple[str, dict]:
    return (
        LOG_ENTRY,
        {
            "level": level,
            "message": message,
            "module": "qm_jupyter.backtest.x",
            "timestamp": "2026-01-01T00:00:01.000Z",
        },
    )


def test_the_final_state_is_rendered_by_finish_even_between_refreshes():
    prices = load_prices({"sample": "gbm", "bars": 3_000, "seed": 2})
    result = run_backtest(prices, "sma_crossover")
    chart = run_chart(prices, result.equity, result.trades, buckets=200)
    widget = BacktestWidget(RunView("r1"), refresh_interval=3600)
    for event in make_events(
        "r1",
        START,
        log("INFO", "started"),
        PROGRESS,
        (BACKTEST_COMPLETE, {**METRICS, "chart": chart}),
    ):
        widget.push(event)
    assert widget.progress_bar.value == 0.0  # nothing rendered yet: the refresh is throttled
    widget.finish()
    assert widget.progress_bar.value == 100.0 and widget.progress_bar.bar_style == "success"
    assert "100.0% · 100/100 bars · 1 trades · P&amp;L +12.50" in widget.stats.value
    assert 'data-metric="Sharpe">0.50<' in widget.outcome.value
    assert 'data-metric="Max drawdown">-1.00%<' in widget.outcome.value
    assert "completed" in widget.header.value
    chart = widget.chart
    assert chart in widget.children
    assert len(chart.data[CANDLES].x) == 200 and chart.data[CANDLES].visible
    assert min(chart.data[DRAWDOWN].y) == result.metrics["max_drawdown"]
    entries = sum(len(chart.data[FIRST_MARKERS + k].x) for k in (0, 1))
    assert entries == len(result.trades)
    png = widget.static_chart.value.split("base64,")[1].split('"')[0]
    assert base64.b64decode(png).startswith(b"\x89PNG")
    assert "qm-static-chart" in widget.static_chart.value and ":has(.js-plotly-plot)" in (
        widget.static_chart.value
    )


def test_live_updates_are_rendered_a_few_times_a_second():
    widget = BacktestWidget(RunView("r1"), refresh_interval=0.05)
    renders = []
    widget.progress_bar.observe(lambda change: renders.append(change["new"]), names="value")
    events = make_events(
        "r1",
        START,
        *[
            (BACKTEST_PROGRESS, {"progress": p / 10, "bars_processed": p, "total_bars": 1000})
            for p in range(1, 1001)
        ],
    )
    for event in events:
        widget.push(event)
    time.sleep(0.3)
    assert renders and renders[-1] == 100.0
    assert len(renders) < 20  # 1000 events, a handful of renders
    widget.finish()


def test_the_log_is_bounded_coloured_filtered_and_says_what_it_hides():
    widget = BacktestWidget(RunView("r1"), refresh_interval=3600)
    lines = [log("DEBUG" if i % 2 else "INFO", f"line {i}") for i in range(MAX_SHOWN_LINES * 2)]
    for event in make_events("r1", START, *lines, log("ERROR", "<bad> & worse")):
        widget.push(event)
    widget.finish()
    html = widget.log_panel.value
    assert "1 earlier line hidden" in html  # 201 lines at INFO and above, 200 shown
    assert "&lt;bad&gt; &amp; worse" in html and "#c62828" in html
    assert "line 1<" not in html  # DEBUG is filtered out at INFO
    widget.level_filter.value = "ERROR"
    assert widget.log_panel.value.count("qm_jupyter.backtest.x") == 1
    assert "hidden" not in widget.log_panel.value
    widget.level_filter.value = "DEBUG"
    shown = widget.log_panel.value.count("qm_jupyter.backtest.x")
    assert shown == MAX_SHOWN_LINES
    assert f"{MAX_SHOWN_LINES + 1:,} earlier lines hidden" in widget.log_panel.value


def test_an_error_shows_message_and_traceback():
    widget = BacktestWidget(RunView("r1"), refresh_interval=3600)
    error = {
        "error": "division by zero",
        "error_type": "ZeroDivisionError",
        "traceback": "Traceback (most recent call last):\n  ...\nZeroDivisionError",
    }
    for event in make_events("r1", START, (BACKTEST_ERROR, error)):
        widget.push(event)
    widget.finish()
    assert widget.progress_bar.bar_style == "danger"
    assert "<b>ZeroDivisionError</b>: division by zero" in widget.outcome.value
    assert "Traceback (most recent call last)" in widget.outcome.value


def test_a_cancelled_run_says_where_it_stopped():
    widget = BacktestWidget(RunView("r1"), refresh_interval=3600)
    for event in make_events("r1", START, (BACKTEST_CANCELLED, {"bars_processed": 40})):
        widget.push(event)
    widget.finish()
    assert "cancelled at bar 40 of 100" in widget.outcome.value
    assert widget.progress_bar.bar_style == "warning"


def test_the_text_repr_is_the_whole_summary():
    widget = BacktestWidget(RunView("r1"), refresh_interval=3600)
    for event in make_events("r1", START, PROGRESS, (BACKTEST_COMPLETE, METRICS)):
        widget.push(event)
    widget.finish()
    bundle = widget._repr_mimebundle_()
    assert bundle["text/plain"] == repr(widget) == widget.view.summary()
    assert len(bundle["text/plain"]) > 110  # not cut like ipywidgets' default repr
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_the_chart_fills_in_live_from_progress_points_marked_to_market():
    widget = BacktestWidget(RunView("r1"), refresh_interval=0.02)
    assert widget.chart not in widget.children  # nothing to draw yet
    points = [
        (BACKTEST_PROGRESS, {**PROGRESS[1], "progress": p, "bars_processed": p, "equity": e,
                             "time": f"2020-01-0{p // 10}T00:00:00+00:00", "price": 100.0 + p})
        for p, e in ((10, 10_000.0), (20, 10_400.0), (30, 10_100.0))
    ]  # fmt: skip
    for event in make_events("r1", START, *points):
        widget.push(event)
    deadline = time.monotonic() + 5
    drawn = False  # the refresh thread fills the chart, then shows it
    while not drawn and time.monotonic() < deadline:
        time.sleep(0.02)
        drawn = len(widget.chart.data[EQUITY].y or ()) == 3 and widget.chart in widget.children
    chart = widget.chart
    assert chart in widget.children
    assert list(chart.data[EQUITY].y) == [10_000.0, 10_400.0, 10_100.0]
    assert list(chart.data[CLOSE].y) == [110.0, 120.0, 130.0] and not chart.data[CANDLES].visible
    assert chart.data[CLOSE].x[0] == "2020-01-01 00:00:00"  # wall time, no offset
    assert chart.data[DRAWDOWN].y[-1] == 10_100.0 / 10_400.0 - 1
    assert "live" in chart.layout.annotations[0].text
    assert widget.static_chart.value == ""  # the static image is the final chart's
    widget.finish()


def test_the_chart_of_a_completed_run_is_its_equity_curve_not_the_progress_points():
    """A run whose end carried no chart (a server run before backtest_complete.chart) is
    drawn from its equity_curve: the drawdown shown is the metrics' one."""
    curve = [["2020-01-01T00:00:00", 10_000.0], ["2020-01-02T00:00:00", 12_000.0]]
    curve += [["2020-01-03T00:00:00", 3_000.0], ["2020-01-04T00:00:00", 10_012.5]]
    metrics = {**METRICS, "max_drawdown": -0.75, "equity_curve": curve}
    progress = [
        (BACKTEST_PROGRESS, {**PROGRESS[1], "progress": p, "bars_processed": p, "equity": e})
        for p, e in ((50, 10_000.0), (100, 10_012.5))
    ]
    widget = BacktestWidget(RunView("r1"), refresh_interval=3600)
    for event in make_events("r1", START, *progress, (BACKTEST_COMPLETE, metrics)):
        widget.push(event)
    widget.finish()
    chart = widget.chart
    assert 'data-metric="Max drawdown">-75.00%<' in widget.outcome.value
    assert min(chart.data[DRAWDOWN].y) == -0.75
    assert chart.data[EQUITY].x[0] == "2020-01-01 00:00:00"
    assert "equity curve" in chart.layout.annotations[0].text
    assert "image/png" in widget.static_chart.value


def test_a_chart_sent_with_backtest_complete_is_drawn_as_candles_with_trades():
    prices = load_prices({"sample": "gbm", "bars": 2_000, "seed": 5})
    result = run_backtest(prices, "sma_crossover", {"fast": 5, "slow": 20})
    sent = run_chart(prices, result.equity, result.trades, buckets=100, max_trades=10)
    widget = BacktestWidget(RunView("r1"), refresh_interval=3600)
    for event in make_events("r1", START, (BACKTEST_COMPLETE, {**METRICS, "chart": sent})):
        widget.push(event)
    widget.finish()
    chart = widget.chart
    assert len(chart.data[CANDLES].x) == 100
    assert sum(len(chart.data[FIRST_MARKERS + k].x) for k in range(4)) == 2 * 10
    assert f"of {len(result.trades):,}" in chart.layout.annotations[0].text


def test_a_failed_run_has_no_static_chart():
    widget = BacktestWidget(RunView("r1"), refresh_interval=3600)
    error = {"error": "boom", "error_type": "ValueError"}
    for event in make_events("r1", START, PROGRESS, PROGRESS, (BACKTEST_ERROR, error)):
        widget.push(event)
    widget.finish()
    assert widget.static_chart.value == ""


def test_the_stats_show_in_a_compact_table_under_the_headline_metrics():
    stats = {"start": "2020-01-01T00:00:00+00:00", "sharpe_ratio": 1.23456, "trades": 1200,
             "profit_factor": None, "avg_trade_duration": 90061.0, "return_pct": 12.5}  # fmt: skip
    widget = BacktestWidget(RunView("r1"), refresh_interval=3600)
    for event in make_events(
        "r1", START, PROGRESS, (BACKTEST_COMPLETE, {**METRICS, "stats": stats})
    ):
        widget.push(event)
    widget.finish()
    html = widget.outcome.value
    assert html.index('data-metric="Sharpe"') < html.index('class="qm-run-stats"')
    for label, text in [
        ("Start", "2020-01-01 00:00:00+00:00"),
        ("Sharpe Ratio", "1.235"),
        ("# Trades", "1,200"),
        ("Profit Factor", "n/a"),
        ("Avg. Trade Duration", "1 day, 1:01:01"),
        ("Return [%]", "12.50"),
    ]:
        assert f'data-stat="{escape(label)}">{text}<' in html, label
    assert html.split('class="qm-run-stats"')[1].count("<tr>") == 2  # three statistics a row
    plain = BacktestWidget(RunView("r2"), refresh_interval=3600)
    for event in make_events("r2", START, (BACKTEST_COMPLETE, METRICS)):
        plain.push(event)
    plain.finish()
    assert "qm-run-stats" not in plain.outcome.value  # a run that sent no stats

"""RunView: events folded into what a display shows, bounded, with a plain-text summary."""

from __future__ import annotations

import time

import pandas as pd
from nb_helpers import make_events

from qm_jupyter.events import (
    BACKTEST_CANCELLED,
    BACKTEST_COMPLETE,
    BACKTEST_ERROR,
    BACKTEST_PROGRESS,
    BACKTEST_START,
    LOG_ENTRY,
)
from qm_jupyter.notebook.run_view import (
    HOLD_SECONDS,
    MAX_CURVE_POINTS,
    MAX_LOG_LINES,
    CurvePoint,
    RunView,
    describe_data,
    format_metrics,
    format_stats,
)

START = (
    BACKTEST_START,
    {
        "strategy": "sma_crossover",
        "params": {"fast": 10, "slow": 30},
        "data": {"sample": "gbm", "bars": 1000, "seed": 0, "freq": "1min"},
        "total_bars": 1000,
    },
)
METRICS = {
    "final_balance": 10_500.0,
    "total_return": 0.05,
    "total_trades": 7,
    "win_rate": 0.5,
    "sharpe_ratio": 1.234,
    "max_drawdown": -0.031,
    "bars": 1000,
    "duration": 0.1,
}


def progress(bars: int, equity: float = 10_000.0) -> tuple[str, dict]:
    return (
        BACKTEST_PROGRESS,
        {
            "progress": bars / 10,
            "bars_processed": bars,
            "total_bars": 1000,
            "trades_count": bars // 100,
            "pnl": equity - 10_000,
            "equity": equity,
        },
    )


def test_a_completed_run_reads_well_as_text():
    view = RunView("r1")
    for event in make_events(
        "r1", START, progress(500, 10_250.0), progress(1000, 10_500.0), (BACKTEST_COMPLETE, METRICS)
    ):
        view.apply(event)
    assert view.status == "completed" and view.finished and view.last_seq == 4
    assert view.summary() == (
        "Backtest r1: sma_crossover(fast=10, slow=30) on sample gbm (1,000 bars) [completed]\n"
        "  100.0% · 1,000/1,000 bars · 7 trades · P&L +500.00\n"
        "  Final balance 10,500.00 · Total return +5.00% · Trades 7 · Win rate 50.0% · "
        "Sharpe 1.23 · Max drawdown -3.10%"
    )
    assert [(point.bars, point.equity) for point in view.curve] == [
        (500, 10_250.0),
        (1000, 10_500.0),
    ]


def test_eta_shows_once_it_means_something_at_the_pace_since_the_first_progress():
    view = RunView("r1")
    shown = []
    # one event a second: the start, then 0.1% (after loading), 0.5%, 0.8%, 2%, 4%
    for event in make_events("r1", START, *[progress(bars) for bars in (1, 5, 8, 20, 40)]):
        view.apply(event)
        shown.append(view.eta_seconds())
    assert shown[:3] == [None, None, None]  # under 2 s of pace measured
    assert shown[3] is None  # 2 s, but under 1% done
    assert shown[4] == 3.0 * (100 - 2.0) / (2.0 - 0.1)
    assert view.progress_line().endswith("ETA 98s")  # 3.9% in 4 s since 0.1%, 96% left


def test_a_log_line_shows_with_the_progress_point_that_counts_it():
    view = RunView("r1")
    trade = (LOG_ENTRY, {"level": "INFO", "message": "Trade 1: ...", "module": "engine"})
    loading = (LOG_ENTRY, {"level": "INFO", "message": "loading", "module": "engine"})
    events = make_events("r1", START, loading, progress(10), trade, progress(100))
    for event in events[:4]:
        view.apply(event)
    assert [line.message for line in view.logs] == ["loading"]  # before any progress: at once
    assert view.progress["trades_count"] == 0 and view.log_counts["INFO"] == 1
    view.apply(events[4])
    assert view.progress["trades_count"] == 1 and view.logs[-1].message == "Trade 1: ..."
    assert view.log_counts["INFO"] == 2 and not view.held


def test_held_lines_show_once_overdue_or_at_the_end():
    view = RunView("r1")
    line = (LOG_ENTRY, {"level": "WARNING", "message": "slow", "module": "strategy"})
    events = make_events("r1", START, progress(10), line, line, (BACKTEST_COMPLETE, METRICS))
    for event in events[:3]:
        view.apply(event)
    assert not view.release_held(time.monotonic() - HOLD_SECONDS) and not view.logs
    assert view.release_held(time.monotonic()) and view.logs[-1].message == "slow"
    view.apply(events[3])
    assert len(view.logs) == 1 and len(view.held) == 1
    view.apply(events[4])
    assert [line.message for line in view.logs] == ["slow", "slow"] and not view.held
    assert view.log_counts["WARNING"] == 2


def test_replayed_and_late_events_are_ignored():
    view = RunView("r1")
    events = make_events(
        "r1",
        START,
        progress(100),
        (BACKTEST_CANCELLED, {"bars_processed": 100}),
        (LOG_ENTRY, {"level": "INFO", "message": "late", "module": "m"}),
    )
    for event in [events[0], events[1], events[0], events[1], events[2], events[3]]:
        view.apply(event)
    assert view.status == "cancelled" and view.last_seq == 3 and not view.logs
    assert view.outcome_line() == "cancelled at bar 100 of 1,000"


def test_an_error_shows_its_type_and_message():
    view = RunView("r1")
    for event in make_events(
        "r1",
        START,
        (BACKTEST_ERROR, {"error": "boom", "error_type": "KeyError", "traceback": "Traceback..."}),
    ):
        view.apply(event)
    assert view.status == "failed"
    assert view.summary().endswith("error: KeyError: boom")


def test_the_log_keeps_the_newest_lines_and_counts_all():
    view = RunView("r1")
    lines = [
        (
            LOG_ENTRY,
            {
                "level": "WARNING" if i % 10 == 0 else "INFO",
                "message": f"line {i}",
                "module": "qm",
                "timestamp": "2026-01-01T10:11:12.345Z",
            },
        )
        for i in range(MAX_LOG_LINES + 300)
    ]
    for event in make_events("r1", *lines):
        view.apply(event)
    assert len(view.logs) == MAX_LOG_LINES
    assert view.logs[-1].message == f"line {MAX_LOG_LINES + 299}"
    assert view.logs[-1].time == "10:11:12.345"
    assert sum(view.log_counts.values()) == MAX_LOG_LINES + 300
    assert view.log_counts["WARNING"] == (MAX_LOG_LINES + 300) // 10


def test_the_curve_is_thinned_but_keeps_its_last_point():
    view = RunView("r1")
    for event in make_events(
        "r1", *[progress(i, 10_000.0 + i) for i in range(1, 2 * MAX_CURVE_POINTS)]
    ):
        view.apply(event)
    assert len(view.curve) <= MAX_CURVE_POINTS
    last = view.curve[-1]
    assert (last.bars, last.equity) == (
        2 * MAX_CURVE_POINTS - 1,
        10_000.0 + 2 * MAX_CURVE_POINTS - 1,
    )


def test_float_params_read_rounded_in_the_title():
    view = RunView("r1")
    params = {"threshold": 0.1 + 0.2, "window": 20, "scale": 1234567.891}
    view.apply(make_events("r1", (BACKTEST_START, {"strategy": "s", "params": params}))[0])
    assert view.title() == "s(threshold=0.3, window=20, scale=1.23457e+06)"


def test_undefined_metrics_read_na_and_data_sources_have_short_names():
    assert dict(format_metrics({**METRICS, "sharpe_ratio": None}))["Sharpe"] == "n/a"
    assert describe_data({"path": "data/prices.csv"}) == "data/prices.csv"
    assert describe_data({"dataframe": {"rows": 1200}}) == "a DataFrame (1,200 rows)"
    assert describe_data(None) == ""


def test_a_result_from_the_stream_uses_the_runs_equity_curve():
    from qm_jupyter.notebook.run import result_from_view

    curve = [["2020-01-01T00:00:00+00:00", 10_000.0], ["2020-01-02T00:00:00+00:00", 10_500.0]]
    view = RunView("r-curve")
    for event in make_events(
        "r-curve", START, (BACKTEST_COMPLETE, {**METRICS, "equity_curve": curve})
    ):
        view.apply(event)
    result = result_from_view(view)
    assert "equity_curve" not in result.metrics
    assert result.metrics["final_balance"] == 10_500.0
    assert result.equity.tolist() == [10_000.0, 10_500.0]
    assert str(result.equity.index[1]) == "2020-01-02 00:00:00+00:00"


def test_progress_and_log_agree_after_every_event_of_a_folded_kernel_run(kernel_alone):
    """A real run in the kernel, its progress folded to 20 a second: after every event, the
    newest trade line a display shows is the trade count its progress line shows (before
    the first progress point, the progress line shows no count)."""
    import qm_jupyter as qm

    run = qm.run_backtest(
        data={"sample": "gbm", "bars": 300_000, "seed": 2},
        strategy="sma_crossover",
        params={"fast": 5, "slow": 20},
        log_trades=True,
        display=False,
    )
    moments = []

    def start(view: RunView):
        def listener(event) -> None:
            view.apply(event)
            trades = [line.message for line in view.logs if line.message.startswith("Trade ")]
            if trades and view.progress:
                shown = int(trades[-1].split(":")[0].removeprefix("Trade "))
                counted = view.progress_line().split(" · ")[2]
                moments.append((f"{shown:,} trades", counted))

        return listener

    kernel_alone.stream.follow(run.backtest_id, start)
    result = run.result(timeout=60)
    total = result.metrics["total_trades"]
    assert len(moments) > 1_000 and moments[-1] == (f"{total:,} trades",) * 2
    assert [(s, c) for s, c in moments if s != c] == []


def test_a_result_from_the_stream_carries_the_stats_it_sent():
    """A run the kernel cannot replay: result.stats is the wire's stats under the engine's
    names and types; the widget's table formats them."""
    from qm_jupyter.engine import run_backtest
    from qm_jupyter.engine.stats import stats_to_wire
    from qm_jupyter.notebook.run import result_from_view

    local = run_backtest({"sample": "gbm", "bars": 500, "seed": 1}, "sma_crossover")
    wire = stats_to_wire(local.stats)
    view = RunView("r-stats")
    for event in make_events("r-stats", START, (BACKTEST_COMPLETE, {**METRICS, "stats": wire})):
        view.apply(event)
    result = result_from_view(view)
    assert "stats" not in result.metrics
    assert result.stats.index.tolist() == local.stats.index.tolist()
    assert result.stats["# Trades"] == local.stats["# Trades"]
    assert result.stats["Start"] == local.stats["Start"]
    assert result.stats["Max. Trade Duration"] == local.stats["Max. Trade Duration"]
    assert pd.isna(result.stats["Short Win Rate [%]"])
    shown = dict(format_stats(wire))
    assert shown["Short Win Rate [%]"] == "n/a" and shown["# Trades"] == f"{wire['trades']:,}"
    assert shown["Start"] == "2020-01-01 00:00:00+00:00"
    assert shown["Max. Trade Duration"] == "0:47:00"
    assert shown["Return [%]"] == f"{wire['return_pct']:,.2f}"


def test_progress_points_keep_the_time_and_close_they_were_marked_to():
    point = (
        BACKTEST_PROGRESS,
        {**progress(500)[1], "time": "2020-01-02T00:00:00+00:00", "price": 101.5},
    )
    view = RunView("r1")
    for event in make_events("r1", START, point, progress(1000)):
        view.apply(event)
    assert view.curve == [
        CurvePoint(500, 10_000.0, "2020-01-02T00:00:00+00:00", 101.5),
        CurvePoint(1000, 10_000.0, None, None),  # a run that sends no time or price
    ]

"""The seed's logging API: handler, streamer and setup_backtest_logging."""

from __future__ import annotations

import asyncio
import logging

import pytest

from qm_jupyter import sinks
from qm_jupyter.events import (
    BACKTEST_CANCELLED,
    BACKTEST_COMPLETE,
    BACKTEST_ERROR,
    BACKTEST_PROGRESS,
    BACKTEST_START,
    LOG_ENTRY,
)
from qm_jupyter.sinks import BatchingSink, MemorySink
from qm_jupyter.ws_logger import (
    BacktestProgressStreamer,
    WebSocketLogHandler,
    setup_backtest_logging,
    teardown_backtest_logging,
)


class ExplodingSink:
    def emit(self, backtest_id, draft):
        raise RuntimeError("the stream is down")


def types(sink: MemorySink, backtest_id: str) -> list[str]:
    return [draft.type for draft in sink.events[backtest_id]]


def test_logger_lines_become_log_entries_of_the_run():
    sink = MemorySink()
    logger, _ = setup_backtest_logging("run-1", sink)
    logger.info("Backtest started with %d bars", 500)
    logger.getChild("strategy").warning("fast SMA undefined for %s bars", 9)
    logger.debug("below the level: not sent")

    entries = [draft.data for draft in sink.events["run-1"]]
    assert [e["message"] for e in entries] == [
        "Backtest started with 500 bars",
        "fast SMA undefined for 9 bars",
    ]
    assert [e["level"] for e in entries] == ["INFO", "WARNING"]
    # short sources: the module that logged, a child logger's own name
    assert entries[0]["module"] == "test_ws_logger"
    assert entries[1]["module"] == "strategy"
    assert entries[0]["timestamp"].endswith("Z")
    assert all(draft.type == LOG_ENTRY for draft in sink.events["run-1"])
    teardown_backtest_logging(logger)


def test_ended_runs_leave_no_logger_behind():
    """10,000 runs set up, logging through a child and torn down: the process-wide logger
    registry does not grow, nor does memory (a long-lived server or kernel stays flat)."""
    import gc
    import logging
    import tracemalloc

    sink = MemorySink()

    def one_run(number: int) -> None:
        backtest_id = f"released-{number}"
        logger, streamer = setup_backtest_logging(backtest_id, sink)
        logger.getChild("strategy").info("a line")
        streamer.on_complete({"final_balance": 1.0})
        teardown_backtest_logging(logger)
        del sink.events[backtest_id]

    for number in range(200):  # warm up caches before measuring
        one_run(number)
    gc.collect()
    registered = len(logging.Logger.manager.loggerDict)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for number in range(10_000):
        one_run(number)
    gc.collect()
    grown = sum(
        stat.size_diff for stat in tracemalloc.take_snapshot().compare_to(before, "filename")
    )
    tracemalloc.stop()
    assert len(logging.Logger.manager.loggerDict) == registered
    assert grown < 200_000, f"memory grew by {grown} bytes over 10,000 runs"


def test_exception_text_is_part_of_the_message():
    sink = MemorySink()
    logger, _ = setup_backtest_logging("run-exc", sink)
    try:
        raise ZeroDivisionError("division by zero in signal")
    except ZeroDivisionError:
        logger.exception("strategy failed")
    message = sink.events["run-exc"][0].data["message"]
    assert message.startswith("strategy failed\nTraceback")
    assert "ZeroDivisionError: division by zero in signal" in message


def test_setting_up_twice_does_not_duplicate_lines():
    sink = MemorySink()
    setup_backtest_logging("run-twice", sink)
    logger, _ = setup_backtest_logging("run-twice", sink)
    logger.info("once")
    assert len(sink.events["run-twice"]) == 1
    teardown_backtest_logging(logger)
    logger.info("after teardown: not sent")
    assert len(sink.events["run-twice"]) == 1


def test_logger_does_not_propagate_to_root(caplog):
    logger, _ = setup_backtest_logging("run-quiet", MemorySink())
    with caplog.at_level(logging.INFO):
        logger.info("only on the stream")
    assert "only on the stream" not in caplog.text


def test_handler_never_raises_into_the_code_that_logs():
    handler = WebSocketLogHandler("run-x", ExplodingSink())
    logger = logging.getLogger("qm_jupyter.tests.exploding")
    logger.addHandler(handler)
    logger.propagate = False
    logger.error("still fine")
    logger.removeHandler(handler)
    assert handler.dropped == 1


def test_streamer_never_raises_into_the_run():
    streamer = BacktestProgressStreamer("run-x", ExplodingSink())
    streamer.on_start({"strategy": "sma_crossover"})
    streamer.on_progress(bars_processed=1, total_bars=2, trades_count=0, pnl=0.0, equity=1.0)
    streamer.on_complete({"final_balance": 1.0})


def test_seed_async_usage_reports_the_lifecycle():
    sink = MemorySink()
    _, streamer = setup_backtest_logging("run-seed", sink, max_rate=1e9)

    async def run():
        await streamer.start(strategy="custom", total_bars=100)
        await streamer.update_progress(progress=50.0, status="Processing...", trades_count=10)
        await streamer.complete(final_balance=10_500.0, total_trades=10, sharpe_ratio=float("nan"))

    asyncio.run(run())
    assert types(sink, "run-seed") == [BACKTEST_START, BACKTEST_PROGRESS, BACKTEST_COMPLETE]
    progress = sink.events["run-seed"][1].data
    assert progress["progress"] == 50.0
    assert progress["status"] == "Processing..."
    assert progress["trades_count"] == 10
    assert sink.events["run-seed"][2].data["final_balance"] == 10_500.0


def test_progress_is_folded_in_time_but_100_percent_always_goes_out():
    sink = MemorySink()
    streamer = BacktestProgressStreamer("run-fold", sink, max_rate=1.0)
    for bars in range(100, 10_001, 100):
        streamer.on_progress(
            bars_processed=bars, total_bars=10_000, trades_count=3, pnl=1.5, equity=101.5
        )
    sent = [draft.data for draft in sink.events["run-fold"]]
    assert [d["bars_processed"] for d in sent] == [100, 10_000]
    assert sent[-1]["progress"] == 100.0
    assert sent[-1] == {
        "progress": 100.0,
        "bars_processed": 10_000,
        "total_bars": 10_000,
        "trades_count": 3,
        "pnl": 1.5,
        "equity": 101.5,
        "status": "running",
    }


def test_a_run_ends_exactly_once():
    sink = MemorySink()
    streamer = BacktestProgressStreamer("run-end", sink)
    streamer.on_error(ValueError("data.close has text at row 7"))
    streamer.on_complete({"final_balance": 1.0})
    streamer.on_cancelled(5)
    assert types(sink, "run-end") == [BACKTEST_ERROR]
    error = sink.events["run-end"][0].data
    assert error["error"] == "data.close has text at row 7"
    assert error["error_type"] == "ValueError"
    assert "ValueError" in error["traceback"]


def test_cancel_reports_where_the_run_stopped():
    sink = MemorySink()
    streamer = BacktestProgressStreamer("run-cancel", sink)
    streamer.on_progress(bars_processed=300, total_bars=1000, trades_count=1, pnl=0.0, equity=1.0)
    streamer.on_cancelled()
    assert types(sink, "run-cancel") == [BACKTEST_PROGRESS, BACKTEST_CANCELLED]
    assert sink.events["run-cancel"][-1].data == {"bars_processed": 300}


def test_string_errors_and_async_fail_and_cancel():
    sink = MemorySink()
    first = BacktestProgressStreamer("run-a", sink)
    second = BacktestProgressStreamer("run-b", sink)

    async def run():
        await first.fail("worker lost", error_type="WorkerDied")
        await second.cancel(bars_processed=12)

    asyncio.run(run())
    assert sink.events["run-a"][0].data == {
        "error": "worker lost",
        "error_type": "WorkerDied",
        "traceback": None,
    }
    assert sink.events["run-b"][0].data == {"bars_processed": 12}


class SlowBatchingSink(BatchingSink):
    """A batching sink whose flusher waits an hour after its first batch: only a flush
    hands the later events on."""

    flush_interval = 3600.0

    def __init__(self):
        self.delivered: list[str] = []
        super().__init__()

    def deliver(self, batch):
        self.delivered.extend(draft.type for _, draft in batch)


@pytest.mark.parametrize("end", ["complete", "fail", "cancel"])
def test_awaiting_the_end_of_a_run_hands_it_on_through_a_batching_sink(end):
    sink = SlowBatchingSink()
    logger, streamer = setup_backtest_logging("run-batched", sink)
    ends = {
        "complete": (lambda: streamer.complete(final_balance=1.0), BACKTEST_COMPLETE),
        "fail": (lambda: streamer.fail("no data"), BACKTEST_ERROR),
        "cancel": (lambda: streamer.cancel(3), BACKTEST_CANCELLED),
    }
    finish, final_type = ends[end]

    async def run():
        await streamer.start(strategy="custom")
        logger.info("a line")
        await finish()

    asyncio.run(run())
    assert sink.delivered == [BACKTEST_START, LOG_ENTRY, final_type]
    teardown_backtest_logging(logger)
    sink.close()


def test_default_sink_is_used_when_none_is_given(monkeypatch):
    sink = MemorySink()
    monkeypatch.setattr(sinks, "_default_sink", sink)
    logger, streamer = setup_backtest_logging("run-default")
    logger.info("to the default sink")
    streamer.on_cancelled(0)
    assert types(sink, "run-default") == [LOG_ENTRY, BACKTEST_CANCELLED]
    teardown_backtest_logging(logger)


@pytest.mark.parametrize("progress", [-5.0, 250.0])
def test_progress_is_clamped_to_0_100(progress):
    sink = MemorySink()
    streamer = BacktestProgressStreamer("run-clamp", sink, max_rate=0)
    streamer.report_progress(progress)
    assert 0.0 <= sink.events["run-clamp"][0].data["progress"] <= 100.0

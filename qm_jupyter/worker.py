"""A worker process: one backtest at a time, off the server's event loop.

Started by :class:`~qm_jupyter.runner.BacktestRunner` as
``python -m qm_jupyter.worker JOBS_FD EVENTS_FD`` (a fresh interpreter: nothing of the
server's process, threads or ``__main__`` is inherited). It receives jobs on one pipe
and sends its runs' events back on another, in
batches (:class:`~qm_jupyter.sinks.BatchingSink`), so a run that logs a line per trade
does not cost a pipe write per line.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from .events import EventDraft, encode
from .sinks import BatchingSink, EventSink, set_default_sink
from .strategy_catalog import StrategyCatalog
from .ws_logger import setup_backtest_logging, teardown_backtest_logging

if TYPE_CHECKING:
    from .engine import BacktestResult


class PipeSink(BatchingSink):
    """Sends a worker's events to the server in batches, from a flusher thread."""

    def __init__(self, conn: Connection):
        self._conn = conn
        super().__init__("qm-event-flusher")

    def deliver(self, batch: list[tuple[str, EventDraft]]) -> None:
        # Each event's data goes as JSON (see BacktestRunner._on_message): bytes cost the
        # server far less to unpickle than dicts, and it frames log lines without decoding.
        self._conn.send(
            ("events", [(run, d.type, encode(d.data), d.timestamp) for run, d in batch])
        )

    def send(self, message: tuple) -> None:
        """Send ``message`` after every event emitted before it."""
        self.flush(then=lambda: self._conn.send(message))


def serve(jobs: Connection, events: Connection) -> None:
    """Run jobs until told to stop (``None``); exit at once if the server goes away.

    A reader thread takes the server's messages, so a cancel (``("cancel", id)``)
    arrives while the job runs on the main thread.
    """
    sink = PipeSink(events)
    set_default_sink(sink)
    pending: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
    cancelled: set[str] = set()

    def read_messages() -> None:
        while True:
            try:
                message = jobs.recv()
            except (EOFError, OSError):
                os._exit(1)  # the server is gone: a run nobody can watch must not go on
            if message is None:
                pending.put(None)
                return
            kind, payload = message
            if kind == "cancel":
                cancelled.add(payload)
            else:
                pending.put(payload)

    threading.Thread(target=read_messages, name="qm-job-reader", daemon=True).start()
    catalog: StrategyCatalog | None = None
    while (job := pending.get()) is not None:
        backtest_id = job["backtest_id"]
        catalog = catalog or StrategyCatalog(job["strategies_dir"])
        catalog.refresh()
        run_job(job, sink, functools.partial(cancelled.__contains__, backtest_id))
        cancelled.discard(backtest_id)
        sink.send(("finished", backtest_id))
    with contextlib.suppress(OSError):
        sink.close()


def run_job(
    job: dict[str, Any], sink: EventSink, should_stop: Callable[[], bool]
) -> BacktestResult | None:
    """Run one backtest, reporting everything through the seed's logging API.

    Used by the workers and by notebook kernels alike. Returns the result, or None when
    the run failed or was cancelled (which its terminal event says).
    """
    from .engine import BacktestCancelled, run_backtest
    from .engine.curves import curve_points

    backtest_id = job["backtest_id"]
    logger, streamer = setup_backtest_logging(backtest_id, sink, max_rate=job["max_progress_rate"])
    started = time.monotonic()
    completion = _CurveOnCompletion(streamer)
    try:
        result = run_backtest(
            job["data"],
            job["strategy"],
            job["params"],
            initial_balance=job["initial_balance"],
            commission=job["commission"],
            periods_per_year=job["periods_per_year"],
            progress_every=job["progress_every"],
            observer=completion,
            logger=logger,
            should_stop=should_stop,
            root_dir=job["root_dir"],
        )
        completion.complete(curve_points(result.equity))
        return result
    except BacktestCancelled as cancelled:
        logger.warning("Backtest cancelled after %d bars", cancelled.bars_processed)
        streamer.on_cancelled(cancelled.bars_processed)
    except (Exception, SystemExit, KeyboardInterrupt) as error:
        logger.error("Backtest failed after %.2fs: %s", time.monotonic() - started, error)
        streamer.on_error(error)
    finally:
        teardown_backtest_logging(logger)
    return None


class _CurveOnCompletion:
    """Passes the engine's reports on, holding ``backtest_complete`` back until the run
    has returned, so that the event can carry a chart-sized ``equity_curve``."""

    def __init__(self, streamer):
        self.streamer = streamer
        self.on_start = streamer.on_start
        self.on_progress = streamer.on_progress
        self.metrics: dict[str, Any] | None = None

    def on_complete(self, metrics: dict[str, Any]) -> None:
        self.metrics = metrics

    def complete(self, equity_curve: list[list]) -> None:
        self.streamer.on_complete({**self.metrics, "equity_curve": equity_curve})


def main(argv: list[str]) -> None:
    # The run's log handler reads none of the caller, thread or process fields of a record:
    # skip collecting them (the optimizations the logging HOWTO documents).
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None
    jobs = Connection(int(argv[1]), writable=False)
    events = Connection(int(argv[2]), readable=False)
    serve(jobs, events)


if __name__ == "__main__":
    main(sys.argv)

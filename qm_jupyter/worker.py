"""A worker process: one backtest at a time, off the server's event loop.

Started by :class:`~qm_jupyter.runner.BacktestRunner` as
``python -m qm_jupyter.worker JOBS_FD EVENTS_FD`` (a fresh interpreter: nothing of the
server's process, threads or ``__main__`` is inherited). It receives jobs on one pipe
and sends its runs' events back on another, in
batches (every ``FLUSH_INTERVAL`` seconds, or sooner when many are waiting), so a run
that logs a line per trade does not cost a pipe write per line.
"""

from __future__ import annotations

import contextlib
import functools
import queue
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from .events import EventDraft
from .sinks import set_default_sink
from .ws_logger import setup_backtest_logging, teardown_backtest_logging

FLUSH_INTERVAL = 0.02
FLUSH_SIZE = 1000


class PipeSink:
    """Batches a worker's events and sends them to the server from a flusher thread.

    ``emit`` only appends under a short lock; sending (which may wait for the server
    to read) happens under a separate lock, so the run never waits on the pipe.
    """

    def __init__(self, conn: Connection):
        self._conn = conn
        self._lock = threading.Condition()
        self._send_lock = threading.Lock()
        self._pending: list[tuple[str, str, dict[str, Any], str]] = []
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="qm-event-flusher", daemon=True)
        self._thread.start()

    def emit(self, backtest_id: str, draft: EventDraft) -> None:
        with self._lock:
            self._pending.append((backtest_id, draft.type, draft.data, draft.timestamp))
            if len(self._pending) >= FLUSH_SIZE:
                self._lock.notify()

    def send(self, message: tuple | None = None) -> None:
        """Send what is pending, then ``message``, in that order."""
        with self._send_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            if batch:
                self._conn.send(("events", batch))
            if message is not None:
                self._conn.send(message)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify()
        self._thread.join()
        self.send()

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                self._lock.wait(FLUSH_INTERVAL)
            self.send()


def serve(jobs: Connection, events: Connection) -> None:
    """Run jobs until told to stop (``None`` or the pipe closing).

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
                message = None
            if message is None:
                pending.put(None)
                return
            kind, payload = message
            if kind == "cancel":
                cancelled.add(payload)
            else:
                pending.put(payload)

    threading.Thread(target=read_messages, name="qm-job-reader", daemon=True).start()
    while (job := pending.get()) is not None:
        backtest_id = job["backtest_id"]
        run_job(job, sink, functools.partial(cancelled.__contains__, backtest_id))
        cancelled.discard(backtest_id)
        sink.send(("finished", backtest_id))
    with contextlib.suppress(OSError):
        sink.close()


def run_job(job: dict[str, Any], sink: PipeSink, should_stop: Callable[[], bool]) -> None:
    """Run one backtest, reporting everything through the seed's logging API."""
    from .engine import BacktestCancelled, run_backtest

    backtest_id = job["backtest_id"]
    logger, streamer = setup_backtest_logging(backtest_id, sink, max_rate=job["max_progress_rate"])
    started = time.monotonic()
    try:
        run_backtest(
            job["data"],
            job["strategy"],
            job["params"],
            initial_balance=job["initial_balance"],
            commission=job["commission"],
            periods_per_year=job["periods_per_year"],
            progress_every=job["progress_every"],
            observer=streamer,
            logger=logger,
            should_stop=should_stop,
            root_dir=job["root_dir"],
        )
    except BacktestCancelled as cancelled:
        logger.warning("Backtest cancelled after %d bars", cancelled.bars_processed)
        streamer.on_cancelled(cancelled.bars_processed)
    except (Exception, SystemExit, KeyboardInterrupt) as error:
        logger.error("Backtest failed after %.2fs: %s", time.monotonic() - started, error)
        streamer.on_error(error)
    finally:
        teardown_backtest_logging(logger)


def main(argv: list[str]) -> None:
    jobs = Connection(int(argv[1]), writable=False)
    events = Connection(int(argv[2]), readable=False)
    serve(jobs, events)


if __name__ == "__main__":
    main(sys.argv)

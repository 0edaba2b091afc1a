"""A worker process: one backtest at a time, off the server's event loop.

Started by :class:`~qm_jupyter.server.worker_pool.BacktestRunner` as
``python -m qm_jupyter.server.worker JOBS_FD EVENTS_FD`` (a fresh interpreter: nothing of the
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
from multiprocessing.connection import Connection

import pyarrow

from ..events import EventDraft, encode
from ..jobs import Job, run_job, warm_up
from ..sinks import BatchingSink, set_default_sink
from .strategy_catalog import StrategyCatalog


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
    pending: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
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
    warm_up()  # a job sent meanwhile waits in `pending`
    catalog: StrategyCatalog | None = None
    while (job := pending.get()) is not None:
        backtest_id = job.backtest_id
        catalog = catalog or StrategyCatalog(job.strategies_dir)
        catalog.refresh()
        run_job(job, sink, functools.partial(cancelled.__contains__, backtest_id))
        cancelled.discard(backtest_id)
        sink.send(("finished", backtest_id))
    with contextlib.suppress(OSError):
        sink.close()


def main(argv: list[str]) -> None:
    # The run's log handler reads none of the caller, thread or process fields of a record:
    # skip collecting them (the optimizations the logging HOWTO documents).
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None
    # pyarrow sizes its thread pool from OMP_NUM_THREADS, which the pool sets to 1 for the
    # math libraries: the CSV reader gets the cores back (parsing is the same on any count).
    pyarrow.set_cpu_count(os.cpu_count() or 1)
    jobs = Connection(int(argv[1]), writable=False)
    events = Connection(int(argv[2]), readable=False)
    serve(jobs, events)


if __name__ == "__main__":
    main(sys.argv)

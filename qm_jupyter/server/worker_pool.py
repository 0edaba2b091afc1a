"""BacktestRunner: a pool of worker processes that run backtests off the event loop.

Each worker is a long-lived ``python -m qm_jupyter.server.worker`` process running one job at a
time: a fresh interpreter (never a fork of the server, and unlike ``multiprocessing``'s
spawn it never re-imports the host's ``__main__``), talking over two pipes. A reader
thread per worker hands its event batches to the loop, where the hub numbers and stores
them. Runs beyond the worker count wait in a FIFO queue. A worker that dies (SIGKILL,
``os._exit``, a crash) ends its run with ``backtest_error`` and is replaced; a cancelled
run that does not stop within ``cancel_grace`` seconds has its worker killed and replaced.
A worker that exits soon after it started, with no run (a broken environment: an import
that fails, a missing library), is replaced after a delay that doubles each time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

import orjson

from ..events import BACKTEST_CANCELLED, LOG_ENTRY, EventDraft, backtest_error
from ..jobs import Job
from .hub import EventHub, RunClosedError

#: Native math libraries on one thread, as in Dask's worker processes (its nannies set the
#: same): a run's metrics then never depend on whether a worker or a sweep's Dask worker ran
#: it (a threaded BLAS sums in another order, which moves a Sharpe ratio's last digits).
#: One run per process also leaves nothing for more threads to do.
SINGLE_THREADED_MATH = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
#: A worker that exits idle within this many seconds of starting counts as failing to start.
QUICK_EXIT = 5.0
#: The delay before replacing it: the first, doubling on each such exit in a row, up to the last.
RESPAWN_DELAYS = (0.5, 30.0)


@dataclass
class _Worker:
    """The server's handle on one worker process."""

    number: int
    process: subprocess.Popen
    jobs: Connection
    backtest_id: str | None = None
    cancel_requested: bool = False
    recent_data: deque[str] = field(default_factory=lambda: deque(maxlen=4))
    retired: bool = False
    started: float = field(default_factory=time.monotonic)


class BacktestRunner:
    """Runs submitted backtests on ``workers`` processes, queueing the rest in order."""

    def __init__(
        self,
        hub: EventHub,
        *,
        workers: int = 2,
        cancel_grace: float = 1.5,
        log: logging.Logger | None = None,
    ):
        self.hub = hub
        self.worker_count = workers
        self.cancel_grace = cancel_grace
        self.log = log or logging.getLogger(__name__)
        self._workers: list[_Worker] = []
        self._queue: deque[Job] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._spawned = 0
        self._failed_starts = 0  # workers in a row that exited idle right after starting
        self._stopping = False

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Spawn the workers, once (call on the running event loop)."""
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        for _ in range(self.worker_count):
            self._spawn()

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop every worker; runs still going end as failed (the server is stopping)."""
        self._stopping = True
        for job in self._queue:
            self._publish(job.backtest_id, [_server_stopped()])
        self._queue.clear()
        for worker in self._workers:
            worker.retired = True
            with contextlib.suppress(OSError):
                if worker.backtest_id:  # stop it now rather than be killed after ``timeout``
                    self._publish(worker.backtest_id, [_server_stopped()])
                    worker.jobs.send(("cancel", worker.backtest_id))
                worker.jobs.send(None)
        for worker in list(self._workers):
            if not await _exited(worker.process, timeout):
                worker.process.kill()
                await _exited(worker.process, timeout)
        self._workers.clear()

    # -- jobs ------------------------------------------------------------------------------

    def submit(self, job: Job) -> str:
        """Queue ``job``; return ``"running"`` or ``"queued"``."""
        self.start()
        self._queue.append(job)
        self._dispatch()
        return "queued" if any(j is job for j in self._queue) else "running"

    @property
    def queued(self) -> int:
        return len(self._queue)

    def cancel(self, backtest_id: str) -> bool:
        """Ask a queued or running run to stop; False if it is not active here."""
        for job in self._queue:
            if job.backtest_id == backtest_id:
                self._queue.remove(job)
                self._publish(backtest_id, [EventDraft(BACKTEST_CANCELLED, {"bars_processed": 0})])
                return True
        for worker in self._workers:
            if worker.backtest_id == backtest_id:
                if not worker.cancel_requested:
                    worker.cancel_requested = True
                    worker.jobs.send(("cancel", backtest_id))
                    self._loop.call_later(
                        self.cancel_grace, self._enforce_cancel, worker, backtest_id
                    )
                return True
        return False

    def _dispatch(self) -> None:
        """Give queued jobs, in order, to idle workers.

        A worker that recently ran on the same data gets it again: its file cache
        then spares parsing the file a second time.
        """
        while self._queue:
            idle = [w for w in self._workers if w.backtest_id is None and not w.retired]
            if not idle:
                return
            job = self._queue.popleft()
            data_key = json.dumps(job.data, sort_keys=True)
            worker = next((w for w in idle if data_key in w.recent_data), idle[0])
            worker.recent_data.append(data_key)
            worker.backtest_id = job.backtest_id
            worker.cancel_requested = False
            self.hub.mark_running(job.backtest_id)
            worker.jobs.send(("run", job))

    def _enforce_cancel(self, worker: _Worker, backtest_id: str) -> None:
        if worker.backtest_id == backtest_id and worker.process.poll() is None:
            self.log.warning("Run %s ignored cancel; killing worker %d", backtest_id, worker.number)
            worker.process.kill()

    # -- worker processes -------------------------------------------------------------------

    def _spawn(self) -> _Worker:
        self._spawned += 1
        job_reader, job_writer = os.pipe()
        event_reader, event_writer = os.pipe()
        process = subprocess.Popen(
            [sys.executable, "-m", "qm_jupyter.server.worker", str(job_reader), str(event_writer)],
            pass_fds=(job_reader, event_writer),
            stdin=subprocess.DEVNULL,
            env={**os.environ, **SINGLE_THREADED_MATH},
        )
        os.close(job_reader)
        os.close(event_writer)
        worker = _Worker(self._spawned, process, Connection(job_writer, readable=False))
        self._workers.append(worker)
        threading.Thread(
            target=self._read_events,
            args=(worker, Connection(event_reader, writable=False)),
            name=f"qm-worker-reader-{worker.number}",
            daemon=True,
        ).start()
        return worker

    def _read_events(self, worker: _Worker, conn) -> None:
        """Reader thread: hand each message of the worker to the loop, in order."""
        loop = self._loop
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            loop.call_soon_threadsafe(self._on_message, worker, message)
        conn.close()
        with contextlib.suppress(RuntimeError):  # a closed loop: the server has stopped
            loop.call_soon_threadsafe(self._on_exit, worker)

    def _on_message(self, worker: _Worker, message: tuple) -> None:
        kind = message[0]
        if kind == "events":
            by_run: dict[str, list[EventDraft]] = {}
            for backtest_id, event_type, data, timestamp in message[1]:
                # Log lines (nearly all of a busy run's events) stay encoded: the hub only
                # frames them. The rest change the run's state, which reads their data.
                value = orjson.Fragment(data) if event_type == LOG_ENTRY else orjson.loads(data)
                by_run.setdefault(backtest_id, []).append(EventDraft(event_type, value, timestamp))
            for backtest_id, drafts in by_run.items():
                self._publish(backtest_id, drafts)
        elif kind == "finished" and worker.backtest_id == message[1]:
            worker.backtest_id = None
            self._dispatch()

    def _on_exit(self, worker: _Worker) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.process.wait(1.0)
        if worker in self._workers:
            self._workers.remove(worker)
        if worker.backtest_id:
            if worker.cancel_requested:
                progress = self.hub.get_run(worker.backtest_id).progress or {}
                draft = EventDraft(
                    BACKTEST_CANCELLED, {"bars_processed": progress.get("bars_processed", 0)}
                )
            else:
                code = worker.process.returncode
                draft = backtest_error(
                    f"the worker process of this backtest died (exit code {code})", "WorkerDied"
                )
            self._publish(worker.backtest_id, [draft])
        if self._stopping or worker.retired:
            return
        failed_start = not worker.backtest_id and time.monotonic() - worker.started < QUICK_EXIT
        self._failed_starts = self._failed_starts + 1 if failed_start else 0
        if not failed_start:
            self._replace()
            return
        first, most = RESPAWN_DELAYS
        delay = min(first * 2 ** (self._failed_starts - 1), most)
        self.log.error(
            "Worker %d exited (code %s) right after it started, with no run; "
            "starting another in %gs",
            worker.number,
            worker.process.returncode,
            delay,
        )
        self._loop.call_later(delay, self._replace)

    def _replace(self) -> None:
        if not self._stopping:
            self._spawn()
            self._dispatch()

    def _publish(self, backtest_id: str, drafts: list[EventDraft]) -> None:
        """Publish a run's events; a run that already ended takes nothing more."""
        try:
            self.hub.publish(backtest_id, drafts)
        except RunClosedError:
            self.log.debug("Run %s already ended; dropped %d events", backtest_id, len(drafts))
        except Exception:
            self.log.exception("Could not publish events of run %s", backtest_id)


async def _exited(process: subprocess.Popen, timeout: float) -> bool:
    """Wait (without blocking the loop) up to ``timeout`` seconds for ``process`` to end."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while process.poll() is None:
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def _server_stopped() -> EventDraft:
    return backtest_error("the server stopped while this backtest was in flight", "ServerStopped")

"""Following a sweep's trials on Dask: what the server's and a kernel's sweep drivers share.

Trials run in Dask tasks (:func:`qm_jupyter.jobs.run_trials`), a batch of them each when
they are short (:class:`BatchSizer`); a task may run more than once (a rerun after its
worker died is a new attempt). A trial's events arrive in messages on the sweep's Dask
topic, numbered per attempt, and its end in the task's result. :class:`TrialRun` keeps which
attempt is followed and how many of its events arrived, so that each event reaches the
trial's run once and in order; the drivers differ only in where they wait (the server's
event loop, a kernel's thread) and where the events go (the hub, the kernel's sink).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from .events import (
    BACKTEST_CANCELLED,
    BACKTEST_COMPLETE,
    LOG_ENTRY,
    TERMINAL_STATUS,
    EventDraft,
    backtest_error,
    utc_now_iso,
)
from .jobs import TrialOutcome
from .sweep_spec import Search, Tally, TrialEntry

#: Seconds between two sweep_progress events at most, and between two looks at the trials.
PROGRESS_INTERVAL = 0.25
#: Seconds a trial's end waits for the event batches its task says it sent.
EVENT_WAIT = 2.0
#: Seconds cancelled trials have to stop at a progress point before they are dropped.
CANCEL_GRACE = 1.2
#: Tasks a grid or random sweep keeps in flight per worker thread: a worker that ends one
#: has the next at hand (queued by Dask) instead of idling until the driver hears of the end
#: and submits another (2 workers over 1, in pairs of runs: 1.07-1.25x with 2, 1.42-1.56x
#: with 6 for 30 ms trials, one a task).
QUEUED_PER_THREAD = 6
#: Seconds of trials that a grid or random sweep's task runs, and most trials a task: a
#: batch of short trials pays a task's round trips (scheduler, Dask client, the topic's
#: messages) once.
TASK_SECONDS = 0.25
MAX_BATCH = 16
#: A local Dask cluster for sweeps (the server's embedded one, a kernel's own): one
#: single-threaded worker process per core (a trial holds the GIL), on 127.0.0.1 only, and no
#: dashboard (its HTTP routes on any free port, never a fixed 8787 that another may hold).
LOCAL_CLUSTER_OPTIONS: dict[str, Any] = {
    "threads_per_worker": 1,
    "processes": True,
    "host": "127.0.0.1",
    "dashboard_address": None,
    "scheduler_kwargs": {"dashboard_address": "127.0.0.1:0"},
    "silence_logs": logging.WARNING,
}


@dataclass
class TrialRun:
    """A trial in flight: its run, the search's token for it, its task, which attempt of the
    task is followed and how many of that attempt's events arrived."""

    backtest_id: str
    params: dict[str, Any]
    token: Any
    future: Any = None
    attempt: str | None = None
    attempts: int = 0
    seen: set[str] = field(default_factory=set)
    worker: str | None = None
    received: int = 0

    def follow(self, attempt: str, worker: str) -> EventDraft | None:
        """Follow a (re)started task; a rerun gives the WARNING that its run shows."""
        self.attempts += 1
        self.seen.add(attempt)
        self.attempt, self.worker, self.received = attempt, worker, 0
        if self.attempts == 1:
            return None
        message = (
            f"the worker running this trial was lost; retried on {worker} (attempt {self.attempts})"
        )
        data = {"level": "WARNING", "message": message, "module": "sweep"}
        return EventDraft(LOG_ENTRY, {**data, "timestamp": utc_now_iso()})

    def take(
        self, message: dict[str, Any], segment: dict[str, Any]
    ) -> tuple[list[EventDraft], list[list], int] | None:
        """This trial's segment of a message from the sweep's topic: (a retry WARNING to
        publish first, if the message starts a new attempt; the segment's ``[type, data,
        timestamp]`` events not seen yet; how many events went missing before them), or None
        for a late message of an attempt no longer followed."""
        notices = []
        if message["attempt"] != self.attempt:
            if message["attempt"] in self.seen:
                return None
            notice = self.follow(message["attempt"], message["worker"])
            notices = [notice] if notice else []
        first, events = segment["first"], segment["events"]
        skip = self.received + 1 - first
        self.received = max(self.received, first + len(events) - 1)
        return notices, events[max(skip, 0) :], max(-skip, 0)

    def settle(self, outcome: TrialOutcome) -> EventDraft | None:
        """The task returned: follow its attempt if no batch of it came first (a retry
        WARNING, as :meth:`follow`)."""
        return (
            None if outcome.attempt in self.seen else self.follow(outcome.attempt, outcome.worker)
        )

    def missing_events(self, outcome: TrialOutcome) -> bool:
        """Whether batches the returned task sent have yet to arrive."""
        return self.attempt == outcome.attempt and self.received < outcome.events_sent

    def to_entry(
        self, ending: EventDraft, metrics: dict[str, Any] | None, metric: str
    ) -> TrialEntry:
        """The trial's line on the sweep, from its run's terminal event."""
        status = TERMINAL_STATUS[ending.type]
        complete = ending.type == BACKTEST_COMPLETE
        return TrialEntry(
            self.backtest_id,
            self.params,
            status,
            metrics if complete else None,
            metrics.get(metric) if complete and metrics else None,
            ending.data.get("error") if status == "failed" else None,
            self.worker,
            self.attempts,
        )


def cluster_threads(info: dict[str, Any]) -> int:
    """Worker threads of a cluster, from ``Client.scheduler_info()``; at least 1 (tasks wait
    for workers to come). An asynchronous client's info is a cached one that carries the
    totals alone (its ``workers`` is empty)."""
    total = info.get("total_threads")
    if total is None:
        total = sum(worker.get("nthreads", 1) for worker in info.get("workers", {}).values())
    return max(1, total)


def in_flight_limit(threads: int, method: str) -> int:
    """How many tasks to keep in flight: one per thread for ``tpe`` (each ask learns from
    the tells before it), :data:`QUEUED_PER_THREAD` per thread for the others."""
    return threads * (1 if method == "tpe" else QUEUED_PER_THREAD)


def ask_combinations(search: Search, n: int) -> list[tuple[Any, dict[str, Any]]]:
    """Up to ``n`` ``(token, combination)`` from the search (fewer when it has no more)."""
    combos = []
    while len(combos) < n and (asked := search.ask()) is not None:
        combos.append(asked)
    return combos


def task_futures(trials: Any) -> list[Any]:
    """The tasks running these trials (a :class:`TrialRun`'s ``future``), each once."""
    return list({trial.future.key: trial.future for trial in trials}.values())


def waiting_futures(trials: Any) -> list[Any]:
    """The tasks of these trials that have not started (no trial of theirs was heard of)."""
    trials = list(trials)
    started = {trial.future.key for trial in trials if trial.attempt is not None}
    return [future for future in task_futures(trials) if future.key not in started]


@dataclass
class BatchSizer:
    """How many trials the next task runs: one for ``tpe`` (each ask learns from the tells
    before it) and until a trial's duration is known; then about :data:`TASK_SECONDS` of
    them, at most :data:`MAX_BATCH`, and few enough that what is left still makes two tasks
    a thread (the last tasks end together)."""

    method: str
    seconds: float = 0.0
    timed: int = 0

    def time(self, metrics: dict[str, Any] | None) -> None:
        """Learn from a completed trial's metrics (its ``duration``)."""
        duration = (metrics or {}).get("duration")
        if duration is not None:
            self.seconds += duration
            self.timed += 1

    def size(self, threads: int, left: int) -> int:
        if self.method == "tpe" or not self.timed:
            return 1
        per_trial = max(self.seconds / self.timed, 1e-6)
        return max(1, min(MAX_BATCH, int(TASK_SECONDS / per_trial), left // (2 * threads)))


def task_failure(error: BaseException, cancelling: bool) -> EventDraft:
    """A trial's end when its task raised: its workers kept dying, the sweep cancelled it,
    or anything else (the error's type and text)."""
    from distributed import KilledWorker  # only where sweeps run: kernels import this too

    if isinstance(error, KilledWorker):
        return backtest_error(f"the trial's workers kept dying: {error}", "KilledWorker")
    if cancelling:
        return EventDraft(BACKTEST_CANCELLED, {"bars_processed": 0})
    return backtest_error(f"{type(error).__name__}: {error}", type(error).__name__)


def sweep_progress(
    tally: Tally, started: float, total: int, running: int, threads: int
) -> dict[str, Any]:
    """A ``sweep_progress`` event's data: counts, best so far, elapsed time and ETA."""
    elapsed, ended = time.monotonic() - started, tally.ended
    return {
        "counts": {**tally.counts, "running": running},
        "best": tally.best,
        "elapsed_seconds": elapsed,
        "eta_seconds": elapsed / ended * (total - ended) if ended else None,
        "workers": threads,
    }

"""Running one backtest job on the event stream: shared by worker processes and kernels.

The engine knows nothing of streams: it reports to a `RunObserver`. :func:`run_job` adapts
that observer to the seed's logging API (:mod:`qm_jupyter.ws_logger`), so a run's start,
log lines, progress and one terminal event go to whatever sink the caller gives.

:func:`run_trials` runs trials of a parameter sweep in a Dask task (on a worker of the
server's cluster, or of a kernel's): their events travel back over Dask's own connection
(``Worker.log_event`` on the sweep's topic, folded into a few messages a second), and their
terminal events in the task's result, the one channel that cannot lose them.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from .engine import BacktestCancelled, BacktestResult, run_backtest
from .engine.chart_data import run_chart
from .engine.curves import CURVE_COLUMNS, curve_points
from .engine.data import DataSource, warm_up_reader
from .engine.registry import StrategyLike
from .engine.stats import stats_to_wire
from .events import (
    BACKTEST_CANCELLED,
    BACKTEST_COMPLETE,
    BACKTEST_START,
    LOG_ENTRY,
    TERMINAL_STATUS,
    EventDraft,
    backtest_error,
    encode,
    loads,
)
from .sinks import BatchingSink, EventSink, MemorySink
from .sweep_spec import scalar_metrics
from .ws_logger import (
    BacktestProgressStreamer,
    log_line,
    setup_backtest_logging,
    sole_stream_handler,
    teardown_backtest_logging,
)


@dataclass(frozen=True)
class Job:
    """One backtest to run, as its caller validated it: built once by the server (and sent
    pickled to a worker process) or by a kernel, and read only by :func:`run_job`.

    A worker's job names its strategy and data (``str``, a data spec); a kernel's may hold a
    strategy class or function and a DataFrame.
    """

    backtest_id: str
    strategy: StrategyLike
    params: dict[str, Any]
    data: DataSource
    initial_balance: float
    commission: float | list[float]
    periods_per_year: float | None
    progress_every: int
    max_progress_rate: float
    root_dir: str | Path | None
    #: The server's folder of user strategies, which a worker loads before running the job.
    strategies_dir: str | None = None
    #: The engine's other broker settings (spread, margin, ..., conventions) given for the run.
    settings: dict[str, Any] = field(default_factory=dict)


#: Columns of a sweep trial's ``equity_curve``: at most 204 points (about 10 KB; a run's
#: has up to 1,002), as a trial's end goes to every watcher of every trial, many a second.
SUMMARY_CURVE_COLUMNS = 100


def run_job(
    job: Job,
    sink: EventSink,
    should_stop: Callable[[], bool],
    *,
    log_level: int = logging.INFO,
    summary: bool = False,
) -> BacktestResult | None:
    """Run one backtest, reporting everything through the seed's logging API.

    Lines below `log_level` are never formatted. A `summary` end (a sweep trial's: it goes to
    every watcher of every trial) has no ``chart`` and a coarser ``equity_curve``
    (:data:`SUMMARY_CURVE_COLUMNS`).
    Returns the result, or None when the run failed or was cancelled (which its terminal
    event says).
    """
    logger, streamer = setup_backtest_logging(
        job.backtest_id, sink, level=log_level, max_rate=job.max_progress_rate
    )
    started = time.monotonic()
    observer = StreamObserver(logger, streamer)
    try:
        result = run_backtest(
            job.data,
            job.strategy,
            job.params,
            initial_balance=job.initial_balance,
            commission=job.commission,
            periods_per_year=job.periods_per_year,
            progress_every=job.progress_every,
            **job.settings,
            observer=observer,
            should_stop=should_stop,
            root_dir=job.root_dir,
        )
        observer.complete(
            curve_points(result.equity, SUMMARY_CURVE_COLUMNS if summary else CURVE_COLUMNS),
            stats_to_wire(result.stats),
            None if summary else run_chart(result.data, result.equity, result.trades),
        )
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


def warm_up() -> None:
    """Run a tiny job and parse a tiny CSV, so that a long-lived process (a server's worker)
    pays the one-time set-up of the CSV reader and of the engine's code paths before its
    first job, not in it (0.3-0.5 s on a 1M-row file)."""
    warm_up_reader()
    job = Job(
        backtest_id="warm-up",
        strategy="sma_crossover",
        params={},
        data={"sample": "gbm", "bars": 500, "seed": 1},
        initial_balance=10_000.0,
        commission=0.0,
        periods_per_year=None,
        progress_every=100,
        max_progress_rate=10.0,
        root_dir=None,
    )
    run_job(job, MemorySink(), lambda: False)


class StreamObserver:
    """The engine's `RunObserver` on a run's stream.

    Log lines go straight to the run's stream handler when it is all a line would reach (no
    LogRecord: most of a trade line's cost), else through the run's logger, so handlers a
    user attached see them too. ``backtest_complete`` is held back until the run has
    returned, so that it can carry a chart-sized ``equity_curve``, the run's ``stats`` and its
    ``chart`` (`engine.chart_data.run_chart`).
    """

    def __init__(self, logger: logging.Logger, streamer: BacktestProgressStreamer) -> None:
        self.streamer = streamer
        self.on_start = streamer.on_start
        self.on_progress = streamer.on_progress
        self.progress_due = streamer.progress_due
        self.log_level = logger.getEffectiveLevel()
        handler = sole_stream_handler(logger, self.log_level)
        self.on_log = handler.stream if handler else functools.partial(log_line, logger)
        self.metrics: dict[str, Any] | None = None

    def on_complete(self, metrics: dict[str, Any]) -> None:
        self.metrics = metrics

    def complete(
        self, equity_curve: list[list], stats: dict[str, Any], chart: dict[str, Any] | None
    ) -> None:
        outcome = {**self.metrics, "equity_curve": equity_curve, "stats": stats}
        self.streamer.on_complete(outcome if chart is None else {**outcome, "chart": chart})


#: Sweeps whose trials must stop, in this (Dask worker) process: the server adds a sweep with
#: ``Client.run(cancel_sweep, id)``, and each trial's engine reads it at every progress point
#: (a set lookup, no round trip to the scheduler).
CANCELLED_SWEEPS: set[str] = set()


def cancel_sweep(sweep_id: str) -> None:
    """Stop the trials of ``sweep_id`` running in this process, and any that start here."""
    CANCELLED_SWEEPS.add(sweep_id)


@dataclass(frozen=True)
class TrialBatch:
    """Combinations of a sweep that one Dask task runs in turn (a batch of short trials pays
    the task's round trips once), sent to a worker with the sweep's data apart."""

    sweep_id: str
    #: The Dask event topic of the sweep (one per sweep: Dask never deletes a topic).
    topic: str
    #: The trials' jobs; their data is the frame shipped once per sweep, given to run_trials.
    jobs: tuple[Job, ...]
    #: Stream every event (progress, every log line), not only start, warnings and the end.
    full_events: bool = False


@dataclass(frozen=True)
class TrialOutcome:
    """What a task returns for each of its trials: the terminal event (JSON), and what the
    server needs to put the trial's streamed events in order (which attempt of the task, how
    many were sent).

    A completed trial's metrics come apart (``scalar_metrics``), so that the server
    publishes its terminal event as the JSON it is, never parsing its chart on its loop."""

    backtest_id: str
    attempt: str
    worker: str
    events_sent: int
    terminal_type: str
    terminal_data: bytes
    metrics: dict[str, Any] | None = None


class TrialSink(BatchingSink):
    """A task's trials' events, folded into at most four messages a second, each handed to
    ``send`` msgpack-safe: ``{attempt, worker, runs: [{run, first, events}]}``, ``first``
    numbering a run's events from 1. The terminal events are kept for the task's result."""

    flush_interval = 0.25

    def __init__(
        self, send: Callable[[dict[str, Any]], None], attempt: str, worker: str, *, full: bool
    ):
        self._send = send
        self._head = {"attempt": attempt, "worker": worker}
        self._full = full
        self.sent: Counter[str] = Counter()
        self.terminals: dict[str, EventDraft] = {}
        super().__init__("qm-trial-events")

    def emit(self, backtest_id: str, draft: EventDraft) -> None:
        if draft.type in TERMINAL_STATUS:
            self.terminals[backtest_id] = draft
        elif self._full or draft.type in (BACKTEST_START, LOG_ENTRY):
            super().emit(backtest_id, draft)

    def deliver(self, batch: list[tuple[str, EventDraft]]) -> None:
        runs: dict[str, list[list]] = {}
        for backtest_id, d in batch:
            runs.setdefault(backtest_id, []).append([d.type, encode(d.data), d.timestamp])
        segments = []
        for backtest_id, events in runs.items():
            segments.append(
                {"run": backtest_id, "first": self.sent[backtest_id] + 1, "events": events}
            )
            self.sent[backtest_id] += len(events)
        self._send({**self._head, "runs": segments})


def sweep_data(prices: pd.DataFrame) -> pd.DataFrame:
    """A sweep's data as a Dask task: shipped once with the task and copied to each worker
    that needs it, and, unlike scattered data, recomputed if the worker holding it dies."""
    return prices


def run_trials(batch: TrialBatch, data: pd.DataFrame) -> list[TrialOutcome]:
    """Run a batch of trials in one Dask task, in turn. They stream their events on the
    sweep's topic, each message with the task's attempt (a task rerun after its worker died
    is a new attempt; its first message leaves at once), and the task returns every trial's
    terminal event; a failing strategy is a failed trial, never a failed task. Trials not
    started when the sweep is cancelled end as cancelled without running."""
    from distributed import get_worker  # only where trials run: kernels import jobs too

    worker = get_worker()
    attempt = uuid.uuid4().hex

    def send(message: dict[str, Any]) -> None:
        worker.log_event(batch.topic, message)

    def cancelled() -> bool:
        return batch.sweep_id in CANCELLED_SWEEPS

    sink = TrialSink(send, attempt, worker.address, full=batch.full_events)
    try:
        for job in batch.jobs:
            if cancelled():
                sink.emit(job.backtest_id, EventDraft(BACKTEST_CANCELLED, {"bars_processed": 0}))
                continue
            # A summary trial streams no INFO line (never formatted) and a summary end: its
            # run keeps its stats and a coarser equity curve, no chart.
            run_job(
                replace(job, data=data),
                sink,
                cancelled,
                log_level=logging.INFO if batch.full_events else logging.WARNING,
                summary=not batch.full_events,
            )
    finally:
        sink.close()
    return [_outcome(job.backtest_id, sink, attempt, worker.address) for job in batch.jobs]


def _outcome(backtest_id: str, sink: TrialSink, attempt: str, worker: str) -> TrialOutcome:
    terminal = sink.terminals.get(backtest_id) or backtest_error(
        "the trial ended without an outcome", "TrialError"
    )
    complete = terminal.type == BACKTEST_COMPLETE
    data = encode(terminal.data)
    return TrialOutcome(
        backtest_id,
        attempt,
        worker,
        sink.sent[backtest_id],
        terminal.type,
        data,
        scalar_metrics(loads(data)) if complete else None,
    )

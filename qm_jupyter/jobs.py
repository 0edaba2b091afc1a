"""Running one backtest job on the event stream: shared by worker processes and kernels.

The engine knows nothing of streams: it reports to a `RunObserver`. :func:`run_job` adapts
that observer to the seed's logging API (:mod:`qm_jupyter.ws_logger`), so a run's start,
log lines, progress and one terminal event go to whatever sink the caller gives.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .engine import BacktestCancelled, BacktestResult, run_backtest
from .engine.curves import curve_points
from .engine.stats import stats_to_wire
from .engine.data import DataSource
from .engine.registry import StrategyLike
from .sinks import EventSink
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


def run_job(job: Job, sink: EventSink, should_stop: Callable[[], bool]) -> BacktestResult | None:
    """Run one backtest, reporting everything through the seed's logging API.

    Returns the result, or None when the run failed or was cancelled (which its terminal
    event says).
    """
    logger, streamer = setup_backtest_logging(job.backtest_id, sink, max_rate=job.max_progress_rate)
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
        observer.complete(curve_points(result.equity), stats_to_wire(result.stats))
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


class StreamObserver:
    """The engine's `RunObserver` on a run's stream.

    Log lines go straight to the run's stream handler when it is all a line would reach (no
    LogRecord: most of a trade line's cost), else through the run's logger, so handlers a
    user attached see them too. ``backtest_complete`` is held back until the run has
    returned, so that it can carry a chart-sized ``equity_curve`` and the run's ``stats``.
    """

    def __init__(self, logger: logging.Logger, streamer: BacktestProgressStreamer) -> None:
        self.streamer = streamer
        self.on_start = streamer.on_start
        self.on_progress = streamer.on_progress
        self.log_level = logger.getEffectiveLevel()
        handler = sole_stream_handler(logger, self.log_level)
        self.on_log = handler.stream if handler else functools.partial(log_line, logger)
        self.metrics: dict[str, Any] | None = None

    def on_complete(self, metrics: dict[str, Any]) -> None:
        self.metrics = metrics

    def complete(self, equity_curve: list[list], stats: dict[str, Any]) -> None:
        self.streamer.on_complete({**self.metrics, "equity_curve": equity_curve, "stats": stats})

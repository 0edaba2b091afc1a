"""The seed's logging API: a run's log lines and lifecycle become stream events.

Usage::

    from qm_jupyter.ws_logger import setup_backtest_logging

    logger, streamer = setup_backtest_logging(backtest_id)
    logger.info("Backtest started")                 # -> log_entry
    await streamer.update_progress(progress=50.0, status="Processing...", trades_count=10)
    await streamer.complete(final_balance=10_512.3, total_trades=10, sharpe_ratio=1.2)

``streamer`` also implements the engine's ``RunObserver`` (``on_start``,
``on_progress``, ``on_complete``), so a run of the engine can report through it directly.
Neither the handler nor the streamer ever blocks or raises into the code that calls them.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback as traceback_module
from typing import Any

from .events import (
    BACKTEST_CANCELLED,
    BACKTEST_COMPLETE,
    BACKTEST_PROGRESS,
    BACKTEST_START,
    LOG_ENTRY,
    EventDraft,
    backtest_error,
    utc_now_iso,
)
from .sinks import EventSink, default_sink

LOGGER_PREFIX = "qm_jupyter.backtest"
#: At most this many ``backtest_progress`` events a second per run, unless told otherwise.
DEFAULT_PROGRESS_RATE = 20.0


class WebSocketLogHandler(logging.Handler):
    """A logging handler that turns each record into a ``log_entry`` event of one run."""

    def __init__(self, backtest_id: str, sink: EventSink | None = None, level: int = logging.INFO):
        super().__init__(level)
        self.backtest_id = backtest_id
        self.sink = sink or default_sink()
        self.dropped = 0
        self._run_logger = f"{LOGGER_PREFIX}.{backtest_id}"

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info:
                message = f"{message}\n{self.formatter_exception(record)}"
            module = self.source(record)
            self._send(record.levelname, message, module, utc_now_iso(record.created))
        except Exception:  # never raise into the code that logs
            self.dropped += 1

    def source(self, record: logging.LogRecord) -> str:
        """A short ``module`` for a record: the child's name under the run's logger
        (``strategy``, ``engine``), else the Python module that logged (``notebook`` for a
        notebook cell), else the logger's own name."""
        name = record.name
        if name.startswith(self._run_logger):
            child = name[len(self._run_logger) + 1 :]
            if child:
                return child
            return record.module if record.module.isidentifier() else "notebook"
        return name

    def stream(self, level: int, module: str, message: str) -> None:
        """A ``log_entry`` of a line the caller formatted, with no LogRecord: the engine's
        path for its line per trade when this handler is all a record would reach
        (:func:`sole_stream_handler`); the event is the one ``emit`` would make."""
        try:
            self._send(logging.getLevelName(level), message, module, utc_now_iso())
        except Exception:  # never raise into the code that logs
            self.dropped += 1

    def _send(self, level: str, message: str, module: str, timestamp: str) -> None:
        data = {"level": level, "message": message, "module": module, "timestamp": timestamp}
        self.sink.emit(self.backtest_id, EventDraft(LOG_ENTRY, data, timestamp))

    @staticmethod
    def formatter_exception(record: logging.LogRecord) -> str:
        return "".join(traceback_module.format_exception(*record.exc_info)).rstrip()


class BacktestProgressStreamer:
    """Reports one run's lifecycle: start, folded progress, and one terminal event.

    Progress is folded to at most ``max_rate`` events a second; the final (100%) one
    always goes out. After a terminal event (complete, error, cancelled) every
    further call is ignored, so a run ends exactly once.
    """

    def __init__(
        self,
        backtest_id: str,
        sink: EventSink | None = None,
        *,
        max_rate: float = DEFAULT_PROGRESS_RATE,
    ):
        self.backtest_id = backtest_id
        self.sink = sink or default_sink()
        self.min_interval = 1.0 / max_rate if max_rate > 0 else 0.0
        self.started_at: float | None = None
        self.last_progress: dict[str, Any] | None = None
        self._last_emit = float("-inf")
        self.finished = False

    def _emit(self, event_type: str, data: dict[str, Any]) -> None:
        if self.finished:
            return
        try:
            self.sink.emit(self.backtest_id, EventDraft(event_type, data))
        except Exception:  # never raise into the run
            return

    # -- the engine's RunObserver protocol -----------------------------------------------

    def on_start(self, info: dict[str, Any]) -> None:
        self.started_at = time.monotonic()
        self._emit(BACKTEST_START, dict(info))

    def on_progress(
        self,
        *,
        bars_processed: int,
        total_bars: int,
        trades_count: int,
        pnl: float,
        equity: float,
        time: str | None = None,
        price: float | None = None,
    ) -> None:
        progress = 100.0 * bars_processed / total_bars if total_bars else 100.0
        self.report_progress(
            progress,
            bars_processed=bars_processed,
            total_bars=total_bars,
            trades_count=trades_count,
            pnl=pnl,
            equity=equity,
            **({} if time is None else {"time": time, "price": price}),
        )

    def progress_due(self) -> bool:
        """Whether a progress point now would be sent (not folded away by the rate)."""
        return not self.finished and time.monotonic() - self._last_emit >= self.min_interval

    def on_complete(self, metrics: dict[str, Any]) -> None:
        self._emit(BACKTEST_COMPLETE, dict(metrics))
        self.finished = True

    def on_error(self, error: BaseException | str, *, error_type: str | None = None) -> None:
        if isinstance(error, BaseException):
            draft = backtest_error(
                str(error) or type(error).__name__,
                error_type or type(error).__name__,
                "".join(traceback_module.format_exception(error)),
            )
        else:
            draft = backtest_error(error, error_type or "Error")
        self._emit(draft.type, draft.data)
        self.finished = True

    def on_cancelled(self, bars_processed: int | None = None) -> None:
        if bars_processed is None:
            bars_processed = (self.last_progress or {}).get("bars_processed", 0)
        self._emit(BACKTEST_CANCELLED, {"bars_processed": bars_processed})
        self.finished = True

    def report_progress(
        self,
        progress: float,
        status: str = "running",
        trades_count: int = 0,
        **fields: Any,
    ) -> bool:
        """Emit a ``backtest_progress`` unless folded away; return whether it was sent."""
        now = time.monotonic()
        final = progress >= 100.0
        if not final and now - self._last_emit < self.min_interval:
            return False
        self._last_emit = now
        data = {
            "progress": min(max(float(progress), 0.0), 100.0),
            "bars_processed": fields.pop("bars_processed", None),
            "total_bars": fields.pop("total_bars", None),
            "trades_count": trades_count,
            "pnl": fields.pop("pnl", None),
            "equity": fields.pop("equity", None),
            "status": status,
            **fields,
        }
        self.last_progress = data
        self._emit(BACKTEST_PROGRESS, data)
        return True

    # -- the seed's async API --------------------------------------------------------------

    async def start(self, **info: Any) -> None:
        """Announce the run (``backtest_start``) with its parameters."""
        self.on_start(info)

    async def update_progress(
        self, progress: float, status: str = "running", trades_count: int = 0, **fields: Any
    ) -> bool:
        """Report progress (0-100); folded to the rate limit unless it is 100%."""
        return self.report_progress(progress, status, trades_count, **fields)

    async def complete(self, **metrics: Any) -> None:
        """End the run with its final metrics (``backtest_complete``)."""
        self.on_complete(metrics)
        await self._handed_on()

    async def fail(self, error: BaseException | str, *, error_type: str | None = None) -> None:
        """End the run with an error (``backtest_error``)."""
        self.on_error(error, error_type=error_type)
        await self._handed_on()

    async def cancel(self, bars_processed: int | None = None) -> None:
        """End the run as cancelled (``backtest_cancelled``)."""
        self.on_cancelled(bars_processed)
        await self._handed_on()

    async def _handed_on(self) -> None:
        """Return once a batching sink has handed the run's end on (a kernel's POST to the
        server), so a process killed right after the run (nbval stops kernels with SIGKILL)
        leaves no run listed as running forever."""
        flush = getattr(self.sink, "flush", None)
        if flush is not None:
            await asyncio.to_thread(flush)


def log_line(logger: logging.Logger, level: int, source: str, message: str) -> None:
    """Log an already formatted line on ``logger``'s child ``source`` (e.g. ``engine``)."""
    logger.getChild(source).log(level, "%s", message)


def setup_backtest_logging(
    backtest_id: str,
    sink: EventSink | None = None,
    *,
    level: int = logging.INFO,
    max_rate: float = DEFAULT_PROGRESS_RATE,
) -> tuple[logging.Logger, BacktestProgressStreamer]:
    """A logger and a progress streamer whose output goes to run ``backtest_id``'s stream.

    Child loggers (``logger.getChild("strategy")``) report to the same run. The logger
    does not propagate to the root logger: the run's stream is where its lines go.
    Call :func:`teardown_backtest_logging` when the run is over.

    The logger and its children live in a registry of their own (a ``logging.Manager``
    rooted at the run's logger), not in the process-wide one: ``logging.getLogger`` keeps
    every logger it ever made, so a long-lived server or kernel would grow with every run.
    Once the run's logger is dropped, nothing of it remains.
    """
    sink = sink or default_sink()
    logger = logging.Logger(f"{LOGGER_PREFIX}.{backtest_id}")
    logger.manager = logging.Manager(logger)
    logger.setLevel(level)
    logger.propagate = False
    logger.addHandler(WebSocketLogHandler(backtest_id, sink, level))
    return logger, BacktestProgressStreamer(backtest_id, sink, max_rate=max_rate)


def sole_stream_handler(logger: logging.Logger, level: int) -> WebSocketLogHandler | None:
    """The run handler that a record of ``level`` logged on ``logger`` would reach, if it is
    the only thing the record would reach (no filters, other handlers or propagation), so
    the caller may skip building records; None otherwise."""
    if not logger.isEnabledFor(level) or logger.propagate or logger.filters:
        return None
    if len(logger.handlers) != 1:
        return None
    handler = logger.handlers[0]
    # Exactly the class: a subclass may emit differently.
    if type(handler) is not WebSocketLogHandler or handler.filters or level < handler.level:
        return None
    return handler


def teardown_backtest_logging(logger: logging.Logger) -> None:
    """Detach the run's handlers from ``logger``."""
    for handler in list(logger.handlers):
        if isinstance(handler, WebSocketLogHandler):
            logger.removeHandler(handler)

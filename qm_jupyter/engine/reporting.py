"""How a run is watched: observer callbacks, cancellation checks and trade log lines.

Progress points are every `progress_every` bars and always the last bar. At each one the engine
first asks `should_stop()` (raising `BacktestCancelled`), then calls `observer.on_progress`.
A vectorized run computes everything before its first progress point, so `should_stop()` is also
asked (with 0 bars processed) after loading the data and after computing the signals. Each
closed trade is logged (one INFO line) before the progress point that covers its exit, so logs and
progress arrive in bar order. A run logs its first `log_trades` closed trades (1,000 by default)
and then one line that counts the rest: a million-bar run closes tens of thousands, which nobody
reads line by line and which would cost every watcher of the stream (`result.trades` has them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import numpy as np
import pandas as pd

from .errors import BacktestCancelled, ParamError
from .ledger import Ledger

_EPOCH = datetime(1970, 1, 1)

#: Settings of what a run logs (run_backtest's keywords, REST body fields).
LOG_SETTINGS = ("log_trades",)
#: Closed trades a run logs one line each unless `log_trades` says otherwise.
DEFAULT_LOG_TRADES = 1000


def trade_log_limit(log_trades: Any) -> int | None:
    """How many closed trades to log for the `log_trades` setting: ``True`` every one (None),
    ``False`` none, an integer N >= 0 the first N; ParamError otherwise."""
    if isinstance(log_trades, bool):
        return None if log_trades else 0
    if isinstance(log_trades, int) and log_trades >= 0:
        return log_trades
    raise ParamError(
        "log_trades",
        f"log_trades must be true, false or an integer >= 0 (the number of closed trades "
        f"logged), got {log_trades!r}",
    )


class RunObserver(Protocol):
    """Receives a run's lifecycle synchronously from the engine; every call must be cheap.

    Errors and cancellation are not observer calls: the engine raises.
    """

    def on_start(self, info: dict[str, Any]) -> None:
        """strategy, params, data, initial_balance, commission, total_bars,
        first_bar_time, last_bar_time (ISO 8601)."""

    def on_progress(
        self,
        *,
        bars_processed: int,
        total_bars: int,
        trades_count: int,
        pnl: float,
        equity: float,
        time: str | None,
        price: float | None,
    ) -> None:
        """Every `progress_every` bars in bar order, and once at bars_processed == total_bars;
        `time` and `price` are the last processed bar's (ISO 8601) time and close, so a chart
        can mark equity to market while the run goes."""

    def progress_due(self) -> bool:
        """Optional: whether an ``on_progress`` now would be reported. A watcher that folds
        progress to a rate says False between two reports, and the engine then skips the
        call (a run has thousands of progress points); the last one always comes."""

    def on_log(self, level: int, source: str, message: str) -> None:
        """A log line of the run (a `logging` level): `source` is "engine" (start, trades, end,
        warnings) or "strategy" (`Strategy.log`). Lines below the observer's optional
        `log_level` attribute (default INFO) are never formatted."""

    def on_complete(self, metrics: dict[str, Any]) -> None:
        """The final metrics (the `backtest_complete` keys)."""


#: Where a run's lines go when its observer takes none: the standard library's logging.
ENGINE_LOGGER = logging.getLogger("qm_jupyter.engine")


class RunLog:
    """A run's log lines, sent to its observer's ``on_log`` (or, without one, to the
    ``qm_jupyter.engine`` logger); a line below the level is never formatted."""

    def __init__(self, observer: RunObserver | None) -> None:
        on_log = getattr(observer, "on_log", None)
        if on_log is None:
            self._emit = self._to_logging
            self.level = ENGINE_LOGGER.getEffectiveLevel()
        else:
            self._emit = on_log
            self.level = getattr(observer, "log_level", logging.INFO)

    def enabled(self, level: int) -> bool:
        return level >= self.level

    def __call__(self, level: int, source: str, message: str, *args: Any) -> None:
        if level >= self.level:
            self._emit(level, source, message % args if args else message)

    @staticmethod
    def _to_logging(level: int, source: str, message: str) -> None:
        logger = ENGINE_LOGGER if source == "engine" else ENGINE_LOGGER.getChild(source)
        logger.log(level, "%s", message)


def checkpoints(total_bars: int, every: int) -> list[int]:
    """Bar counts at which progress is reported: every `every` bars, and always the total."""
    points = list(range(every, total_bars, every))
    points.append(total_bars)
    return points


class Progress:
    """Reports one progress point: checks for cancellation, then tells the observer."""

    def __init__(
        self,
        total_bars: int,
        initial_balance: float,
        observer: RunObserver | None,
        should_stop: Callable[[], bool] | None,
        times: BarTimes | None = None,
        close: np.ndarray | None = None,
    ) -> None:
        self.total_bars = total_bars
        self.initial_balance = initial_balance
        self.observer = observer
        self.should_stop = should_stop
        self.times = times
        self.close = close
        self._due = getattr(observer, "progress_due", None)

    def check_stop(self, bars_processed: int) -> None:
        """Raise BacktestCancelled if the caller asked the run to stop."""
        if self.should_stop is not None and self.should_stop():
            raise BacktestCancelled(bars_processed)

    def __call__(self, bars_processed: int, trades_count: int, equity: float) -> None:
        self.check_stop(bars_processed)
        due = self._due
        if due is not None and bars_processed < self.total_bars and not due():
            return
        if self.observer is not None:
            last = bars_processed - 1
            self.observer.on_progress(
                bars_processed=bars_processed,
                total_bars=self.total_bars,
                trades_count=trades_count,
                pnl=equity - self.initial_balance,
                equity=equity,
                time=None if self.times is None or last < 0 else self.times.iso(last),
                price=None if self.close is None or last < 0 else float(self.close[last]),
            )


def iso_times(times: pd.DatetimeIndex) -> list[str]:
    """ISO 8601 strings as ``Timestamp.isoformat`` writes them (with the zone's offset when
    the times have one): at once for naive or UTC times on whole seconds, the usual bars,
    else one by one."""
    if times.tz is None or str(times.tz) == "UTC":
        wall = times.tz_localize(None).to_numpy()
        seconds = wall.astype("datetime64[s]")
        if (seconds == wall).all():
            text = np.datetime_as_string(seconds, unit="s").tolist()
            return text if times.tz is None else [t + "+00:00" for t in text]
    return [t.isoformat() for t in times]


class BarTimes:
    """ISO 8601 times of a run's bars, cheap one at a time (integers, no pandas per call)."""

    def __init__(self, index: pd.DatetimeIndex) -> None:
        self._index = index
        self._micros = index.as_unit("us").asi8
        self._tz = index.tz

    def iso(self, bar: int) -> str:
        moment = _EPOCH + timedelta(microseconds=int(self._micros[bar]))
        if self._tz is not None:
            moment = moment.replace(tzinfo=UTC).astimezone(self._tz)
        return moment.isoformat()

    def iso_many(self, bars: np.ndarray) -> list[str]:
        """``iso`` of many bars (see :func:`iso_times`)."""
        return iso_times(self._index[bars])


class TradeLog:
    """Formats and logs closed trades up to `limit` (None: every one); does nothing cheaply
    when INFO is disabled or the limit is reached (`enabled` turns False).

    Each line is formatted at once and handed to the run's log; a vectorized run formats
    the bar times of the trades it logs at once.
    """

    MESSAGE = "Trade %d: %s %.6g @ %.6g on %s, exit @ %.6g on %s (%s), pnl %+.2f (%+.2f%%)"

    def __init__(
        self, run_log: RunLog, times: BarTimes, limit: int | None = DEFAULT_LOG_TRADES
    ) -> None:
        self.run_log = run_log
        self.times = times
        self.limit = limit
        self.logged = 0
        self.enabled = run_log.enabled(logging.INFO) and limit != 0

    def closed(self, number: int, size: float, entry_bar: int, exit_bar: int, *trade: Any) -> None:
        """Log trade `number` (1-based) given by its signed size and bars, then the fields of
        :meth:`log` after the times (entry_price, exit_price, reason, pnl, ret)."""
        if self.enabled:
            iso = self.times.iso
            self.log(number, size, iso(entry_bar), iso(exit_bar), *trade)

    def log(
        self,
        number: int,
        size: float,
        entry_time: str,
        exit_time: str,
        entry_price: float,
        exit_price: float,
        reason: str,
        pnl: float,
        ret: float,
    ) -> None:
        """Log closed trade `number` (side, size, prices, exit reason) whose bar times are
        already formatted."""
        side = "long" if size > 0 else "short"
        args = (number, side, abs(size), entry_price, entry_time, exit_price, exit_time, reason)
        self.run_log(logging.INFO, "engine", self.MESSAGE % (*args, pnl, ret * 100.0))
        self.logged += 1
        if self.logged == self.limit:
            self.enabled = False

    def finish(self, closed: int) -> None:
        """Say how many of the run's `closed` trades were past the limit and not logged."""
        if closed > self.logged and self.limit is not None and self.run_log.enabled(logging.INFO):
            self.run_log(
                logging.INFO,
                "engine",
                "Trades %d to %d are not logged (log_trades=%d; true logs every trade)",
                self.logged + 1,
                closed,
                self.limit,
            )


def report_ledger(
    ledger: Ledger, equity: np.ndarray, points: list[int], progress: Progress, trade_log: TradeLog
) -> None:
    """The reporting pass of a vectorized run: trade logs and progress points in bar order."""
    counts = np.searchsorted(ledger.exit_bar, points, side="left").tolist()
    marks = equity[np.asarray(points) - 1].tolist()
    last = len(ledger.exit_bar) if trade_log.limit is None else trade_log.limit
    trades = _trade_rows(ledger, trade_log, last) if trade_log.enabled else None
    for bars, count, mark in zip(points, counts, marks, strict=True):
        if trades is not None:
            while trade_log.logged < min(count, last):
                trade_log.log(trade_log.logged + 1, *next(trades))
        progress(bars, count, mark)


def _trade_rows(ledger: Ledger, trade_log: TradeLog, last: int) -> Iterator[tuple[Any, ...]]:
    """The fields of :meth:`TradeLog.log` for the ledger's first `last` trades."""
    return zip(
        ledger.units[:last].tolist(),
        trade_log.times.iso_many(ledger.entry_bar[:last]),
        trade_log.times.iso_many(ledger.exit_bar[:last]),
        ledger.entry_price[:last].tolist(),
        ledger.exit_price[:last].tolist(),
        ledger.exit_reason[:last].tolist(),
        ledger.pnl[:last].tolist(),
        ledger.returns[:last].tolist(),
        strict=True,
    )

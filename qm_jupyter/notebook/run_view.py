"""One run's state, folded from its events: what a display shows, bounded in size.

Folding is cheap and happens for every event; rendering (see :mod:`.widget`) is
throttled and reads this state. The log keeps only the newest lines but counts every
line per level, so a display can say how many it hides. The plain-text summary is
what a notebook shows where widgets do not render.

Progress and log agree at every moment: the engine logs each trade before the progress
point that covers it, and the streamer folds progress points (20 a second) but never
log lines, so a stream's newest log lines are often ahead of its newest progress (trade
92 in the log beside "0 trades"). Once a run reports progress, its log lines are held
until the next progress point (or the run's end) shows them together with the counts
that include them; lines held longer than :data:`HOLD_SECONDS` (a run that reports
progress rarely) are shown anyway by whoever renders.
"""

from __future__ import annotations

import copy
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from ..engine.stats import WIRE_NAMES
from ..events import (
    BACKTEST_CANCELLED,
    BACKTEST_COMPLETE,
    BACKTEST_ERROR,
    BACKTEST_PROGRESS,
    BACKTEST_START,
    LOG_ENTRY,
    TERMINAL_STATUS,
    Event,
)

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MAX_LOG_LINES = 500
MAX_CURVE_POINTS = 2000
#: The longest a log line waits for the progress point that covers it.
HOLD_SECONDS = 1.0
#: The ETA shows once the pace is measured over this many seconds and the run is this far.
ETA_MIN_SECONDS = 2.0
ETA_MIN_PERCENT = 1.0
#: The metrics a display shows, in order: key -> (label, format).
METRIC_FORMATS = {
    "final_balance": ("Final balance", "{:,.2f}"),
    "total_return": ("Total return", "{:+.2%}"),
    "total_trades": ("Trades", "{:,d}"),
    "win_rate": ("Win rate", "{:.1%}"),
    "sharpe_ratio": ("Sharpe", "{:.2f}"),
    "max_drawdown": ("Max drawdown", "{:.2%}"),
}


class CurvePoint(NamedTuple):
    """One progress point as a chart draws it: the equity marked to market at the close of
    the last bar processed (``time``/``price`` are None from runs that did not send them)."""

    bars: int
    equity: float
    time: str | None = None
    price: float | None = None


@dataclass(frozen=True, slots=True)
class LogLine:
    """One ``log_entry`` as a display shows it."""

    time: str
    level: str
    module: str
    message: str


@dataclass
class RunView:
    """The folded state of one run (``status`` is ``waiting`` until its start event)."""

    backtest_id: str
    status: str = "waiting"
    last_seq: int = 0
    start: dict[str, Any] = field(default_factory=dict)
    progress: dict[str, Any] = field(default_factory=dict)
    progress_at: str | None = None
    first_progress: tuple[float, str] | None = None
    metrics: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    cancelled_bars: int | None = None
    logs: deque[LogLine] = field(default_factory=lambda: deque(maxlen=MAX_LOG_LINES))
    log_counts: Counter[str] = field(default_factory=Counter)
    curve: list[CurvePoint] = field(default_factory=list)
    held: deque[LogLine] = field(default_factory=lambda: deque(maxlen=MAX_LOG_LINES))
    held_counts: Counter[str] = field(default_factory=Counter)
    held_since: float | None = None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATUS.values()

    def copy(self) -> RunView:
        return copy.deepcopy(self)

    def apply(self, event: Event) -> None:
        """Fold one event in; events at or before ``last_seq`` (replays) are ignored."""
        if event.seq <= self.last_seq or self.finished:
            return
        self.last_seq = event.seq
        data = event.data
        if event.type == BACKTEST_START:
            self.status, self.start = "running", data
        elif event.type == BACKTEST_PROGRESS:
            self._apply_progress(data, event.timestamp)
        elif event.type == LOG_ENTRY:
            self._apply_log(data, event.timestamp)
        elif event.type == BACKTEST_COMPLETE:
            self.metrics = data
        elif event.type == BACKTEST_ERROR:
            self.error = data
        elif event.type == BACKTEST_CANCELLED:
            self.cancelled_bars = data.get("bars_processed")
        self.status = TERMINAL_STATUS.get(event.type, self.status)
        if event.type != LOG_ENTRY:
            self._show_held()

    def release_held(self, since: float) -> bool:
        """Show the held lines if they have been waiting since ``since`` (a
        ``time.monotonic()``) or longer; True if that changed what is shown."""
        if self.held_since is None or self.held_since > since:
            return False
        self._show_held()
        return True

    def _apply_log(self, data: dict[str, Any], timestamp: str) -> None:
        level = str(data.get("level", "INFO"))
        line = LogLine(
            _clock(data.get("timestamp") or timestamp),
            level,
            str(data.get("module", "")),
            str(data.get("message", "")),
        )
        if not self.progress:  # no counts to disagree with yet
            self.log_counts[level] += 1
            self.logs.append(line)
            return
        if self.held_since is None:
            self.held_since = time.monotonic()
        self.held_counts[level] += 1
        self.held.append(line)

    def _show_held(self) -> None:
        self.logs.extend(self.held)
        self.log_counts.update(self.held_counts)
        self.held.clear()
        self.held_counts.clear()
        self.held_since = None

    def _apply_progress(self, data: dict[str, Any], timestamp: str) -> None:
        if self.status == "waiting":
            self.status = "running"
        self.progress, self.progress_at = data, timestamp
        if self.first_progress is None:
            self.first_progress = (float(data.get("progress") or 0.0), timestamp)
        bars, equity = data.get("bars_processed"), data.get("equity")
        if isinstance(bars, int) and isinstance(equity, int | float):
            price = data.get("price")
            price = float(price) if isinstance(price, int | float) else None
            self.curve.append(CurvePoint(bars, float(equity), data.get("time"), price))
            if len(self.curve) > MAX_CURVE_POINTS:
                self.curve = [*self.curve[:-1:2], self.curve[-1]]

    # -- what displays read -------------------------------------------------------------

    @property
    def percent(self) -> float:
        if self.status == "completed":
            return 100.0
        return float(self.progress.get("progress") or 0.0)

    @property
    def total_bars(self) -> int | None:
        return self.progress.get("total_bars") or self.start.get("total_bars")

    def eta_seconds(self) -> float | None:
        """Time left at the pace since the first progress point (which leaves out loading
        and set-up); None until that pace is measured over :data:`ETA_MIN_SECONDS` and the
        run is :data:`ETA_MIN_PERCENT` done, and after the end."""
        percent = self.percent
        if self.finished or not 0 < percent < 100 or self.first_progress is None:
            return None
        first_percent, first_at = self.first_progress
        elapsed = (
            _parse_time(self.progress_at or first_at) - _parse_time(first_at)
        ).total_seconds()
        gained = percent - first_percent
        if elapsed < ETA_MIN_SECONDS or percent < ETA_MIN_PERCENT or gained <= 0:
            return None
        return elapsed * (100.0 - percent) / gained

    def title(self) -> str:
        """``strategy(params) on data``, as far as known."""
        strategy = self.start.get("strategy") or "backtest"
        params = ", ".join(f"{k}={_round(v)}" for k, v in (self.start.get("params") or {}).items())
        data = describe_data(self.start.get("data"))
        return f"{strategy}({params})" + (f" on {data}" if data else "")

    def progress_line(self) -> str:
        """``42.0% · 4,200/10,000 bars · 12 trades · P&L +1.23 · ETA 3s``."""
        parts = [f"{self.percent:.1f}%"]
        bars, total = self.progress.get("bars_processed"), self.total_bars
        if bars is not None:
            parts.append(f"{bars:,}/{total:,} bars" if total else f"{bars:,} bars")
        trades = self.progress.get("trades_count")
        if self.metrics and self.metrics.get("total_trades") is not None:
            trades = self.metrics["total_trades"]
        if trades is not None:
            parts.append(f"{trades:,} trades")
        pnl = self.progress.get("pnl")
        if pnl is not None:
            parts.append(f"P&L {pnl:+,.2f}")
        eta = self.eta_seconds()
        if eta is not None:
            parts.append(f"ETA {eta:,.0f}s")
        return " · ".join(parts)

    def outcome_line(self) -> str:
        """The metrics, the error or where the run stopped ('' while it runs)."""
        if self.metrics is not None:
            return " · ".join(f"{label} {text}" for label, text in format_metrics(self.metrics))
        if self.error is not None:
            return f"error: {self.error.get('error_type', 'Error')}: {self.error.get('error')}"
        if self.status == "cancelled":
            total = self.total_bars
            at = f"{self.cancelled_bars or 0:,}" + (f" of {total:,}" if total else "")
            return f"cancelled at bar {at}"
        return ""

    def summary(self) -> str:
        """A few lines of plain text that read well where widgets do not render."""
        lines = [f"Backtest {self.backtest_id}: {self.title()} [{self.status}]"]
        if self.status != "waiting":
            lines.append("  " + self.progress_line())
        outcome = self.outcome_line()
        if outcome:
            lines.append("  " + outcome)
        return "\n".join(lines)


def format_metrics(metrics: dict[str, Any]) -> list[tuple[str, str]]:
    """``(label, text)`` of each shown metric; undefined values read ``n/a``."""
    rows = []
    for key, (label, pattern) in METRIC_FORMATS.items():
        value = metrics.get(key)
        rows.append((label, "n/a" if value is None else pattern.format(value)))
    return rows


def format_stats(stats: dict[str, Any]) -> list[tuple[str, str]]:
    """``(label, text)`` of each statistic of ``backtest_complete``'s ``stats``, in order:
    labelled with the engine's names, durations as ``1 day, 2:03:04``, undefined ``n/a``."""
    rows = []
    for key, value in stats.items():
        label = WIRE_NAMES.get(key, key)
        if value is None:
            text = "n/a"
        elif label in ("Start", "End"):
            text = _parse_time(value).isoformat(" ")
        elif label.endswith("Duration"):
            text = str(timedelta(seconds=round(value)))
        elif isinstance(value, int) or label.endswith(("[%]", "[$]")):
            text = f"{value:,.2f}" if isinstance(value, float) else f"{value:,}"
        else:
            text = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.3f}"
        rows.append((label, text))
    return rows


def describe_data(data: Any) -> str:
    """A short name for a run's data source (as in ``backtest_start``)."""
    if not isinstance(data, dict):
        return ""
    if "sample" in data:
        bars = data.get("bars")
        return f"sample {data['sample']} ({bars:,} bars)" if bars else f"sample {data['sample']}"
    if "path" in data:
        return str(data["path"])
    if "dataframe" in data:
        rows = (data["dataframe"] or {}).get("rows")
        return f"a DataFrame ({rows:,} rows)" if rows else "a DataFrame"
    return ""


def _round(value: Any) -> Any:
    """A float as people read it (``0.3``, not ``0.30000000000000004``)."""
    return f"{value:.6g}" if isinstance(value, float) else value


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _clock(text: str) -> str:
    """``HH:MM:SS.mmm`` of an ISO timestamp (the date adds nothing in a live log)."""
    try:
        return _parse_time(text).strftime("%H:%M:%S.%f")[:-3]
    except ValueError:
        return text

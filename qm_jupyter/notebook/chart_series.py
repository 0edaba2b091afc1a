"""The series a run's chart draws, from whatever the run has told so far.

Three sources, from coarse to exact: the progress points of a run still going (the equity
marked to market at each point's last close, so the chart fills in live), the
``equity_curve`` of ``backtest_complete`` (a server run whose end carried no chart), and
the engine's :func:`~qm_jupyter.engine.chart_data.run_chart` (OHLC buckets, equity, the
deepest drawdown per bucket, trades), sent as ``backtest_complete``'s ``chart`` by kernel
and server runs alike. Each is bounded (run_chart's buckets, the view's halved progress
points), so a 10M-bar run never sends millions of points to a browser.
Plain lists only: the plotly figure and the matplotlib image both draw a
:class:`ChartSeries`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .run_view import CurvePoint, RunView

#: Trade marker groups: (name, which end of the trade, side, which P&L).
MARKER_GROUPS = (
    ("Long entry", "entry", "long"),
    ("Short entry", "entry", "short"),
    ("Exit (profit)", "exit", "profit"),
    ("Exit (loss)", "exit", "loss"),
)


@dataclass
class Markers:
    """One group of trade markers: where they are and what hovering them says."""

    x: list[str] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    text: list[str] = field(default_factory=list)


@dataclass
class ChartSeries:
    """What the run's chart shows; ``ohlc`` only from a run_chart (candles), else ``close``
    (a line, possibly empty). ``x`` are ISO times, or bar numbers for a run whose progress
    points carried no time."""

    x: list[Any]
    close: list[float | None]
    equity: list[float]
    drawdown: list[float]
    ohlc: tuple[list[float], list[float], list[float], list[float]] | None = None
    markers: dict[str, Markers] = field(default_factory=dict)
    trades_shown: int = 0
    trades_total: int = 0
    #: live (progress points), curve (equity_curve only) or full (run_chart).
    source: str = "live"

    @property
    def empty(self) -> bool:
        return len(self.x) < 2

    def note(self) -> str:
        """What the chart is made of, said under it."""
        if self.source == "live":
            return "live: equity marked to market at each progress point"
        if self.source == "curve":
            return "the run's equity curve (no prices or trades were sent)"
        shown = f"{self.trades_shown:,} trades marked"
        if self.trades_shown < self.trades_total:
            shown += f" (the {self.trades_shown:,} of largest P&L of {self.trades_total:,})"
        return f"{len(self.x):,} buckets of bars (extremes kept) · {shown}"


def series_for(view: RunView) -> ChartSeries:
    """The best series the run has: ``backtest_complete``'s ``chart``, else its
    ``equity_curve`` (a server that sent no chart), else its progress points."""
    metrics = view.metrics or {}
    chart = metrics.get("chart")
    if chart and len(chart.get("time") or ()) > 1:
        return full_series(chart)
    curve = metrics.get("equity_curve")
    if curve and len(curve) > 1:
        return curve_series(curve)
    return live_series(view.curve)


def live_series(points: Sequence[CurvePoint]) -> ChartSeries:
    """From progress points: the equity and the close they were marked to, by time."""
    timed = all(point.time is not None for point in points)
    x = [point.time if timed else point.bars for point in points]
    equity = [point.equity for point in points]
    close = [point.price for point in points]
    return ChartSeries(x, close, equity, drawdown_of(equity), source="live")


def curve_series(curve: Sequence[Sequence[Any]]) -> ChartSeries:
    """From ``equity_curve`` pairs ``[iso_time, equity]`` (no prices)."""
    equity = [float(value) for _, value in curve]
    return ChartSeries([t for t, _ in curve], [], equity, drawdown_of(equity), source="curve")


def full_series(chart: dict[str, Any]) -> ChartSeries:
    """From :func:`~qm_jupyter.engine.chart_data.run_chart`'s dict: candles, trades."""
    trades = chart.get("trades") or []
    return ChartSeries(
        list(chart["time"]),
        list(chart["close"]),
        list(chart["equity"]),
        list(chart["drawdown"]),
        ohlc=(list(chart["open"]), list(chart["high"]), list(chart["low"]), list(chart["close"])),
        markers=trade_markers(trades),
        trades_shown=len(trades),
        trades_total=int(chart.get("trades_total", len(trades))),
        source="full",
    )


def trade_markers(trades: Sequence[dict[str, Any]]) -> dict[str, Markers]:
    """Each trade's entry (by side) and exit (by the sign of its P&L), with a read-out."""
    groups = {name: Markers() for name, _, _ in MARKER_GROUPS}
    for trade in trades:
        side = "long" if trade["size"] > 0 else "short"
        pnl = float(trade["pnl"])
        text = (
            f"{side} {abs(trade['size']):g} @ {trade['entry_price']:.6g} → "
            f"{trade['exit_price']:.6g}<br>P&L {pnl:+,.2f} ({trade.get('exit_reason') or 'exit'})"
        )
        entry = groups["Long entry" if side == "long" else "Short entry"]
        exit_ = groups["Exit (profit)" if pnl >= 0 else "Exit (loss)"]
        for group, when, price in (
            (entry, trade["entry_time"], trade["entry_price"]),
            (exit_, trade["exit_time"], trade["exit_price"]),
        ):
            group.x.append(when)
            group.y.append(float(price))
            group.text.append(text)
    return groups


def drawdown_of(equity: Sequence[float]) -> list[float]:
    """The fall from the running peak at each point (a fraction <= 0)."""
    values = np.asarray(equity, dtype=float)
    if values.size == 0:
        return []
    with np.errstate(divide="ignore", invalid="ignore"):
        drawdown = values / np.maximum.accumulate(values) - 1.0
    return np.nan_to_num(drawdown, nan=0.0, posinf=0.0, neginf=0.0).tolist()

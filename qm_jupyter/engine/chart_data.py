"""What a run's chart needs, reduced to what a browser can draw at once.

A run of millions of bars becomes at most ``buckets`` buckets of consecutive bars, each an
OHLC candle (first open, highest high, lowest low, last close), the equity at its last close
and the deepest drawdown inside it, so the chart keeps the extremes the eye looks for: the
lowest candle is the lowest price, the deepest drawdown bucket is the run's max drawdown.
Trades beyond ``max_trades`` are reduced to those with the largest absolute P&L (the run's
total is kept beside them).

>>> from qm_jupyter.engine import load_prices, run_backtest
>>> prices = load_prices({"sample": "gbm", "bars": 5000, "seed": 1})
>>> result = run_backtest(prices, "sma_crossover")
>>> chart = run_chart(prices, result.equity, result.trades, buckets=100)
>>> len(chart["time"]), chart["trades_total"] == len(result.trades)
(100, True)
>>> min(chart["drawdown"]) == result.metrics["max_drawdown"]
True
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .metrics import underwater
from .reporting import iso_times

#: The trade fields a chart marks (entries and exits, long and short).
CHART_TRADE_FIELDS = (
    "entry_time",
    "exit_time",
    "entry_price",
    "exit_price",
    "size",
    "pnl",
    "exit_reason",
)


def run_chart(
    prices: pd.DataFrame,
    equity: pd.Series,
    trades: pd.DataFrame,
    *,
    buckets: int = 1000,
    max_trades: int = 1000,
) -> dict[str, Any]:
    """The chart of a run as JSON-ready lists: ``time`` (ISO, each bucket's first bar),
    ``open``/``high``/``low``/``close``, ``equity`` (at each bucket's last close),
    ``drawdown`` (the deepest in each bucket, a fraction <= 0), ``trades`` (dicts of
    :data:`CHART_TRADE_FIELDS`, in entry order) and ``trades_total``."""
    n = len(prices)
    if n == 0:
        empty: dict[str, Any] = {k: [] for k in ("time", "open", "high", "low", "close")}
        return {**empty, "equity": [], "drawdown": [], "trades": [], "trades_total": 0}
    starts = np.unique(np.linspace(0, n, min(buckets, n) + 1).astype(np.int64)[:-1])
    ends = np.append(starts[1:], n) - 1
    values = equity.to_numpy(dtype=float)
    # The lowest equity / peak of each bucket, less 1 (x - 1 is monotone: the same numbers as
    # the deepest drawdown), from one n-sized array.
    drawdown = np.minimum.reduceat(underwater(values), starts) - 1.0
    ohlc = {name: prices[name].to_numpy(dtype=float) for name in ("open", "high", "low", "close")}
    return {
        "time": iso_times(prices.index[starts]),
        "open": ohlc["open"][starts].tolist(),
        "high": np.maximum.reduceat(ohlc["high"], starts).tolist(),
        "low": np.minimum.reduceat(ohlc["low"], starts).tolist(),
        "close": ohlc["close"][ends].tolist(),
        "equity": values[ends].tolist(),
        "drawdown": drawdown.tolist(),
        "trades": _chart_trades(trades, max_trades),
        "trades_total": len(trades),
    }


def _chart_trades(trades: pd.DataFrame, max_trades: int) -> list[dict[str, Any]]:
    """The trades to mark: all of them, or the ``max_trades`` of largest absolute P&L."""
    if len(trades) > max_trades:
        keep = np.sort(np.argsort(-trades["pnl"].abs().to_numpy(), kind="stable")[:max_trades])
        trades = trades.iloc[keep]
    columns = {
        "entry_time": iso_times(pd.DatetimeIndex(trades["entry_time"])),
        "exit_time": iso_times(pd.DatetimeIndex(trades["exit_time"])),
        **{
            name: trades[name].tolist()
            for name in ("entry_price", "exit_price", "size", "pnl", "exit_reason")
        },
    }
    rows = zip(*columns.values(), strict=True)
    return [dict(zip(CHART_TRADE_FIELDS, row, strict=True)) for row in rows]

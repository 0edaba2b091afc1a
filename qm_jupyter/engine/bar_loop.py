"""The per-bar simulation loop for `Strategy` subclasses.

Lean on purpose: prices are Python floats from `.tolist()`, the loop touches no pandas, and all
the order handling is the broker's (`broker.py`). On each bar i from the warm-up on, the broker
fills what bar i fills and marks the equity at its close, then `next()` runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import copysign
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from .broker import Broker, Position, Settings, Trade, _OutOfMoney
from .reporting import Progress, RunLog, TradeLog
from .result import FLOAT_COLUMNS, TRADE_COLUMNS
from .strategy import Strategy


@dataclass(frozen=True)
class BarRun:
    """What a per-bar run leaves: its closed trades as a frame, the equity at every close and
    the bar where `next()` first ran."""

    trades: pd.DataFrame
    equity: NDArray[np.float64]
    start: int


def attach(
    strategy: Strategy,
    prices: pd.DataFrame,
    settings: Settings,
    run_log: RunLog,
    trade_log: TradeLog,
) -> Broker:
    """Give the strategy its data, broker and log (before its `init()`)."""
    strategy.data, strategy._cols, strategy._indicators = prices, {}, []
    strategy._log = run_log
    columns = tuple(strategy._column(c) for c in ("open", "high", "low", "close"))

    def on_close(trade: Trade) -> None:
        if trade_log.enabled:
            trade_log.closed(
                len(broker.closed_trades),
                trade.size,
                trade.entry_bar,
                trade.exit_bar,
                trade.entry_price,
                trade.exit_price,
                trade.exit_reason,
                trade.pl,
                broker.trade_return(trade),
            )

    broker = Broker(settings, columns, prices.index, on_close, run_log)  # type: ignore[arg-type]
    strategy._broker, strategy._position = broker, Position(broker)
    return broker


def run_bars(strategy: Strategy, points: list[int], progress: Progress) -> BarRun:
    """Run `strategy.next()` from its warm-up on, its broker filling orders bar by bar."""
    broker = strategy._broker
    settings = broker.settings
    n = len(broker.closes)
    start = strategy._warmup() + settings.warmup_offset
    equity = [settings.initial_balance] * n
    next_, fill = strategy.next, broker.next
    running = True
    lo = 0
    for end in points:
        if running:
            for i in range(max(lo, start), end):
                try:
                    equity[i] = fill(i)
                except _OutOfMoney:
                    equity[i:] = [0.0] * (n - i)
                    running = False
                    break
                strategy.i = i
                next_()
            if running and end == n and settings.finalize_trades and start < n:
                equity[n - 1] = broker.finalize(n)
        progress(end, len(broker.closed_trades), equity[end - 1])
        lo = end
    return BarRun(trades_table(broker), np.array(equity, dtype=np.float64), min(start, n))


def trades_table(broker: Broker) -> pd.DataFrame:
    """`result.trades` of a per-bar run: one row per closed trade (or closed piece)."""
    trades = broker.closed_trades
    return _table(
        broker,
        trades,
        [t.exit_bar for t in trades],
        [t.exit_price for t in trades],
        [t.pl for t in trades],
        [t.commission for t in trades],
        [broker.trade_return(t) for t in trades],
        [t.exit_reason for t in trades],
    )


def open_trades_table(broker: Broker) -> pd.DataFrame:
    """The trades still open at the end, in `trades_table`'s columns, marked at the last
    close: exit_bar the last bar, `pnl` net of the entry fee paid (`commission`), and
    exit_reason "open"."""
    trades = broker.trades
    last = len(broker.closes) - 1
    mark = broker.closes[last]
    pnl = [t.size * (mark - t.entry_price) - t._fee for t in trades]
    if broker.settings.return_basis == "notional":
        returns = [
            copysign(1.0, t.size) * (mark / t.entry_price - 1.0)
            - t._fee / (abs(t.size) * t.entry_price)
            for t in trades
        ]
    else:
        returns = [
            p / (abs(t.size) * t.entry_price + t._fee) for p, t in zip(pnl, trades, strict=True)
        ]
    k = len(trades)
    return _table(
        broker,
        trades,
        [last] * k,
        [mark] * k,
        pnl,
        [t._fee for t in trades],
        returns,
        ["open"] * k,
    )


def _table(
    broker: Broker,
    trades: list[Trade],
    exit_bar: list[Any],
    exit_price: list[Any],
    pnl: list[float],
    commission: list[float],
    returns: list[float],
    reasons: list[Any],
) -> pd.DataFrame:
    index = broker.index
    nan = float("nan")
    rows: dict[str, Any] = {
        "size": [t.size for t in trades],
        "entry_bar": np.array([t.entry_bar for t in trades], dtype=np.int64),
        "exit_bar": np.array(exit_bar, dtype=np.int64),
    }
    rows["entry_time"] = index[rows["entry_bar"]]
    rows["exit_time"] = index[rows["exit_bar"]]
    rows.update(
        {
            "entry_price": [t.entry_price for t in trades],
            "exit_price": exit_price,
            "sl": [nan if t.sl is None else t.sl for t in trades],
            "tp": [nan if t.tp is None else t.tp for t in trades],
            "pnl": pnl,
            "commission": commission,
            "return": returns,
            "tag": pd.Series([t.tag for t in trades], dtype=object),
            "exit_reason": pd.Series(reasons, dtype=object),
        }
    )
    return pd.DataFrame(rows, columns=list(TRADE_COLUMNS)).astype(FLOAT_COLUMNS)

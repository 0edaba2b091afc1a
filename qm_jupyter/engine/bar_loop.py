"""The per-bar simulation loop for `Strategy` subclasses.

Lean on purpose: prices are Python floats from `.tolist()`, the loop touches no pandas, and the
broker state lives in a few attributes of the strategy. Same conventions as the vectorized path
(see `ledger.py`), with sizing: `buy(size)` spends that fraction of the cash.
"""

from __future__ import annotations

import numpy as np

from .ledger import Ledger
from .reporting import Progress, TradeLog
from .strategy import Strategy


def run_bars(
    strategy: Strategy,
    initial_balance: float,
    commission: float,
    points: list[int],
    progress: Progress,
    trade_log: TradeLog,
) -> Ledger:
    """Run `strategy.next()` on every bar, filling its orders at the next open."""
    opens, closes = strategy._column("open"), strategy._column("close")
    buy_cost, sell_net = 1.0 + commission, 1.0 - commission
    n = len(opens)
    trades: list[tuple[int, int, float, float, float, float]] = []
    entry_bar, entry_price = 0, 0.0
    strategy._cash, strategy._units, strategy._order = initial_balance, 0.0, None
    next_ = strategy.next
    start = 0
    for end in points:
        for i in range(start, end):
            order = strategy._order
            if order is not None:
                strategy._order = None
                units = strategy._units
                if order > 0.0:
                    if not units:
                        entry_bar, entry_price = i, opens[i]
                        spend = strategy._cash * order
                        strategy._units = spend / (entry_price * buy_cost)
                        strategy._cash -= spend
                elif units:
                    trades.append(
                        _close(
                            strategy,
                            trade_log,
                            len(trades),
                            entry_bar,
                            entry_price,
                            i,
                            opens[i],
                            sell_net,
                            buy_cost,
                        )
                    )
            strategy.i = i
            next_()
        if end == n and strategy._units:  # forced close at the last close
            trades.append(
                _close(
                    strategy,
                    trade_log,
                    len(trades),
                    entry_bar,
                    entry_price,
                    n - 1,
                    closes[n - 1],
                    sell_net,
                    buy_cost,
                )
            )
        progress(end, len(trades), strategy._cash + strategy._units * closes[end - 1])
        start = end
    cols = list(zip(*trades, strict=True)) if trades else [()] * 6
    return Ledger(
        np.array(cols[0], dtype=np.int64),
        np.array(cols[1], dtype=np.int64),
        np.array(cols[2], dtype=np.float64),
        np.array(cols[3], dtype=np.float64),
        np.array(cols[4], dtype=np.float64),
        np.array(cols[5], dtype=np.float64),
        commission,
    )


def _close(
    strategy: Strategy,
    trade_log: TradeLog,
    count: int,
    entry_bar: int,
    entry_price: float,
    exit_bar: int,
    exit_price: float,
    sell_net: float,
    buy_cost: float,
) -> tuple[int, int, float, float, float, float]:
    """Sell the whole position, log the trade and return its ledger row."""
    units, held = strategy._units, strategy._cash
    strategy._cash = held + units * exit_price * sell_net
    strategy._units = 0.0
    trade_log.closed(
        count + 1,
        entry_bar,
        exit_bar,
        entry_price,
        exit_price,
        units,
        units * (exit_price * sell_net - entry_price * buy_cost),
        exit_price * sell_net / (entry_price * buy_cost) - 1.0,
    )
    return entry_bar, exit_bar, entry_price, exit_price, units, held

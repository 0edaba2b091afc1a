"""Trades and the equity curve of an all-in vectorized run, computed with numpy (no bar loop).

Conventions (the engine's, documented in the package docstring):

- all-in with fractional units, long or short: entering with cash V at price p takes
  V / (p * (1 + c)) units, c being the commission fraction; fees are c * units * price per side;
- equity is marked at every close: cash + units * close (units < 0 when short);
- a trade's fills (bars, prices, reasons) come from `qm_jupyter.engine.vector`; each trade
  compounds the cash the previous one left;
- the run ends when it runs out of money (a short marked at equity <= 0 is liquidated at that
  close, or an exit leaves no cash): equity is 0 from that bar on and no trade follows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

#: `result.trades`' exit_reason of each `Fills.reason` code.
REASONS = np.array(["close", "finalize", "sl", "tp", "liquidation"], dtype=object)
CLOSE, FINALIZE, SL, TP, LIQUIDATION = range(len(REASONS))


@dataclass(frozen=True)
class Fills:
    """Round trips before sizing, in entry order: where and at what price each trade enters
    (`side` +1 long, -1 short) and exits, why it exits (a `REASONS` code) and its SL/TP levels
    at the exit (NaN: none)."""

    entry_bar: NDArray[np.int64]
    exit_bar: NDArray[np.int64]
    side: NDArray[np.int8]
    entry_price: NDArray[np.float64]
    exit_price: NDArray[np.float64]
    reason: NDArray[np.int8]
    sl: NDArray[np.float64]
    tp: NDArray[np.float64]


@dataclass(frozen=True)
class Ledger:
    """Closed trades as parallel arrays, in entry order.

    A trade holds bars [entry_bar, exit_bar): it enters at entry_bar's open and exits at
    exit_bar's open or stop price, or, when forced at the end or liquidated, at exit_bar's
    close. `cash_held` is the cash while the trade is open (cash + units * close is equity).
    """

    entry_bar: NDArray[np.int64]
    exit_bar: NDArray[np.int64]
    entry_price: NDArray[np.float64]
    exit_price: NDArray[np.float64]
    units: NDArray[np.float64]
    cash_held: NDArray[np.float64]
    sl: NDArray[np.float64]
    tp: NDArray[np.float64]
    exit_reason: NDArray[np.object_]
    commission: float
    #: The run ran out of money at the last trade's exit: equity is 0 from that bar on.
    ruined: bool = False

    def __len__(self) -> int:
        return len(self.entry_bar)

    @property
    def fees(self) -> NDArray[np.float64]:
        """Commission paid on entry and exit."""
        return np.abs(self.units) * (self.entry_price + self.exit_price) * self.commission

    @property
    def proceeds(self) -> NDArray[np.float64]:
        """Cash after each exit: the cash held plus the position's value net of the exit fee."""
        exit_value = self.units * self.exit_price
        return self.cash_held + exit_value - np.abs(exit_value) * self.commission

    @property
    def pnl(self) -> NDArray[np.float64]:
        return self.units * (self.exit_price - self.entry_price) - self.fees

    @property
    def returns(self) -> NDArray[np.float64]:
        """Per-trade return on the cash committed, commissions included."""
        return self.pnl / (np.abs(self.units) * self.entry_price * (1.0 + self.commission))


def all_in_ledger(fills: Fills, initial_balance: float, commission: float) -> Ledger:
    """Size `fills` all-in, each trade with all the cash the previous one left."""
    p, x, c = fills.entry_price, fills.exit_price, commission
    # cash after / cash before: long x(1-c) / p(1+c); short (2p - x(1+c)) / p(1+c)
    growth = np.where(fills.side > 0, x * (1.0 - c), 2.0 * p - x * (1.0 + c)) / (p * (1.0 + c))
    ends = np.flatnonzero((growth <= 0) | (fills.reason == LIQUIDATION))
    k = int(ends[0]) + 1 if ends.size else len(growth)
    growth, p = growth[:k], p[:k]
    cash_before = initial_balance * np.cumprod(np.concatenate(([1.0], growth[:-1])))
    units = fills.side[:k] * cash_before / (p * (1.0 + c))
    return Ledger(
        fills.entry_bar[:k],
        fills.exit_bar[:k],
        p,
        x[:k],
        units,
        cash_before - np.abs(units) * p * c - units * p,
        fills.sl[:k],
        fills.tp[:k],
        REASONS[fills.reason[:k]],
        commission,
        bool(ends.size),
    )


def equity_curve(
    ledger: Ledger, close: NDArray[np.float64], initial_balance: float
) -> NDArray[np.float64]:
    """Equity at every close: cash + units * close, piecewise over flat and held stretches."""
    n = len(close)
    k = len(ledger)
    bounds = np.empty(2 * k + 2, dtype=np.int64)
    bounds[0], bounds[-1] = 0, n
    bounds[1:-1:2] = ledger.entry_bar
    bounds[2:-1:2] = ledger.exit_bar
    lengths = np.diff(bounds)
    units = np.zeros(2 * k + 1)
    units[1::2] = ledger.units
    cash = np.empty(2 * k + 1)
    cash[0] = initial_balance
    cash[1::2] = ledger.cash_held
    cash[2::2] = ledger.proceeds
    equity = np.repeat(units, lengths)
    equity *= close
    equity += np.repeat(cash, lengths)
    if ledger.ruined:
        equity[ledger.exit_bar[-1] :] = 0.0
    return equity

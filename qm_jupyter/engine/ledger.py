"""Trades and the equity curve, computed with numpy from fills (no per-bar Python loop).

Conventions (the engine's, documented in the package docstring):

- a signal on bar t's close fills at bar t+1's open; a signal on the last bar is ignored;
- long-only, all-in with fractional units: buying with cash V at price p gives V / (p * (1 + c))
  units, selling u units at p gives u * p * (1 - c), c being the commission fraction;
- equity is marked at every close (cash + units * close);
- a position still open at the end is closed at the last bar's close and counts as a trade; the
  last equity value is the cash after that close.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray


@dataclass(frozen=True)
class Ledger:
    """Closed trades as parallel arrays, in entry order.

    A trade holds bars [entry_bar, exit_bar): it enters at entry_bar's open and exits at
    exit_bar's open, or, when forced at the end, at exit_bar's (the last bar's) close.
    `cash_held` is the cash left aside while the trade is open (0.0 when all-in).
    """

    entry_bar: NDArray[np.int64]
    exit_bar: NDArray[np.int64]
    entry_price: NDArray[np.float64]
    exit_price: NDArray[np.float64]
    units: NDArray[np.float64]
    cash_held: NDArray[np.float64]
    commission: float
    #: The last trade was still open at the end and closed at the last close.
    finalized: bool = False

    def __len__(self) -> int:
        return len(self.entry_bar)

    @property
    def proceeds(self) -> NDArray[np.float64]:
        """Cash after each exit: what was held aside plus the sale net of commission."""
        return self.cash_held + self.units * self.exit_price * (1.0 - self.commission)

    @property
    def pnl(self) -> NDArray[np.float64]:
        c = self.commission
        return self.units * (self.exit_price * (1.0 - c) - self.entry_price * (1.0 + c))

    @property
    def returns(self) -> NDArray[np.float64]:
        """Per-trade return on the cash committed, commissions included."""
        c = self.commission
        return self.exit_price * (1.0 - c) / (self.entry_price * (1.0 + c)) - 1.0


def fill_bars(
    signals: tuple[ArrayLike, ArrayLike] | ArrayLike, n: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Entry and exit fill bars from ``(entries, exits)`` or a 0/1 target-position array.

    Entries while long and exits while flat are ignored; a bar with both an entry and an exit is
    ignored (as in vectorbt). Works on the sparse set of signal bars, so memory is O(signals).
    """
    if isinstance(signals, tuple):
        if len(signals) != 2:
            raise ValueError(f"signals tuple must be (entries, exits), got {len(signals)} items")
        entries = _bool_signal(signals[0], n, "entries")
        exits = _bool_signal(signals[1], n, "exits")
        bars = np.flatnonzero((entries ^ exits)[: n - 1])
        is_entry = entries[bars]
    else:
        target = _bool_signal(signals, n, "target position")
        changes = target[: n - 1].copy()
        changes[1:] ^= target[: n - 2]
        bars = np.flatnonzero(changes)
        is_entry = target[bars]
    # position after each signal bar is is_entry; it changes where that differs from before
    state_changes = is_entry.copy()
    state_changes[1:] ^= is_entry[:-1]
    bars = bars[state_changes] + 1
    return bars[is_entry[state_changes]], bars[~is_entry[state_changes]]


def _bool_signal(values: ArrayLike, n: int, what: str) -> NDArray[np.bool_]:
    arr = np.asarray(values)
    if arr.shape != (n,):
        got = arr.shape[0] if arr.ndim == 1 else arr.shape
        raise ValueError(f"{what} must have one value per bar: expected length {n}, got {got}")
    if arr.dtype == np.bool_:
        return arr
    if not ((arr == 0) | (arr == 1)).all():
        raise ValueError(f"{what} must be boolean or 0/1 (long-only, all-in)")
    return arr.astype(np.bool_)


def all_in_ledger(
    entry_bar: NDArray[np.int64],
    exit_bar: NDArray[np.int64],
    open_: NDArray[np.float64],
    close: NDArray[np.float64],
    initial_balance: float,
    commission: float,
) -> Ledger:
    """Trades from fill bars, each buying with all the cash the previous one left."""
    n = len(close)
    finalized = len(exit_bar) < len(entry_bar)
    if finalized:  # still long at the end: forced close at the last close
        exit_bar = np.append(exit_bar, n - 1)
        exit_price = open_[exit_bar]
        exit_price[-1] = close[n - 1]
    else:
        exit_price = open_[exit_bar]
    entry_price = open_[entry_bar]
    c = commission
    growth = exit_price * (1.0 - c) / (entry_price * (1.0 + c))
    cash_before = initial_balance * np.cumprod(np.concatenate(([1.0], growth)))[:-1]
    units = cash_before / (entry_price * (1.0 + c))
    return Ledger(
        entry_bar,
        exit_bar,
        entry_price,
        exit_price,
        units,
        np.zeros(len(entry_bar)),
        commission,
        finalized,
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
    return equity

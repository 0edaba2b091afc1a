"""Vectorized strategies: their signals and stops turned into trades with numpy.

`signals()` (or a signal function) returns, for the whole series, one of

- ``(entries, exits)``: long only;
- ``(long_entries, long_exits, short_entries, short_exits)``;
- a target position per bar: 0/1 (or booleans) long only, or -1/0/1 (1 = be long after this
  bar's close); it acts where it changes, as the entries and exits of those bars.

A signal on bar t's close acts at bar t+1's open; one on the last bar is ignored. A bar with an
entry and an exit of one side ignores both, then a bar with entries of both sides ignores them
(as vectorbt). An entry opens its side, reversing an opposite position; an exit closes its side.

Stops (run settings, fractions of the entry price): ``sl_stop`` a stop-loss, ``tp_stop`` a
take-profit, ``tsl_stop`` a trailing stop below the highest high (above the lowest low, short)
of the bars before, never below its start level. They follow the per-bar broker's rules for a
market entry with a bracket (`broker.py`): tested from the entry bar on against each bar's low
and high, SL (trailing or not) before TP when one bar reaches both, a gap through a stop fills at
the open, and an exit or reversal signal fills at the open before any stop of that bar. After a
stop the position stays flat until the next entry signal. A short marked at equity <= 0 (the
price doubled) is liquidated at that close and the run ends, as the broker does.

The fast path loops over rounds of trades, not bars: the trades the signals alone make are found
on the sparse signal bars, then every trade's window (entry to its exit signal) is searched for
its first stop at once, in bounded 2-D blocks (the trailing level is a running maximum along
each row); trades stopped early re-enter at their next entry signal in the next round.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from .errors import ParamError
from .ledger import CLOSE, FINALIZE, LIQUIDATION, SL, TP, Fills, Ledger, all_in_ledger
from .strategy import Strategy, VectorStrategy

#: The run settings of vectorized strategies' stops.
STOP_SETTINGS = ("sl_stop", "tp_stop", "tsl_stop")
_CELLS = 1 << 19  # cells of one 2-D block of stop searches (bounds their memory)
_MIN_WIDTH = 32


@dataclass(frozen=True)
class Stops:
    """A run's stops as fractions of the entry price (None: off)."""

    sl: float | None = None
    tp: float | None = None
    tsl: float | None = None

    def __bool__(self) -> bool:
        return not (self.sl is None and self.tp is None and self.tsl is None)


def check_stops(sl_stop: Any = None, tp_stop: Any = None, tsl_stop: Any = None) -> Stops:
    """The run's `Stops`, or `ParamError` naming the first setting out of range."""
    for name, value, top in (("sl_stop", sl_stop, 1.0), ("tp_stop", tp_stop, math.inf)):
        _check_fraction(name, value, top)
    _check_fraction("tsl_stop", tsl_stop, 1.0)
    return Stops(*(None if v is None else float(v) for v in (sl_stop, tp_stop, tsl_stop)))


def _check_fraction(name: str, value: Any, top: float) -> None:
    if value is None:
        return
    if not (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 < value < top
    ):
        shown = "in (0, 1)" if top == 1.0 else "> 0"
        raise ParamError(
            name, f"{name} must be a fraction of the entry price {shown} or null, got {value!r}"
        )


@dataclass(frozen=True)
class Signals:
    """Cleaned signals on the bars that carry one (all before the last bar)."""

    bars: NDArray[np.int64]
    long_entry: NDArray[np.bool_]
    long_exit: NDArray[np.bool_]
    short_entry: NDArray[np.bool_]
    short_exit: NDArray[np.bool_]


def parse_signals(signals: Any, n: int) -> Signals:
    """`Signals` from what `signals()` returned (ValueError saying what is wrong)."""
    if isinstance(signals, tuple):
        names = {
            2: ("entries", "exits"),
            4: ("long_entries", "long_exits", "short_entries", "short_exits"),
        }.get(len(signals))
        if names is None:
            raise ValueError(
                "signals tuple must be (entries, exits) or (long_entries, long_exits, "
                f"short_entries, short_exits), got {len(signals)} items"
            )
        arrays = [_bool_signal(a, n, name)[: n - 1] for a, name in zip(signals, names, strict=True)]
        bars = np.flatnonzero(np.logical_or.reduce(arrays))
        le, lx, se, sx = (
            *(a[bars] for a in arrays),
            *[np.zeros(len(bars), bool)] * (4 - len(arrays)),
        )
    else:
        target = _target(signals, n)[: n - 1]
        bars = np.flatnonzero(target != np.concatenate(([0], target[:-1])))
        new = target[bars]
        old = target[np.maximum(bars - 1, 0)] * (bars > 0)
        le, se, lx, sx = new == 1, new == -1, old == 1, old == -1
    le, lx = le & ~lx, lx & ~le
    se, sx = se & ~sx, sx & ~se
    both = le & se
    return Signals(bars, le & ~both, lx, se & ~both, sx)


def _bool_signal(values: ArrayLike, n: int, what: str) -> NDArray[np.bool_]:
    arr = _per_bar(values, n, what)
    if arr.dtype == np.bool_:
        return arr
    if not ((arr == 0) | (arr == 1)).all():
        raise ValueError(f"{what} must be boolean or 0/1")
    return arr.astype(np.bool_)


def _target(values: ArrayLike, n: int) -> NDArray[np.int8]:
    arr = _per_bar(values, n, "target position")
    if arr.dtype != np.bool_ and not ((arr == 0) | (arr == 1) | (arr == -1)).all():
        raise ValueError("target position must be 0/1 (long only) or -1/0/1, or boolean")
    return arr.astype(np.int8)


def _per_bar(values: ArrayLike, n: int, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.shape != (n,):
        got = arr.shape[0] if arr.ndim == 1 else arr.shape
        raise ValueError(f"{what} must have one value per bar: expected length {n}, got {got}")
    return arr


def _segments(sig: Signals, n: int) -> tuple[NDArray[np.int64], NDArray[np.int8], NDArray]:
    """The trades of the signals alone: (entry bar, side, exit bar or n: still open)."""
    le, lx, se, sx = sig.long_entry, sig.long_exit, sig.short_entry, sig.short_exit
    setting = le | se | (lx & sx)  # these fix the position whatever it was
    value = le.astype(np.int8) - se
    idx = np.arange(len(le))
    last_set = np.maximum.accumulate(np.where(setting, idx, -1))
    state = np.where(last_set >= 0, value[np.maximum(last_set, 0)], 0).astype(np.int8)
    for side, exits in ((1, lx & ~setting), (-1, sx & ~setting)):  # these close their side
        last_exit = np.maximum.accumulate(np.where(exits, idx, -1))
        state[(state == side) & (last_exit > last_set)] = 0
    changed = np.flatnonzero(state != np.concatenate(([0], state[:-1])))
    bars, states = sig.bars[changed], state[changed]
    ends = np.append(bars[1:] + 1, n)
    opens = states != 0
    return bars[opens] + 1, states[opens], ends[opens]


def vector_fills(sig: Signals, prices: pd.DataFrame, stops: Stops) -> Fills:
    """Every trade of `sig` under `stops` on `prices` (see the module docstring)."""
    bars = _Bars(*(prices[k].to_numpy(np.float64) for k in ("open", "high", "low", "close")))
    entry, side, end = _segments(sig, len(bars.close))
    entries_of = {1: sig.bars[sig.long_entry], -1: sig.bars[sig.short_entry]}
    parts: list[Fills] = []
    while entry.size:
        again = []
        for s in (1, -1):
            rows = side == s
            if not rows.any():
                continue
            e, x = entry[rows], end[rows]
            found = _scan(e, x, s, bars, stops)
            parts.append(found)
            stopped = (found.reason == SL) | (found.reason == TP)
            if stopped.any():  # flat until the next entry of that side before the window ends
                entries, x = entries_of[s], x[stopped]
                pos = np.searchsorted(entries, found.exit_bar[stopped])
                nxt = entries[np.minimum(pos, len(entries) - 1)]
                keep = (pos < len(entries)) & (nxt < x - 1)
                again.append((nxt[keep] + 1, np.full(keep.sum(), s, np.int8), x[keep]))
        entry, side, end = (
            (np.concatenate(a) for a in zip(*again, strict=True)) if again else (entry[:0],) * 3
        )
    if not parts:
        return _fills(entry, end, 1, bars)
    merged = [np.concatenate([getattr(p, f) for p in parts]) for f in _FIELDS]
    order = np.argsort(merged[0], kind="stable")
    return Fills(*(a[order] for a in merged))


_FIELDS = tuple(Fills.__dataclass_fields__)


@dataclass(frozen=True)
class _Bars:
    open: NDArray[np.float64]
    high: NDArray[np.float64]
    low: NDArray[np.float64]
    close: NDArray[np.float64]


def _fills(entry: NDArray[np.int64], end: NDArray[np.int64], s: int, bars: _Bars) -> Fills:
    """Trades of one side exiting at their window's end: the exit signal's open, or the last
    close when still open (no stop levels yet)."""
    n = len(bars.close)
    last = end >= n
    exit_bar = np.where(last, n - 1, end)
    k = len(entry)
    return Fills(
        entry,
        exit_bar,
        np.full(k, s, np.int8),
        bars.open[entry],
        np.where(last, bars.close[n - 1], bars.open[np.minimum(end, n - 1)]),
        np.where(last, FINALIZE, CLOSE).astype(np.int8),
        np.full(k, np.nan),
        np.full(k, np.nan),
    )


def _scan(
    entry: NDArray[np.int64], end: NDArray[np.int64], s: int, bars: _Bars, stops: Stops
) -> Fills:
    """Trades of side `s` entered at `entry`, exiting at the first stop (or liquidation) in
    [entry, end), else at `end` (see `_fills`)."""
    fills = _fills(entry, end, s, bars)
    n = len(bars.close)
    if not stops:
        if s > 0:
            return fills
        rows = np.flatnonzero(_may_liquidate(entry, end, bars))
        if not rows.size:
            return fills
    else:
        rows = np.arange(len(entry))
    p = bars.open[entry] * s  # prices are signed: a short's levels are mirrored longs'
    sl = p * (1.0 - s * stops.sl) if stops.sl is not None else np.full(len(p), -np.inf)
    tp = p * (1.0 + s * stops.tp) if stops.tp is not None else None
    tsl = None if stops.tsl is None else 1.0 - s * stops.tsl
    has_sl = stops.sl is not None or tsl is not None
    favourable, adverse = (bars.high, bars.low) if s > 0 else (bars.low, bars.high)
    peak = p.copy()
    start = entry.copy()
    level = np.full(len(p), np.nan)
    while rows.size:
        span = end[rows] - start[rows]
        width = int(min(span.max(), max(_MIN_WIDTH, _CELLS // rows.size)))
        cols = np.arange(width)
        idx = start[rows, None] + cols
        valid = cols < span[:, None]
        if start[rows[-1]] + width > n:  # (rows stay in entry order) keep the padding in range
            np.minimum(idx, n - 1, out=idx)
        fav = favourable[idx]
        if s < 0:
            np.negative(fav, out=fav)
        if tsl is not None:  # the level in force on each bar: from the bars before it
            run = np.maximum.accumulate(fav, axis=1)
            sl_at = np.empty_like(fav)
            sl_at[:, 0] = peak[rows]
            np.maximum(run[:, :-1], peak[rows, None], out=sl_at[:, 1:])
            sl_at *= tsl
            np.maximum(sl_at, sl[rows, None], out=sl_at)
        else:
            sl_at = np.broadcast_to(sl[rows, None], idx.shape)
        hits = np.zeros(idx.shape, bool)  # without stops only a liquidation ends a trade early
        if has_sl:
            worst = adverse[idx]
            if s < 0:
                np.negative(worst, out=worst)
            hit_sl = worst <= sl_at
            hits |= hit_sl
        if tp is not None:
            hits |= fav >= tp[rows, None]
        hits &= valid
        if s < 0:  # equity <= 0 at a close: cash 2V/(1+c) + units * close <= 0, at twice p
            first_liq = _first(np.greater_equal(bars.close[idx], -2.0 * p[rows, None]) & valid)
        else:
            first_liq = np.full(rows.size, width)
        first_hit = _first(hits)
        col = np.minimum(first_hit, first_liq)  # a stop on a bar comes before its close
        done = col < width
        ar = np.arange(rows.size)
        clipped = np.minimum(col, width - 1)
        if has_sl:
            level[rows] = np.where(done, sl_at[ar, clipped], level[rows])
        r = rows[done]
        bar = start[r] + col[done]
        fills.exit_bar[r] = bar
        stop = first_hit[done] <= first_liq[done]
        is_sl = stop & hit_sl[ar[done], col[done]] if has_sl else np.zeros(r.size, bool)
        o = bars.open[bar] * s
        fills.reason[r] = np.where(is_sl, SL, np.where(stop, TP, LIQUIDATION))
        price = np.where(
            is_sl,
            np.minimum(o, level[r]),
            np.maximum(o, tp[r]) if tp is not None else 0.0,
        )
        fills.exit_price[r] = np.where(stop, price * s, bars.close[bar])
        exhausted = ~done & (span <= width)
        if tsl is not None:
            last = np.minimum(span - 1, width - 1)
            peak[rows] = np.maximum(peak[rows], run[ar, last])
            level[rows[exhausted]] = np.maximum(peak[rows[exhausted]] * tsl, sl[rows[exhausted]])
        elif has_sl:
            level[rows[exhausted]] = sl[rows[exhausted]]
        keep = ~done & ~exhausted
        start[rows[keep]] += width
        rows = rows[keep]
    fills.sl[:] = level * s
    if tp is not None:
        fills.tp[:] = tp * s
    return fills


def _first(flags: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Each row's first True column, or the width when none."""
    col = flags.argmax(axis=1)
    return np.where(flags[np.arange(len(col)), col], col, flags.shape[1])


def _may_liquidate(
    entry: NDArray[np.int64], end: NDArray[np.int64], bars: _Bars
) -> NDArray[np.bool_]:
    """Shorts whose window has a close at twice the entry price or more (non-overlapping,
    ordered windows: one `reduceat`)."""
    n = len(bars.close)
    bounds = np.column_stack((entry, end)).ravel()
    if bounds[-1] >= n:
        bounds = bounds[:-1]
    highest = np.maximum.reduceat(bars.close, bounds)[::2]
    return highest >= 2.0 * bars.open[entry]


def strategy_signals(strategy: VectorStrategy, prices: pd.DataFrame) -> Signals:
    """The strategy's `Signals` on `prices` (ValueError naming the strategy when malformed)."""
    raw = strategy.signals(prices)  # the strategy's own errors propagate as they are
    try:
        return parse_signals(raw, len(prices))
    except ValueError as exc:
        raise ValueError(f"strategy '{strategy.name}' returned bad signals: {exc}") from None


def vector_ledger(
    strategy: VectorStrategy,
    prices: pd.DataFrame,
    stops: Stops,
    initial_balance: float,
    commission: float,
) -> Ledger:
    """The fast path: the strategy's trades all-in (`ledger.all_in_ledger`)."""
    fills = vector_fills(strategy_signals(strategy, prices), prices, stops)
    return all_in_ledger(fills, initial_balance, commission)


def replay(strategy: VectorStrategy, prices: pd.DataFrame, stops: Stops) -> Strategy:
    """The strategy's signals and stops as a per-bar strategy, for the settings the fast path
    does not compute (the broker then applies them exactly): all-in market orders, an exit or
    reversal as ``position.close()`` (filled first), stops as the order's bracket from its
    expected fill price and a trailing ``trade.sl`` moved after each close."""
    sig = strategy_signals(strategy, prices)
    # per signal bar: 1/-1 enter that side, 0 flat, 2/-2 close that side only
    codes = np.select(
        [sig.long_entry, sig.short_entry, sig.long_exit & sig.short_exit, sig.long_exit],
        [1, -1, 0, 2],
        -2,
    )
    actions = dict(zip(sig.bars.tolist(), codes.tolist(), strict=True))

    class Replay(Strategy):
        def init(self) -> None:
            self.opens, self.highs, self.lows, self.closes = (
                self.data[k].tolist() for k in ("open", "high", "low", "close")
            )
            s = self._broker.settings
            self.entry_spread = s.spread / 2 if s.spread_charge == "split" else s.spread
            self.on_close = s.trade_on_close

        def next(self) -> None:
            i = self.i
            if stops.tsl is not None:
                for trade in self.trades:  # before any close() below: that order goes first
                    if trade.is_long:
                        trade.sl = max(trade.sl, self.highs[i] * (1.0 - stops.tsl))
                    else:
                        trade.sl = min(trade.sl, self.lows[i] * (1.0 + stops.tsl))
            code = actions.get(i)
            if code is None:
                return
            held = int(np.sign(self.position.size))
            want = code if code in (1, -1, 0) else (0 if held == code // 2 else held)
            if want == held:
                return
            if held:
                self.position.close()
            if want:
                self.enter(want)

        def enter(self, side: int) -> None:
            i = self.i
            order = self.buy() if side > 0 else self.sell()
            price = self.closes[i] if self.on_close else self.opens[i + 1]
            price *= 1.0 + side * self.entry_spread
            levels = [price * (1.0 - side * f) for f in (stops.sl, stops.tsl) if f is not None]
            if levels:
                order.sl = max(levels) if side > 0 else min(levels)
            if stops.tp is not None:
                order.tp = price * (1.0 + side * stops.tp)

    return Replay()

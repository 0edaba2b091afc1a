"""Deterministic synthetic OHLCV (geometric Brownian motion), so a run needs no external data.

Built chunk by chunk straight into the five preallocated float64 columns: 10,000,000 bars take about
a second and little memory beyond the columns themselves. Each column draws from its own stream
(spawned from `seed`), so a shorter sample is a prefix of a longer one with the same seed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import DataError

START = "2020-01-01"
START_PRICE = 100.0
SIGMA = 0.001  # per-bar log-return volatility
_CHUNK = 1 << 20


def gbm_prices(bars: int, seed: int = 0, freq: str = "1min") -> pd.DataFrame:
    """`bars` bars of GBM prices from 2020-01-01 UTC every `freq`; same args, same frame.

    >>> gbm_prices(3, seed=1).columns.tolist()
    ['open', 'high', 'low', 'close', 'volume']
    """
    try:
        index = pd.date_range(START, periods=bars, freq=freq, tz="UTC", name="time")
    except (OverflowError, pd.errors.OutOfBoundsDatetime) as exc:
        raise DataError(f"data.bars={bars} at freq {freq!r} runs past the last timestamp") from exc
    rng_close, rng_high, rng_low, rng_vol = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)
    )
    cols = {name: np.empty(bars) for name in ("open", "high", "low", "close", "volume")}
    o, h, lo, c, v = cols.values()
    level = 0.0  # cumulative log return carried across chunks
    prev_close = START_PRICE
    for s in range(0, bars, _CHUNK):
        e = min(s + _CHUNK, bars)
        seg = c[s:e]
        rng_close.standard_normal(out=seg)
        seg *= SIGMA
        np.cumsum(seg, out=seg)
        seg += level
        level = float(seg[-1])
        np.exp(seg, out=seg)
        seg *= START_PRICE
        o[s] = prev_close
        o[s + 1 : e] = c[s : e - 1]
        prev_close = float(seg[-1])
        _wick(np.maximum(o[s:e], seg, out=h[s:e]), rng_high, +1.0)
        _wick(np.minimum(o[s:e], seg, out=lo[s:e]), rng_low, -1.0)
        v[s:e] = rng_vol.integers(100, 10_000, size=e - s)
    return pd.DataFrame(cols, index=index, copy=False)


def _wick(edge: np.ndarray, rng: np.random.Generator, sign: float) -> None:
    """Push a bar's high up (sign +1) or low down (-1) by a random half-sigma-scale wick."""
    noise = np.abs(rng.standard_normal(len(edge)))
    noise *= sign * SIGMA / 2
    np.exp(noise, out=noise)
    edge *= noise

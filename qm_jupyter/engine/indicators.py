"""Indicators for strategies: numpy in, float64 numpy out, NaN where not yet defined.

Crossovers compare against the previous bar; any NaN makes the comparison False, so no signal
fires during an indicator's warm-up.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

_CHUNK = 1 << 20


def sma(values: ArrayLike, window: int) -> NDArray[np.float64]:
    """Simple moving average.

    pandas' rolling mean (compensated sums, so long series stay exact where a plain cumsum drifts),
    run over overlapping chunks because its window-bound arrays would otherwise cost 2 int64
    arrays the length of the data.
    """
    x = np.asarray(values, dtype=np.float64)
    out = np.empty_like(x)
    for start in range(0, len(x), _CHUNK):
        lo, end = max(start - window + 1, 0), min(start + _CHUNK, len(x))
        out[start:end] = pd.Series(x[lo:end]).rolling(window).mean().to_numpy()[start - lo :]
    return out


def rsi(values: ArrayLike, period: int) -> NDArray[np.float64]:
    """Wilder's RSI (0..100): smoothed gains over smoothed losses, alpha = 1/period."""
    delta = pd.Series(np.asarray(values, dtype=np.float64)).diff()
    gain = delta.clip(lower=0).ewm(alpha=1 / period, adjust=False, min_periods=period).mean()
    loss = (-delta).clip(lower=0).ewm(alpha=1 / period, adjust=False, min_periods=period).mean()
    with np.errstate(divide="ignore", invalid="ignore"):  # no losses: gain/0 = inf -> RSI 100
        return 100.0 - 100.0 / (1.0 + gain.to_numpy() / loss.to_numpy())


def _cross(now: NDArray[np.bool_], before: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """now[t] & before[t-1], False on bar 0; slices, so no shifted float copies are made."""
    out = np.zeros(len(now), dtype=np.bool_)
    np.logical_and(now[1:], before, out=out[1:])
    return out


def crossed_above(a: ArrayLike, b: ArrayLike) -> NDArray[np.bool_]:
    """True where a > b now and a <= b on the bar before (b may be a scalar)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.broadcast_to(np.asarray(b, dtype=np.float64), a.shape)
    return _cross(a > b, a[:-1] <= b[:-1])


def crossed_below(a: ArrayLike, b: ArrayLike) -> NDArray[np.bool_]:
    """True where a < b now and a >= b on the bar before (b may be a scalar)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.broadcast_to(np.asarray(b, dtype=np.float64), a.shape)
    return _cross(a < b, a[:-1] >= b[:-1])

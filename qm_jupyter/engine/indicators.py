"""Indicators for strategies: numpy in, float64 numpy out, NaN where not yet defined.

Crossovers compare against the previous bar; any NaN makes the comparison False, so no signal
fires during an indicator's warm-up.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray


def sma(values: ArrayLike, window: int) -> NDArray[np.float64]:
    """Simple moving average (pandas' rolling mean: compensated sums, so long series stay exact)."""
    return pd.Series(np.asarray(values, dtype=np.float64)).rolling(window).mean().to_numpy()


def rsi(values: ArrayLike, period: int) -> NDArray[np.float64]:
    """Wilder's RSI (0..100): smoothed gains over smoothed losses, alpha = 1/period."""
    delta = pd.Series(np.asarray(values, dtype=np.float64)).diff()
    gain = delta.clip(lower=0).ewm(alpha=1 / period, adjust=False, min_periods=period).mean()
    loss = (-delta).clip(lower=0).ewm(alpha=1 / period, adjust=False, min_periods=period).mean()
    with np.errstate(divide="ignore", invalid="ignore"):  # no losses: gain/0 = inf -> RSI 100
        return (100.0 - 100.0 / (1.0 + gain.to_numpy() / loss.to_numpy()))


def _previous(a: NDArray[np.float64]) -> NDArray[np.float64]:
    prev = np.empty_like(a)
    prev[0] = np.nan
    prev[1:] = a[:-1]
    return prev


def crossed_above(a: ArrayLike, b: ArrayLike) -> NDArray[np.bool_]:
    """True where a > b now and a <= b on the bar before (b may be a scalar)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.broadcast_to(np.asarray(b, dtype=np.float64), a.shape)
    return (a > b) & (_previous(a) <= _previous(b))


def crossed_below(a: ArrayLike, b: ArrayLike) -> NDArray[np.bool_]:
    """True where a < b now and a >= b on the bar before (b may be a scalar)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.broadcast_to(np.asarray(b, dtype=np.float64), a.shape)
    return (a < b) & (_previous(a) >= _previous(b))

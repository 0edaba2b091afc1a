"""Long curves made short for charts, keeping what the eye looks for.

An equity curve of millions of bars is reduced to a few hundred columns, each keeping
its lowest and highest point, so spikes and the deepest drawdown stay visible.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd


def envelope_indices(values: np.ndarray, columns: int) -> np.ndarray:
    """Indices of the first and last point and of each column's min and max, in order."""
    n = len(values)
    if n <= 2 * columns:
        return np.arange(n)
    edges = np.linspace(0, n, columns + 1).astype(int)
    picked = {0, n - 1}
    for start, stop in pairwise(edges):
        chunk = values[start:stop]
        picked.update((start + int(chunk.argmin()), start + int(chunk.argmax())))
    return np.asarray(sorted(picked))


def curve_points(curve: pd.Series, columns: int = 499) -> list[list]:
    """``[[iso_time, value], ...]``: at most ``2 * columns + 2`` points of ``curve``."""
    values = curve.to_numpy(dtype=float)
    indices = envelope_indices(values, columns)
    times = curve.index[indices]
    return [[t.isoformat(), float(v)] for t, v in zip(times, values[indices], strict=True)]

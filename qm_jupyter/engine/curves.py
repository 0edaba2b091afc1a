"""Long curves made short for charts, keeping what the eye looks for.

An equity curve of millions of bars is reduced to a few hundred columns, each keeping
its lowest and highest point, so spikes stay visible; a curve sent to clients also keeps
the peak and the trough of its deepest drawdown, so the drawdown a chart computes from it
is the run's ``max_drawdown``, not a shallower one.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd

from .metrics import underwater
from .reporting import iso_times


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


def deepest_drawdown(values: np.ndarray) -> tuple[int, int]:
    """Indices of the peak and the trough of the deepest drawdown (the same if none)."""
    trough = int(np.argmin(underwater(values)))
    return int(np.argmax(values[: trough + 1])), trough


def curve_points(curve: pd.Series, columns: int = 499) -> list[list]:
    """``[[iso_time, value], ...]``: at most ``2 * columns + 4`` points of ``curve``,
    its deepest drawdown among them."""
    values = curve.to_numpy(dtype=float)
    indices = envelope_indices(values, columns)
    if len(values):
        indices = np.union1d(indices, deepest_drawdown(values))
    times = iso_times(curve.index[indices])
    return [list(point) for point in zip(times, values[indices].tolist(), strict=True)]

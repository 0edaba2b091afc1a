"""Long curves made short for charts, keeping what the eye looks for.

An equity curve of millions of bars is reduced to a few hundred columns, each keeping
its lowest and highest point, so spikes stay visible; a curve sent to clients also keeps
the peak and the trough of its deepest drawdown, so the drawdown a chart computes from it
is the run's ``max_drawdown``, not a shallower one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .metrics import underwater
from .reporting import iso_times


def envelope_indices(values: np.ndarray, columns: int) -> np.ndarray:
    """Indices of the first and last point and of each column's min and max, in order.

    Columns are ``ceil(n / columns)`` points wide (the last one narrower), so that all but
    the last are one 2-D view of the curve, reduced at once with no copy.
    """
    n = len(values)
    if n <= 2 * columns:
        return np.arange(n)
    width = -(-n // columns)
    whole = n // width * width
    grid = values[:whole].reshape(-1, width)
    starts = np.arange(0, whole, width)
    picked = [np.array([0, n - 1]), starts + grid.argmin(axis=1), starts + grid.argmax(axis=1)]
    if whole < n:
        tail = values[whole:]
        picked.append(np.array([whole + tail.argmin(), whole + tail.argmax()]))
    return np.unique(np.concatenate(picked))


def deepest_drawdown(values: np.ndarray) -> tuple[int, int]:
    """Indices of the peak and the trough of the deepest drawdown (the same if none)."""
    trough = int(np.argmin(underwater(values)))
    return int(np.argmax(values[: trough + 1])), trough


#: Columns of a run's ``equity_curve``: at most 1,002 points, as many as a chart shows.
CURVE_COLUMNS = 499


def curve_points(curve: pd.Series, columns: int = CURVE_COLUMNS) -> list[list]:
    """``[[iso_time, value], ...]``: at most ``2 * columns + 4`` points of ``curve``,
    its deepest drawdown among them."""
    values = curve.to_numpy(dtype=float)
    indices = envelope_indices(values, columns)
    if len(values):
        indices = np.union1d(indices, deepest_drawdown(values))
    times = iso_times(curve.index[indices])
    return [list(point) for point in zip(times, values[indices].tolist(), strict=True)]

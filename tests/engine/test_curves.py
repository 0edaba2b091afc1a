"""Chart-sized curves keep the ends and each column's extremes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from qm_jupyter.engine.curves import curve_points, envelope_indices


def test_short_curves_are_kept_whole():
    assert envelope_indices(np.arange(10.0), 5).tolist() == list(range(10))


def test_long_curves_keep_ends_and_extremes():
    values = np.sin(np.linspace(0, 20, 100_000))
    values[54_321] = -5.0  # the deepest point must survive
    values[77_777] = 9.0
    picked = envelope_indices(values, 100)
    assert len(picked) <= 202
    assert picked[0] == 0 and picked[-1] == len(values) - 1
    assert {54_321, 77_777} <= set(picked.tolist())
    assert (np.diff(picked) > 0).all()


def test_curve_points_are_time_value_pairs():
    curve = pd.Series(
        np.linspace(100.0, 200.0, 5000),
        index=pd.date_range("2024-01-01", periods=5000, freq="1min", tz="UTC"),
    )
    points = curve_points(curve, columns=10)
    assert points[0] == ["2024-01-01T00:00:00+00:00", 100.0]
    assert points[-1] == [curve.index[-1].isoformat(), 200.0]
    assert len(points) <= 22

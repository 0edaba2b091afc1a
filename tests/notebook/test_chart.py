"""The equity/drawdown SVG: valid, small, and faithful to the extremes of long curves."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd

from qm_jupyter.engine.curves import curve_points, envelope_indices
from qm_jupyter.engine.metrics import max_drawdown
from qm_jupyter.notebook.chart import MAX_COLUMNS, _envelope, equity_chart_svg


def test_the_chart_is_valid_svg_with_curve_and_drawdown():
    equity = np.array([100.0, 110.0, 99.0, 120.0, 90.0, 130.0])
    svg = equity_chart_svg(equity, first_label="2020-01-01", last_label="2020-01-06")
    root = ET.fromstring(svg)
    tags = {element.tag.split("}")[1] for element in root.iter()}
    assert {"polyline", "polygon", "text"} <= tags
    assert "-25.00%" in svg  # 90 / 120 - 1: the deepest drawdown labels its panel


def test_long_curves_are_reduced_but_keep_their_extremes():
    values = np.linspace(100.0, 200.0, 1_000_000)
    values[123_456] = 5.0
    positions, picked = _envelope(values)
    assert len(picked) <= 2 * MAX_COLUMNS + 2
    assert picked.min() == 5.0 and picked.max() == 200.0
    assert np.all(np.diff(positions) >= 0)


def test_too_short_a_curve_draws_nothing():
    assert equity_chart_svg([100.0]) == ""


def test_a_long_random_walk_is_drawn():
    rng = np.random.default_rng(0)
    equity = 10_000 * np.exp(np.cumsum(rng.normal(0, 0.001, 50_000)))
    root = ET.fromstring(equity_chart_svg(equity))
    assert root.tag.endswith("svg")


def test_a_curve_sent_to_clients_keeps_the_runs_max_drawdown():
    """A peak and a trough inside one column whose maximum comes later: the column's min and
    max alone would miss the peak and chart a shallower drawdown than the metrics say."""
    values = np.linspace(100.0, 150.0, 10_000)
    values[5_100], values[5_200], values[5_900] = 200.0, 100.0, 250.0
    curve = pd.Series(values, index=pd.date_range("2020-01-01", periods=values.size, freq="h"))
    sent = np.array([value for _, value in curve_points(curve, columns=10)])
    assert max_drawdown(sent) == max_drawdown(values) == -0.5
    assert f"{max_drawdown(values):.2%}" in equity_chart_svg(sent)
    only_envelope = values[envelope_indices(values, 10)]
    assert max_drawdown(only_envelope) > -0.5  # what it was before the peak was kept

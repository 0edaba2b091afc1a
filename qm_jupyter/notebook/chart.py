"""The equity curve with its drawdown underneath, as a small SVG (no plotting dependency).

Long curves are reduced to at most a few hundred columns by the engine's downsampler
(each column's lowest and highest value), so spikes and the deepest drawdown stay
visible. The drawdown is computed on the curve given, before any reduction: its deepest
value is the run's ``max_drawdown`` when given the run's curve (or its ``equity_curve``).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

import numpy as np

from ..engine.curves import envelope_indices

WIDTH = 640
LEFT = 72
RIGHT = 12
EQUITY_TOP, EQUITY_HEIGHT = 10, 150
DRAWDOWN_TOP, DRAWDOWN_HEIGHT = 180, 60
BOTTOM_LABELS = 258
HEIGHT = 266
MAX_COLUMNS = 300


def equity_chart_svg(
    equity: Sequence[float] | np.ndarray, *, first_label: str = "", last_label: str = ""
) -> str:
    """An SVG of ``equity`` (top) and its drawdown from the running peak (bottom)."""
    values = np.asarray(equity, dtype=float)
    values = values[np.isfinite(values)]
    if values.size < 2:
        return ""
    drawdown = values / np.maximum.accumulate(values) - 1.0
    eq_x, eq_points = _envelope(values)
    dd_x, dd_points = _envelope(drawdown)
    plot_width = WIDTH - LEFT - RIGHT

    low, high = float(values.min()), float(values.max())
    span = high - low or 1.0
    eq_y = EQUITY_TOP + (high - eq_points) / span * EQUITY_HEIGHT
    deepest = float(drawdown.min()) or -1e-12
    dd_y = DRAWDOWN_TOP + dd_points / deepest * DRAWDOWN_HEIGHT
    dd_xs = LEFT + dd_x * plot_width
    area = [(LEFT, DRAWDOWN_TOP), *zip(dd_xs, dd_y, strict=True), (LEFT + plot_width, DRAWDOWN_TOP)]

    return "".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11" '
            'role="img" aria-label="equity curve and drawdown">',
            _frame(EQUITY_TOP, EQUITY_HEIGHT, f"{high:,.2f}", f"{low:,.2f}", "equity"),
            _frame(DRAWDOWN_TOP, DRAWDOWN_HEIGHT, "0%", f"{deepest:.2%}", "drawdown"),
            f'<polyline fill="none" stroke="#1f77b4" stroke-width="1.3" '
            f'points="{_points(zip(LEFT + eq_x * plot_width, eq_y, strict=True))}"/>',
            f'<polygon fill="#d62728" fill-opacity="0.35" stroke="#d62728" stroke-width="0.8" '
            f'points="{_points(area)}"/>',
            f'<text x="{LEFT}" y="{BOTTOM_LABELS}" fill="#555">{escape(first_label)}</text>',
            f'<text x="{WIDTH - RIGHT}" y="{BOTTOM_LABELS}" text-anchor="end" fill="#555">'
            f"{escape(last_label)}</text>",
            "</svg>",
        ]
    )


def _envelope(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions in [0, 1] and values of the points the engine's downsampler keeps."""
    indices = envelope_indices(values, MAX_COLUMNS)
    return indices / (values.size - 1), values[indices]


def _frame(top: int, height: int, top_label: str, bottom_label: str, name: str) -> str:
    right = WIDTH - RIGHT
    return (
        f'<rect x="{LEFT}" y="{top}" width="{right - LEFT}" height="{height}" fill="#fafafa" '
        'stroke="#ddd"/>'
        f'<text x="{LEFT - 6}" y="{top + 10}" text-anchor="end" fill="#555">{top_label}</text>'
        f'<text x="{LEFT - 6}" y="{top + height}" text-anchor="end" fill="#555">'
        f"{bottom_label}</text>"
        f'<text x="{LEFT + 6}" y="{top + 14}" fill="#888">{name}</text>'
    )


def _points(pairs) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in pairs)

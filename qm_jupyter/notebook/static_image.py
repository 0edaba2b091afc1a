"""Static PNG images of the charts, for whoever reads a saved notebook or an HTML report
with no live kernel and no plotly front end (a viewer that renders only the saved widget
state's plain HTML).

Drawn in the kernel with matplotlib's Agg canvas (no pyplot: no global figure state, no
GUI backend) from the same series the interactive chart shows. The image is embedded in
an HTML element beside the interactive chart, and a CSS rule hides it wherever the
plotly chart itself rendered, so a live notebook shows the chart once.
"""

from __future__ import annotations

import base64
import io
from html import escape

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .chart_series import MARKER_GROUPS, ChartSeries
from .heatmap_data import HeatmapData
from .plots import MARKER_STYLES, plot_times

DPI = 80
#: Hides a display's static image where its interactive chart rendered (CSS :has()).
HIDE_WHEN_LIVE = "<style>.qm-display:has(.js-plotly-plot) .qm-static-chart{display:none}</style>"
MPL_MARKERS = {"triangle-up": "^", "triangle-down": "v", "x": "x"}


def static_html(png: bytes, alt: str) -> str:
    """The image as an ``<img>`` (data URI), hidden where the interactive chart renders."""
    data = base64.b64encode(png).decode("ascii")
    return (
        f'{HIDE_WHEN_LIVE}<img class="qm-static-chart" alt="{escape(alt)}" '
        f'style="max-width:100%" src="data:image/png;base64,{data}"/>'
    )


def run_chart_png(series: ChartSeries, title: str) -> bytes:
    """Price (with trades), equity and drawdown on one time axis."""
    figure = Figure(figsize=(9, 5.6), dpi=DPI, layout="constrained")
    price, equity, drawdown = figure.subplots(
        3, 1, sharex=True, gridspec_kw={"height_ratios": [5, 3, 2]}
    )
    x = _x(series.x)
    if series.ohlc is not None:
        _, high, low, close = (np.asarray(v, dtype=float) for v in series.ohlc)
        price.fill_between(x, low, high, color="#90a4ae", alpha=0.5, linewidth=0, label="range")
        price.plot(x, close, color="#37474f", linewidth=0.8, label="close")
    elif series.close:
        price.plot(x, np.asarray(series.close, dtype=float), color="#546e7a", linewidth=0.8)
    for name, _, _ in MARKER_GROUPS:
        markers = series.markers.get(name)
        if markers is not None and markers.x:
            symbol, color = MARKER_STYLES[name]
            price.scatter(
                _x(markers.x),
                markers.y,
                marker=MPL_MARKERS[symbol],
                color=color,
                s=18,
                label=name,
                zorder=3,
            )
    equity.plot(x, series.equity, color="#1f77b4", linewidth=1.2)
    drawdown.fill_between(x, np.asarray(series.drawdown) * 100, 0, color="#d62728", alpha=0.4)
    for axis, label in ((price, "price"), (equity, "equity"), (drawdown, "drawdown %")):
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    if series.markers:
        price.legend(loc="upper left", fontsize=8, ncols=3)
    price.set_title(title, fontsize=10, loc="left")
    drawdown.set_xlabel(series.note(), fontsize=8, color="#666")
    return _png(figure)


def heatmap_png(data: HeatmapData, title: str) -> bytes:
    """The heatmap with its values written in the cells and the best cell outlined."""
    z = np.array([[np.nan if v is None else v for v in row] for row in data.z], dtype=float)
    width = min(12.0, 2.5 + 0.7 * len(data.x_values))
    height = min(9.0, 1.8 + 0.45 * len(data.y_values))
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    axis = figure.subplots()
    image = axis.imshow(z, cmap="viridis", aspect="auto", origin="lower")
    figure.colorbar(image, ax=axis, label=data.metric)
    axis.set_xticks(range(len(data.x_values)), [str(v) for v in data.x_values])
    axis.set_yticks(range(len(data.y_values)), [str(v) for v in data.y_values])
    axis.set_xlabel(data.x)
    axis.set_ylabel(data.y or "")
    if z.size <= 400:
        for (i, j), value in np.ndenumerate(z):
            if np.isfinite(value):
                axis.text(j, i, f"{value:.3g}", ha="center", va="center", fontsize=7, color="w")
    if data.best is not None:
        i, j = data.best
        axis.plot(j, i, marker="*", markersize=16, color="white", markeredgecolor="black")
    axis.set_title(f"{title}\n{data.note()} · ★ best", fontsize=10, loc="left")
    return _png(figure)


def _x(x: list) -> np.ndarray:
    times = plot_times(x)
    if times and isinstance(times[0], str):
        return pd.to_datetime(times).to_numpy()
    return np.asarray(times, dtype=float)


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    return buffer.getvalue()

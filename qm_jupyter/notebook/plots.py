"""The interactive charts of the displays: plotly ``FigureWidget``s updated in place.

plotly (>= 6) builds ``FigureWidget`` on anywidget: its front end (plotly.js included) is
shipped inside the Python package and sent with the widget, so the same figure renders in
JupyterLab, Notebook 7 and VS Code with no extension to install and no network, and every
update is a widget-protocol message (a restyle of the changed arrays), live while a cell
blocks or after it returned. Zoom, pan and hover are plotly's own.

A run's chart is one figure of three rows on one time axis: price (candles from the
engine's OHLC buckets, or the close line while the run goes) with the trades marked,
equity, drawdown. A sweep's chart is a heatmap with its best cell marked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .chart_series import MARKER_GROUPS, ChartSeries
from .heatmap_data import HeatmapData

#: name -> (symbol, color) of each trade marker group.
MARKER_STYLES = {
    "Long entry": ("triangle-up", "#2e7d32"),
    "Short entry": ("triangle-down", "#c62828"),
    "Exit (profit)": ("x", "#1565c0"),
    "Exit (loss)": ("x", "#ef6c00"),
}
#: Trace positions in a run's figure.
CANDLES, CLOSE, EQUITY, DRAWDOWN, FIRST_MARKERS = range(5)
RUN_HEIGHT, HEATMAP_HEIGHT = 520, 440


def run_figure() -> go.FigureWidget:
    """An empty run chart: price with trade markers, equity and drawdown on one time axis."""
    figure = make_subplots(
        rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.03, row_heights=[0.5, 0.3, 0.2]
    )
    figure.add_trace(
        go.Candlestick(name="Price", increasing_line_width=1, decreasing_line_width=1), 1, 1
    )
    figure.add_trace(go.Scatter(name="Close", mode="lines", line={"color": "#546e7a"}), 1, 1)
    figure.add_trace(
        go.Scatter(name="Equity", mode="lines", line={"color": "#1f77b4", "width": 1.5}), 2, 1
    )
    figure.add_trace(
        go.Scatter(
            name="Drawdown",
            mode="lines",
            fill="tozeroy",
            line={"color": "#d62728", "width": 1},
            hovertemplate="%{y:.2%}",
        ),
        3,
        1,
    )
    for name, _, _ in MARKER_GROUPS:
        symbol, color = MARKER_STYLES[name]
        figure.add_trace(
            go.Scatter(
                name=name,
                mode="markers",
                marker={"symbol": symbol, "color": color, "size": 7, "opacity": 0.75},
                hovertemplate="%{text}<extra>" + name + "</extra>",
            ),
            1,
            1,
        )
    figure.update_layout(
        height=RUN_HEIGHT,
        margin={"l": 60, "r": 20, "t": 30, "b": 30},
        hovermode="x unified",
        hoversubplots="axis",
        legend={"orientation": "h", "y": 1.06, "x": 0},
        xaxis={"rangeslider": {"visible": False}},
        template="plotly_white",
        uirevision="run",  # a live update keeps the user's zoom
    )
    figure.update_yaxes(title_text="price", row=1, col=1)
    figure.update_yaxes(title_text="equity", row=2, col=1)
    figure.update_yaxes(title_text="drawdown", tickformat=".0%", row=3, col=1)
    return go.FigureWidget(figure)


def draw_run(figure: go.FigureWidget, series: ChartSeries) -> None:
    """Show ``series`` in a :func:`run_figure`, as one batch of messages."""
    x = plot_times(series.x)
    with figure.batch_update():
        candles, close = figure.data[CANDLES], figure.data[CLOSE]
        if series.ohlc is not None:
            candles.update(
                x=x,
                open=series.ohlc[0],
                high=series.ohlc[1],
                low=series.ohlc[2],
                close=series.ohlc[3],
                visible=True,
            )
            close.update(x=[], y=[], visible=False)
        else:
            candles.update(x=[], open=[], high=[], low=[], close=[], visible=False)
            close.update(x=x, y=series.close, visible=bool(series.close))
        figure.data[EQUITY].update(x=x, y=series.equity)
        figure.data[DRAWDOWN].update(x=x, y=series.drawdown)
        for offset, (name, _, _) in enumerate(MARKER_GROUPS):
            markers = series.markers.get(name)
            trace = figure.data[FIRST_MARKERS + offset]
            if markers is None:
                trace.update(x=[], y=[], text=[])
            else:
                trace.update(x=plot_times(markers.x), y=markers.y, text=markers.text)
        figure.layout.xaxis3.type = "date" if _timed(series.x) else "linear"
        figure.layout.annotations = [_caption(series.note())]


def heatmap_figure(on_click: Callable[[str], None]) -> go.FigureWidget:
    """An empty sweep heatmap; clicking a cell calls ``on_click`` with its trial's id."""
    figure = go.FigureWidget(
        data=[
            go.Heatmap(colorscale="Viridis", hoverinfo="text", hoverongaps=False, xgap=1, ygap=1),
            go.Scatter(
                name="best",
                mode="markers",
                marker={
                    "symbol": "star",
                    "size": 18,
                    "color": "white",
                    "line": {"color": "black", "width": 1.5},
                },
                hoverinfo="skip",
                showlegend=False,
            ),
        ],
        layout={
            "height": HEATMAP_HEIGHT,
            "margin": {"l": 70, "r": 20, "t": 40, "b": 50},
            "xaxis": {"type": "category"},
            "yaxis": {"type": "category"},
            "template": "plotly_white",
        },
    )

    def clicked(trace: Any, points: Any, _state: Any) -> None:
        if not points.xs:
            return
        columns = [str(v) for v in trace.x]
        rows = [str(v) for v in trace.y]
        j, i = columns.index(str(points.xs[0])), rows.index(str(points.ys[0]))
        backtest_id = trace.customdata[i][j] if trace.customdata is not None else None
        if backtest_id:
            on_click(backtest_id)

    figure.data[0].on_click(clicked)
    return figure


def draw_heatmap(figure: go.FigureWidget, data: HeatmapData) -> None:
    """Show ``data`` in a :func:`heatmap_figure`, as one batch of messages."""
    x = [str(v) for v in data.x_values]
    y = [str(v) for v in data.y_values]
    with figure.batch_update():
        figure.data[0].update(
            x=x,
            y=y,
            z=data.z,
            customdata=data.ids,
            hovertext=data.hover,
            colorbar={"title": {"text": data.metric}},
        )
        if data.best is None:
            figure.data[1].update(x=[], y=[])
        else:
            i, j = data.best
            figure.data[1].update(x=[x[j]], y=[y[i]])
        figure.layout.xaxis.title.text = data.x
        figure.layout.yaxis.title.text = data.y or ""
        figure.layout.title = {"text": f"{data.note()} · ★ best", "font": {"size": 13}}


def resend_figure(figure: go.FigureWidget) -> None:
    """Send the figure's whole data and layout again: a headless executor saves the synced
    state, which plotly otherwise only sets when the figure is first displayed (updates
    travel as deltas), so the saved notebook shows the final figure."""
    figure._repr_mimebundle_()  # refreshes the synced copies of data and layout
    figure.send_state(["_widget_data", "_widget_layout"])


def plot_times(x: Sequence[Any]) -> list[Any]:
    """ISO times as plotly.js reads them (wall time, no offset); bar numbers as they are."""
    if not _timed(x):
        return list(x)
    times = pd.DatetimeIndex(pd.to_datetime(list(x), format="ISO8601", utc=False))
    if times.tz is not None:
        times = times.tz_localize(None)
    return list(times.strftime("%Y-%m-%d %H:%M:%S"))


def _timed(x: Sequence[Any]) -> bool:
    return bool(x) and isinstance(x[0], str)


def _caption(text: str) -> dict[str, Any]:
    return {
        "text": text,
        "xref": "paper",
        "yref": "paper",
        "x": 1,
        "y": -0.07,
        "xanchor": "right",
        "showarrow": False,
        "font": {"size": 10, "color": "#888"},
    }

"""The live display of a parameter sweep: progress, a heatmap, the top trials, the best.

Redrawn from the sweep's folded state (:class:`~qm_jupyter.notebook.sweep.SweepState`)
a few times a second while trials end: the progress bar and line (done/total, failed,
skipped, best so far, ETA), the heatmap of a metric over two swept params (choosers for
the axes when more than two are swept, the others folded into each cell by its best,
said on the chart), the best cell starred, and the top trials. Clicking a heatmap cell or
a top-trial row shows that trial's run below (``qm.watch`` of its ``backtest_id``). At
the end a static PNG of the heatmap is added for viewers of the saved notebook.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from html import escape
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from ..engine import METRIC_KEYS
from .heatmap_data import TOP_TRIALS, HeatmapData, describe_trial, heatmap_data, top_trials
from .plots import draw_heatmap, heatmap_figure, resend_figure
from .run_view import format_metrics
from .static_image import heatmap_png, static_html
from .widget import STATUS_STYLES

if TYPE_CHECKING:
    from .sweep import SweepState

#: The metrics a heatmap can show (not the run's size or duration).
HEATMAP_METRICS = [key for key in METRIC_KEYS if key not in ("bars", "duration")]
ROW_CSS = (
    "<style>.qm-trial button,.qm-trial{text-align:left;justify-content:flex-start;"
    "font-family:monospace;font-size:12px}</style>"
)


class SweepWidget(widgets.VBox):
    """A sweep's display; :meth:`render` it from the sweep's state (any thread)."""

    def __init__(self, state: SweepState, *, where: str):
        self._lock = threading.RLock()
        self._state = state
        self._where = where
        self._top: list[str] = []
        self._data: HeatmapData | None = None
        #: Gives the widget showing a trial's run, from its backtest_id (``qm.watch``'s).
        self.trial_view: Callable[[str], widgets.Widget] | None = None
        grid = list(state.grid)
        self.header = widgets.HTML()
        self.header.add_class("qm-sweep-header")
        self.progress_bar = widgets.FloatProgress(
            min=0.0, max=float(max(state.total, 1)), layout=widgets.Layout(width="100%")
        )
        self.progress_bar.add_class("qm-sweep-progress")
        self.stats = widgets.HTML()
        self.stats.add_class("qm-sweep")
        self.x_axis = widgets.Dropdown(options=grid, value=grid[0], description="across")
        self.y_axis = widgets.Dropdown(
            options=grid, value=grid[1] if len(grid) > 1 else grid[0], description="down"
        )
        metrics = HEATMAP_METRICS if state.metric in HEATMAP_METRICS else METRIC_KEYS
        self.metric = widgets.Dropdown(options=metrics, value=state.metric, description="metric")
        choosers = [self.x_axis, self.y_axis] if len(grid) > 2 else []
        self.controls = widgets.HBox([*choosers, self.metric])
        self.heatmap = heatmap_figure(self.open_trial)
        self.static_heatmap = widgets.HTML()
        self.static_heatmap.add_class("qm-static")
        self.best = widgets.HTML()
        self.best.add_class("qm-sweep-best")
        self.top_header = widgets.HTML(ROW_CSS + "<b>Top trials</b> (click one to show its run)")
        self.rows = [self._row_button(rank) for rank in range(TOP_TRIALS)]
        self.trial_output = widgets.Output()
        super().__init__(
            [
                self.header,
                self.progress_bar,
                self.stats,
                self.controls,
                self.heatmap,
                self.static_heatmap,
                self.best,
                self.top_header,
                *self.rows,
                self.trial_output,
            ],
            layout=widgets.Layout(border="1px solid #ddd", padding="6px"),
        )
        self.add_class("qm-sweep-widget")
        self.add_class("qm-display")
        for chooser in (self.x_axis, self.y_axis, self.metric):
            chooser.observe(self._on_choice, names="value")
        self.render(state)

    # -- drawing -----------------------------------------------------------------------

    def render(self, state: SweepState) -> None:
        """Show ``state`` (the sweep's own thread while it runs, the main thread after)."""
        with self._lock:
            self._state = state
            counts = state.counts
            ended = sum(counts.get(k, 0) for k in ("completed", "failed", "cancelled", "skipped"))
            color, bar_style = STATUS_STYLES.get(state.status, STATUS_STYLES["running"])
            with self.hold_sync():
                self.header.value = self._header_html(color)
                self.progress_bar.value = float(ended)
                self.progress_bar.bar_style = bar_style
                self.stats.value = f'<span class="qm-sweep-line">{escape(state.line())}</span>'
                self._draw_heatmap()
                self.best.value = self._best_html()
                self._draw_top()

    def _draw_heatmap(self) -> None:
        state = self._state
        y = self.y_axis.value if len(state.grid) > 1 else None
        if y == self.x_axis.value:
            y = next((name for name in state.grid if name != y), None)
        self._data = heatmap_data(
            state.entries,
            state.grid,
            self.x_axis.value,
            y,
            self.metric.value,
            objective=state.metric,
            direction=state.direction,
            best=state.best,
        )
        draw_heatmap(self.heatmap, self._data)
        if state.finished:
            png = heatmap_png(self._data, self._title())
            self.static_heatmap.value = static_html(png, f"heatmap of {self._title()}")

    def _draw_top(self) -> None:
        top = top_trials(self._state.entries, self._state.direction)
        self._top = [entry["backtest_id"] for entry in top]
        for rank, button in enumerate(self.rows):
            if rank < len(top):
                button.description = f"{rank + 1:>2}. {describe_trial(top[rank])}"
                button.layout.display = None
            else:
                button.layout.display = "none"

    def _header_html(self, color: str) -> str:
        state = self._state
        return (
            f"<div><b>{escape(self._title())}</b> "
            f'<span style="background:{color};color:white;border-radius:3px;padding:0 6px" '
            f'class="qm-status">{state.status}</span>'
            f' <span style="color:#888">{escape(state.sweep_id)} · {escape(self._where)}</span>'
            "</div>"
        )

    def _best_html(self) -> str:
        best = self._state.best
        if best is None:
            return ""
        label = "Best" if self._state.finished else "Best so far"
        params = ", ".join(f"{k}={v}" for k, v in best["params"].items())
        rows = "".join(
            f'<tr><th style="text-align:left;padding-right:12px">{label}</th>'
            f'<td style="text-align:right" data-metric="{label}">{text}</td></tr>'
            for label, text in format_metrics(best.get("metrics") or {})
        )
        return (
            f"<div><b>{label}</b> ({escape(self._state.metric)} "
            f"{best['objective']:.4g}): <code>{escape(params)}</code></div>"
            f'<table class="qm-best-metrics">{rows}</table>'
        )

    def _title(self) -> str:
        state = self._state
        return f"{state.strategy} sweep, {state.direction} {state.metric}"

    def _on_choice(self, _change: dict[str, Any]) -> None:
        with self._lock, self.hold_sync():
            self._draw_heatmap()

    # -- trials ------------------------------------------------------------------------

    def _row_button(self, rank: int) -> widgets.Button:
        button = widgets.Button(layout=widgets.Layout(width="100%", display="none"))
        button.add_class("qm-trial")
        button.on_click(lambda _button: self._open_rank(rank))
        return button

    def _open_rank(self, rank: int) -> None:
        with self._lock:
            backtest_id = self._top[rank] if rank < len(self._top) else None
        if backtest_id:
            self.open_trial(backtest_id)

    def open_trial(self, backtest_id: str) -> None:
        """Show the run of one trial below the table (replacing the one shown)."""
        from IPython.display import display

        with self.trial_output:
            self.trial_output.clear_output()
            if self.trial_view is None:
                print(f"trial {backtest_id}: qm.watch({backtest_id!r}) shows its run")
            else:
                display(self.trial_view(backtest_id))

    # -- saved notebooks -----------------------------------------------------------------

    def resend(self) -> None:
        """Send the shown state again from this thread (see :mod:`.widget`)."""
        with self._lock:
            for child in (
                self.header,
                self.progress_bar,
                self.stats,
                self.static_heatmap,
                self.best,
                *self.rows,
            ):
                child.send_state()
            for row in self.rows:
                row.layout.send_state()
            resend_figure(self.heatmap)

    def text(self) -> str:
        """The plain-text account: the sweep's line and, at the end, the best trial."""
        state = self._state
        lines = [state.line()]
        if state.finished and state.best is not None:
            lines.append("  best: " + describe_trial(state.best))
        return "\n".join(lines)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = super()._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = self.text()
        return bundle

"""The live display of one run (ipywidgets 8): header, progress, log, metrics and chart.

The chart (:mod:`.plots`: price with trades, equity, drawdown; zoom, pan, hover) fills in
from the progress points while the run goes and shows the run's reduced chart at the end
(:mod:`.chart_series`); a static PNG of the final chart sits beside it for viewers of a
saved notebook with no plotly front end (:mod:`.static_image`).

Events arrive from any thread (:meth:`BacktestWidget.push` only folds them into a
:class:`RunView`); one renderer thread turns the state into widget values a few times
a second, inside ``hold_sync()``. :meth:`BacktestWidget.finish` does the last render
where the run ends, before the run's handle resolves, so the kernel's widget state is
the final one even if no browser was watching.

What a notebook *saves* is another matter: a headless executor (nbclient, nbconvert,
papermill) keeps only the messages whose parent is the cell it is executing, and a
message sent from a thread carries the parent of the latest cell, even once that cell
went idle. Updates sent from a thread between two cells are lost to the saved notebook.
So a widget rendered off the main thread is marked, and after each cell an IPython
``post_run_cell`` hook sends the state of the marked widgets again from the main thread,
inside that cell: the saved widget state and text output are at least as new as the
last cell.
"""

from __future__ import annotations

import threading
import time
import weakref
from html import escape
from typing import Any

import ipywidgets as widgets

from ..events import Event
from .chart_series import series_for
from .plots import draw_run, resend_figure, run_figure
from .run_view import HOLD_SECONDS, LEVELS, RunView, format_metrics, format_stats
from .static_image import run_chart_png, static_html

REFRESH_INTERVAL = 0.25
MAX_SHOWN_LINES = 200
LEVEL_COLORS = {
    "DEBUG": "#888888",
    "INFO": "var(--jp-ui-font-color1, #222222)",
    "WARNING": "#b26a00",
    "ERROR": "#c62828",
    "CRITICAL": "#c62828",
}
STATUS_STYLES = {
    "waiting": ("#607d8b", ""),
    "running": ("#1976d2", "info"),
    "completed": ("#2e7d32", "success"),
    "failed": ("#c62828", "danger"),
    "cancelled": ("#b26a00", "warning"),
}


class BacktestWidget(widgets.VBox):
    """A run's live display; feed it with :meth:`push`, end it with :meth:`finish`."""

    def __init__(
        self, view: RunView, *, where: str = "", refresh_interval: float = REFRESH_INTERVAL
    ):
        self._lock = threading.RLock()
        self._view = view
        self._where = where
        self._drawn: tuple[Any, ...] = ()
        self._version = 0
        self._rendered_version = -1
        self._done = threading.Event()
        self._display_handle: Any = None
        self.header = widgets.HTML()
        self.header.add_class("qm-header")
        self.progress_bar = widgets.FloatProgress(
            min=0.0, max=100.0, layout=widgets.Layout(width="100%")
        )
        self.progress_bar.add_class("qm-progress")
        self.stats = widgets.HTML()
        self.stats.add_class("qm-stats")
        self.level_filter = widgets.Dropdown(
            options=LEVELS[:-1],
            value="INFO",
            description="Log level",
            layout=widgets.Layout(width="220px"),
        )
        self.log_panel = widgets.HTML()
        self.log_panel.add_class("qm-log")
        self.outcome = widgets.HTML()
        self.outcome.add_class("qm-outcome")
        self.chart = run_figure()  # a child once there is something to draw
        self.static_chart = widgets.HTML()
        self.static_chart.add_class("qm-static")
        super().__init__(
            [
                self.header,
                self.progress_bar,
                self.stats,
                self.level_filter,
                self.log_panel,
                self.outcome,
                self.static_chart,
            ],
            layout=widgets.Layout(border="1px solid #ddd", padding="6px"),
        )
        self.add_class("qm-backtest")
        self.add_class("qm-display")
        self.level_filter.observe(self._on_level, names="value")
        self._render()
        _resync.watch_cells()
        self._renderer = threading.Thread(
            target=self._render_loop, args=(refresh_interval,), name="qm-widget", daemon=True
        )
        self._renderer.start()

    # -- feeding --------------------------------------------------------------------------

    def push(self, event: Event) -> None:
        """Fold in one event (cheap, any thread); it shows at the next refresh."""
        with self._lock:
            self._view.apply(event)
            self._version += 1

    def finish(self) -> None:
        """Render the final state now and stop refreshing."""
        with self._lock:
            self._done.set()
            self._version += 1
            self._render()
            series = series_for(self._view)
            if self._view.status == "completed" and not series.empty:
                png = run_chart_png(series, self._view.title())
                self.static_chart.value = static_html(png, f"chart of {self._view.title()}")
            if self._display_handle is not None:
                self._display_handle.update(self)

    def resend(self) -> None:
        """Send the shown state again from this thread (see the module's docstring)."""
        with self._lock:
            for child in self.children:
                if child is self.chart:
                    resend_figure(child)  # its front end's code is not worth sending again
                else:
                    child.send_state()
            if self._display_handle is not None:
                self._display_handle.update(self)

    @property
    def view(self) -> RunView:
        """A copy of the state shown."""
        with self._lock:
            return self._view.copy()

    def show(self) -> None:
        """Display in the current cell; the final state replaces the text fallback too."""
        from IPython.display import display

        self._display_handle = display(self, display_id=True)

    # -- text fallbacks ---------------------------------------------------------------------

    def __repr__(self) -> str:
        with self._lock:
            return self._view.summary()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = super()._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = repr(self)  # ipywidgets cuts it at 110 characters
        return bundle

    # -- rendering --------------------------------------------------------------------------

    def _render_loop(self, interval: float) -> None:
        while not self._done.wait(interval):
            with self._lock:
                overdue = self._view.release_held(time.monotonic() - HOLD_SECONDS)
                changed = overdue or self._version != self._rendered_version
                if changed and not self._done.is_set():
                    self._render()

    def _on_level(self, _change: dict[str, Any]) -> None:
        with self._lock:
            self.log_panel.value = self._log_html()

    def _render(self) -> None:
        view = self._view
        color, bar_style = STATUS_STYLES.get(view.status, STATUS_STYLES["waiting"])
        with self.hold_sync():
            self.header.value = self._header_html(color)
            self.progress_bar.value = view.percent
            self.progress_bar.bar_style = bar_style
            self.stats.value = (
                f'<span class="qm-progress-text">{escape(view.progress_line())}</span>'
            )
            self.log_panel.value = self._log_html()
            self.outcome.value = self._outcome_html()
            self._draw_chart()
        self._rendered_version = self._version
        if threading.current_thread() is not threading.main_thread():
            _resync.mark(self)

    def _header_html(self, color: str) -> str:
        view = self._view
        where = f" · {escape(self._where)}" if self._where else ""
        return (
            f"<div><b>{escape(view.title())}</b> "
            f'<span style="background:{color};color:white;border-radius:3px;padding:0 6px" '
            f'class="qm-status">{view.status}</span>'
            f' <span style="color:#888">{escape(view.backtest_id)}{where}</span></div>'
        )

    def _log_html(self) -> str:
        view = self._view
        threshold = LEVELS.index(self.level_filter.value)
        wanted = set(LEVELS[threshold:])
        lines = [line for line in view.logs if line.level in wanted][-MAX_SHOWN_LINES:]
        total = sum(count for level, count in view.log_counts.items() if level in wanted)
        hidden = total - len(lines)
        note = (
            f'<div style="color:#888">{hidden:,} earlier line{"s" * (hidden != 1)} hidden</div>'
            if hidden
            else ""
        )
        rows = "".join(
            f'<div style="color:{LEVEL_COLORS.get(line.level, LEVEL_COLORS["INFO"])}">'
            f"{line.time} {line.level:<7} {escape(line.module)}: {escape(line.message)}</div>"
            for line in reversed(lines)  # column-reverse: newest at the bottom, scrolled to it
        )
        return (
            '<div style="display:flex;flex-direction:column-reverse;max-height:200px;'
            "overflow-y:auto;font-family:monospace;font-size:12px;line-height:1.35;white-space:pre-wrap;"
            f'border:1px solid #eee;padding:2px 4px">{rows}{note}</div>'
        )

    def _outcome_html(self) -> str:
        view = self._view
        if view.metrics is not None:
            rows = "".join(
                f'<tr><th style="text-align:left;padding-right:12px">{label}</th>'
                f'<td style="text-align:right" data-metric="{label}">{text}</td></tr>'
                for label, text in format_metrics(view.metrics)
            )
            return f'<table class="qm-metrics">{rows}</table>' + stats_html(view.metrics)
        if view.error is not None:
            error = view.error
            trace = error.get("traceback") or ""
            return (
                f'<div style="color:#c62828"><b>{escape(str(error.get("error_type")))}</b>: '
                f"{escape(str(error.get('error')))}</div>"
                + (f'<pre style="font-size:11px">{escape(trace)}</pre>' if trace else "")
            )
        if view.status == "cancelled":
            return f'<div style="color:#b26a00">{escape(view.outcome_line())}</div>'
        return ""

    def _draw_chart(self) -> None:
        """Redraw the chart when what it shows changed: new progress points, the run's end."""
        view = self._view
        key = (
            len(view.curve),
            view.curve[-1] if view.curve else None,
            view.status,
        )
        if key == self._drawn:
            return
        self._drawn = key
        series = series_for(view)
        if series.empty:
            return
        draw_run(self.chart, series)
        if self.chart not in self.children:
            self.children = (*self.children[:-1], self.chart, self.static_chart)


def stats_html(metrics: dict[str, Any]) -> str:
    """The run's statistics (``stats`` of ``backtest_complete``) as a compact table, three
    to a row, under the headline metrics ('' for a run that sent none)."""
    cells = [
        f'<th style="text-align:left;font-weight:normal;color:#666;padding:0 6px 0 0">'
        f'{escape(label)}</th><td style="text-align:right;padding:0 14px 0 0" '
        f'data-stat="{escape(label)}">{escape(text)}</td>'
        for label, text in format_stats(metrics.get("stats") or {})
    ]
    rows = "".join(f"<tr>{''.join(cells[i : i + 3])}</tr>" for i in range(0, len(cells), 3))
    return f'<table class="qm-run-stats" style="font-size:12px">{rows}</table>' if rows else ""


class _MainThreadResync:
    """The widgets rendered off the main thread since the last cell ended, re-sent by an
    IPython ``post_run_cell`` hook (registered once, in a kernel only)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._marked: weakref.WeakSet[BacktestWidget] = weakref.WeakSet()
        self._registered = False

    def watch_cells(self) -> None:
        from IPython import get_ipython

        shell = get_ipython()
        with self._lock:
            if shell is None or self._registered:
                return
            shell.events.register("post_run_cell", self.resend_marked)
            self._registered = True

    def mark(self, widget: BacktestWidget) -> None:
        with self._lock:
            self._marked.add(widget)

    def resend_marked(self, *_result: Any) -> None:
        with self._lock:
            marked = list(self._marked)
            self._marked.clear()
        for widget in marked:
            widget.resend()


_resync = _MainThreadResync()

"""The handle of a parameter sweep started from a notebook, and its folded state.

``await sweep`` (in a cell) or ``sweep.result()`` (anywhere) gives a
:class:`~qm_jupyter.notebook.sweep_result.SweepResult` once the sweep completed or was
cancelled (its finished trials are kept); a sweep that failed raises :class:`SweepFailed`,
which carries what it had finished too. Wherever the sweep runs, its state is folded from
the same ``sweep_*`` events (the kernel's own, or the server's).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable, Generator
from typing import Any

from ..events import SWEEP_PROGRESS, SWEEP_START, SWEEP_TERMINAL_STATUS, SWEEP_TRIAL
from .sweep_result import SweepResult, trials_frame
from .sweep_widget import SweepWidget
from .widget import _resync

#: Seconds between two redraws of the display at most.
REDRAW_INTERVAL = 0.25


class SweepFailed(RuntimeError):
    """The sweep ended with ``sweep_error``; ``error_type`` says why and ``result`` holds
    the trials it finished."""

    def __init__(self, error: dict[str, Any], result: SweepResult):
        super().__init__(f"{error.get('error_type', 'Error')}: {error.get('error')}")
        self.error_type = error.get("error_type")
        self.result = result


class SweepState:
    """A sweep as its events tell it so far: status, counts, best, every ended trial."""

    def __init__(self, sweep_id: str, description: dict[str, Any]):
        self.sweep_id = sweep_id
        self.status = "running"
        self.entries: list[dict[str, Any]] = []
        self.counts: dict[str, int] = {}
        self.best: dict[str, Any] | None = None
        self.error: dict[str, Any] | None = None
        self.eta: float | None = None
        self.duration: float | None = None
        self._describe(description)

    def _describe(self, description: dict[str, Any]) -> None:
        """What ``sweep_start`` (or the server's reply) says the sweep is."""
        self.strategy = description["strategy"]
        self.grid = description["grid"]
        self.metric = description["objective"]["metric"]
        self.direction = description["objective"]["direction"]
        self.total = description["total_trials"]
        self.counts = {"total": self.total, **self.counts}

    @property
    def finished(self) -> bool:
        return self.status != "running"

    def apply(self, event_type: str, data: dict[str, Any]) -> None:
        """Fold one event of the sweep's own stream."""
        if event_type == SWEEP_START:
            self._describe(data)
        elif event_type == SWEEP_TRIAL:
            self.entries.append(data)
        elif event_type == SWEEP_PROGRESS:
            self.counts, self.best = data["counts"], data["best"]
            self.eta = data.get("eta_seconds")
        elif event_type in SWEEP_TERMINAL_STATUS:
            self.status = SWEEP_TERMINAL_STATUS[event_type]
            self.counts, self.best = data["counts"], data.get("best")
            self.duration = data.get("duration")
            if self.status == "failed":
                self.error = data

    def load(self, described: dict[str, Any]) -> None:
        """Take the server's whole account (``GET /api/v1/sweep/{id}``)."""
        self._describe(described)
        self.status = described["status"]
        self.entries = list(described["trials"])
        self.counts = described["counts"] or self.counts
        self.best = described["best"]
        self.error = described.get("error")

    def result(self) -> SweepResult:
        return SweepResult(
            self.sweep_id,
            self.status,
            self.strategy,
            self.grid,
            self.metric,
            self.direction,
            trials_frame(self.entries, self.grid),
            self.best,
            dict(self.counts),
        )

    def line(self) -> str:
        """One line of text: how far, how it goes, the best so far."""
        counts = self.counts
        ended = sum(counts.get(k, 0) for k in ("completed", "failed", "cancelled", "skipped"))
        parts = [f"{self.strategy} sweep {self.status}: {ended}/{self.total} trials"]
        details = [f"{counts[k]} {k}" for k in ("failed", "skipped", "cancelled") if counts.get(k)]
        if details:
            parts[0] += f" ({', '.join(details)})"
        if self.best is not None:
            shown = ", ".join(f"{k}={v}" for k, v in self.best["params"].items())
            parts.append(f"best {self.metric} {self.best['objective']:.4g} at {shown}")
        if self.status == "running" and self.eta is not None:
            parts.append(f"ETA {self.eta:.0f} s")
        if self.duration is not None:
            parts.append(f"in {self.duration:.1f} s")
        if self.error is not None:
            parts.append(f"{self.error.get('error_type')}: {self.error.get('error')}")
        return " · ".join(parts)


class Sweep:
    """A sweep running in this kernel's Dask cluster or on the server: awaitable,
    cancellable, shown live (:class:`~qm_jupyter.notebook.sweep_widget.SweepWidget`).

    >>> sweep = qm.sweep(data, "sma_crossover", {"fast": [5, 10], "slow": [30, 60]})
    >>> result = await sweep            # sweep.result() outside a running loop
    >>> sweep.cancel()                  # finished trials are kept
    """

    def __init__(self, state: SweepState, *, where: str, cancel: Callable[[], None]):
        self.state = state
        #: ``"kernel"`` (trials sent to Dask by this kernel) or ``"server"`` (by the server).
        self.where = where
        self._cancel = cancel
        self._future: concurrent.futures.Future[SweepResult] = concurrent.futures.Future()
        self.widget = SweepWidget(state, where=f"in the {where}")
        self._lock = threading.Lock()
        self._drawn = 0.0
        self._display_handle: Any = None
        _resync.watch_cells()

    @property
    def sweep_id(self) -> str:
        return self.state.sweep_id

    @property
    def status(self) -> str:
        """running, completed, failed or cancelled."""
        return self.state.status

    def done(self) -> bool:
        return self._future.done()

    def result(self, timeout: float | None = None) -> SweepResult:
        """Wait for the sweep (blocking) and return its result, or raise why it has none."""
        return self._future.result(timeout)

    def __await__(self) -> Generator[Any, None, SweepResult]:
        return asyncio.wrap_future(self._future).__await__()

    def cancel(self) -> bool:
        """Stop the sweep: queued trials are dropped, running ones cancelled, finished ones
        kept; False if it already ended."""
        if self.done():
            return False
        self._cancel()
        return True

    def show(self) -> None:
        from IPython.display import display

        self._display_handle = display(self.widget, display_id=True)

    def resend(self) -> None:
        """Send the display again from this (the main) thread: a headless executor saves
        only what is sent within a cell (see :mod:`qm_jupyter.notebook.widget`)."""
        self.widget.resend()
        if self._display_handle is not None:
            self._display_handle.update(self.widget)

    def __repr__(self) -> str:
        return f"<Sweep {self.sweep_id} in the {self.where}: {self.state.line()}>"

    def _changed(self) -> None:
        """Redraw the display, at most every REDRAW_INTERVAL seconds while it runs."""
        now = time.monotonic()
        with self._lock:
            if not self.state.finished and now - self._drawn < REDRAW_INTERVAL:
                return
            self._drawn = now
        self.widget.render(self.state)
        if threading.current_thread() is not threading.main_thread():
            _resync.mark(self)

    def _finish(self) -> None:
        """Draw the final line, then resolve: the result, or why the sweep failed."""
        if self._future.done():
            return
        self._changed()
        result = self.state.result()
        if self.state.status == "failed":
            self._future.set_exception(SweepFailed(self.state.error or {}, result))
        else:
            self._future.set_result(result)

    def _fail(self, error: BaseException) -> None:
        """The sweep could not be followed to its end (e.g. the server became unreachable)."""
        if not self._future.done():
            self._future.set_exception(error)

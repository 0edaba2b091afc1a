"""The handle of a run started or watched from a notebook.

``await run`` (in a notebook cell) or ``run.result()`` (anywhere) gives the engine's
:class:`~qm_jupyter.engine.BacktestResult`; a failed run raises :class:`BacktestFailed`,
a cancelled one the engine's :class:`~qm_jupyter.engine.BacktestCancelled`. The handle
resolves only after its display shows the final state.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Generator
from typing import Any

import pandas as pd

from ..engine import BacktestCancelled, BacktestResult
from ..engine.stats import stats_from_wire
from .run_view import RunView
from .widget import BacktestWidget


class BacktestFailed(RuntimeError):
    """The run ended with ``backtest_error``; ``error_type`` and ``traceback`` say why."""

    def __init__(self, error: dict[str, Any]):
        super().__init__(f"{error.get('error_type', 'Error')}: {error.get('error')}")
        self.error_type = error.get("error_type")
        self.traceback = error.get("traceback")


class BacktestRun:
    """A run in this kernel or on the server: awaitable, cancellable, displayed live."""

    def __init__(
        self, backtest_id: str, widget: BacktestWidget, *, where: str, cancel: Callable[[], None]
    ):
        self.backtest_id = backtest_id
        self.widget = widget
        #: ``"kernel"`` (runs here) or ``"server"`` (runs in the server's workers).
        self.where = where
        self._cancel = cancel
        self._future: concurrent.futures.Future[BacktestResult] = concurrent.futures.Future()

    @property
    def status(self) -> str:
        """waiting, running, completed, failed or cancelled."""
        return self.widget.view.status

    def done(self) -> bool:
        return self._future.done()

    def result(self, timeout: float | None = None) -> BacktestResult:
        """Wait for the run (blocking) and return its result, or raise why it has none."""
        return self._future.result(timeout)

    def __await__(self) -> Generator[Any, None, BacktestResult]:
        return asyncio.wrap_future(self._future).__await__()

    def cancel(self) -> bool:
        """Ask the run to stop; False if it already ended. It ends with ``backtest_cancelled``."""
        if self.done():
            return False
        self._cancel()
        return True

    def __repr__(self) -> str:
        return f"<BacktestRun {self.backtest_id} in the {self.where}: {self.status}>"

    def _finish(self, result: BacktestResult | None = None) -> None:
        """Show the final state, then resolve from it (the result if it completed)."""
        if self._future.done():
            return
        try:
            self.widget.finish()
        finally:
            self._resolve(result)

    def _resolve(self, result: BacktestResult | None) -> None:
        view = self.widget.view
        if view.status == "completed":
            self._future.set_result(result or result_from_view(view))
        elif view.status == "failed":
            self._future.set_exception(BacktestFailed(view.error or {}))
        else:
            self._future.set_exception(BacktestCancelled(view.cancelled_bars or 0))

    def _fail(self, error: BaseException) -> None:
        """The run could not be followed at all (e.g. the server refused to start it)."""
        if not self._future.done():
            self.widget.finish()
            self._future.set_exception(error)


def result_from_view(view: RunView) -> BacktestResult:
    """A result from the stream alone: the metrics, the stats, and the equity curve the run
    sent at its end (``equity_curve`` of ``backtest_complete``, indexed by time) or else the
    equity at each progress point (indexed by bars processed)."""
    metrics = dict(view.metrics or {})
    curve = metrics.pop("equity_curve", None)
    stats = stats_from_wire(metrics.pop("stats", None) or {})
    if curve:
        equity = pd.Series(
            [value for _, value in curve],
            index=pd.DatetimeIndex([time for time, _ in curve], name="time"),
            name="equity",
            dtype=float,
        )
    else:
        equity = pd.Series(
            [point.equity for point in view.curve],
            index=pd.Index([point.bars for point in view.curve], name="bars_processed"),
            name="equity",
            dtype=float,
        )
    return BacktestResult(
        view.start.get("strategy") or "",
        dict(view.start.get("params") or {}),
        metrics,
        equity,
        pd.DataFrame(),
        stats=stats.rename(view.start.get("strategy") or ""),
    )

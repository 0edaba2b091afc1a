"""The kernel's own event stream: what every display in this kernel reads.

It numbers each run's events exactly as the server's hub does (``seq`` from 1,
nothing after the terminal event), so a display fed here or from ``/ws`` sees the same
envelope. It keeps no event list, only each run's folded :class:`RunView` (bounded),
which is what a late watcher starts from before it follows live.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from ..events import Event, EventDraft, json_safe
from .run_view import RunView

Listener = Callable[[Event], None]


@dataclass
class _StreamRun:
    view: RunView
    listeners: list[Listener] = field(default_factory=list)


class KernelStream:
    """Numbers, folds and hands out the events of the runs seen in this kernel."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, _StreamRun] = {}

    def emit(self, backtest_id: str, draft: EventDraft) -> None:
        """Take one event (the sink interface); listeners are called in seq order."""
        with self._lock:
            run = self._run(backtest_id)
            if run.view.finished:
                return
            event = Event(
                backtest_id,
                run.view.last_seq + 1,
                draft.type,
                draft.timestamp,
                json_safe(draft.data),
            )
            run.view.apply(event)
            for listener in run.listeners:
                listener(event)

    def knows(self, backtest_id: str) -> bool:
        with self._lock:
            return backtest_id in self._runs

    def follow(self, backtest_id: str, start: Callable[[RunView], Listener]) -> None:
        """Call ``start`` with (a copy of) the run's state so far; the listener it returns
        then gets each later event, with nothing lost or repeated in between."""
        with self._lock:
            run = self._run(backtest_id)
            run.listeners.append(start(run.view.copy()))

    def _run(self, backtest_id: str) -> _StreamRun:
        run = self._runs.get(backtest_id)
        if run is None:
            run = self._runs[backtest_id] = _StreamRun(RunView(backtest_id))
        return run

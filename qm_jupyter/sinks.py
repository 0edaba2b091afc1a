"""Where a source's events go: the hub in this process, or a pipe to the server.

A sink's ``emit`` never blocks and never raises into the code that reports; each
process has one default sink (set by whoever hosts backtests in it: the server
extension, a worker process) that :func:`~qm_jupyter.ws_logger.setup_backtest_logging`
uses when it is given none.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Protocol

from .events import EventDraft


class EventSink(Protocol):
    """Takes a source's events for the hub."""

    def emit(self, backtest_id: str, draft: EventDraft) -> None: ...


class MemorySink:
    """Keeps the events in this process, numbered per run (for use with no server)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: dict[str, list[EventDraft]] = defaultdict(list)

    def emit(self, backtest_id: str, draft: EventDraft) -> None:
        with self._lock:
            self.events[backtest_id].append(draft)


class HubSink:
    """Publishes to the hub of this process from any thread, coalescing into batches.

    The hub lives on the event loop; emitting from another thread (a strategy thread,
    a logging call) queues the draft and schedules one flush on the loop.
    """

    def __init__(self, hub, loop: asyncio.AbstractEventLoop):
        self.hub = hub
        self.loop = loop
        self._lock = threading.Lock()
        self._pending: dict[str, list[EventDraft]] = {}

    def emit(self, backtest_id: str, draft: EventDraft) -> None:
        with self._lock:
            first = not self._pending
            self._pending.setdefault(backtest_id, []).append(draft)
        if first:
            with contextlib.suppress(RuntimeError):  # a closed loop: the server is gone
                self.loop.call_soon_threadsafe(self._flush)

    def _flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for backtest_id, drafts in pending.items():
            try:
                self.hub.ensure_run(backtest_id, origin="logger")
                self.hub.publish(backtest_id, drafts)
            except Exception:
                self.hub.log.exception("Could not publish events of run %s", backtest_id)


class BatchingSink:
    """Collects events under a short lock; a flusher thread hands them on in batches.

    The first event after a quiet spell is handed on at once (low latency for a run that
    reports now and then); after each batch the flusher waits ``flush_interval`` seconds, or
    until ``flush_size`` events wait, so a busy run's events leave in batches (a run that
    logs a line per trade does not cost a pipe write or a POST per line). :meth:`deliver`
    runs on the flusher thread or in :meth:`flush`, under a lock of its own, so a slow
    receiver never stalls the run and batches leave in the order their events were
    emitted. Subclasses implement ``deliver``.
    """

    flush_interval: float = 0.02
    flush_size: int = 1000

    def __init__(self, thread_name: str = "qm-event-flusher") -> None:
        self._lock = threading.Condition()
        self._deliver_lock = threading.Lock()
        self._pending: list[tuple[str, EventDraft]] = []
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)
        self._thread.start()

    def emit(self, backtest_id: str, draft: EventDraft) -> None:
        with self._lock:
            self._pending.append((backtest_id, draft))
            waiting = len(self._pending)
            if waiting == 1 or waiting >= self.flush_size:
                self._lock.notify()

    def deliver(self, batch: list[tuple[str, EventDraft]]) -> None:
        """Hand on one batch of ``(backtest_id, draft)`` in emission order."""
        raise NotImplementedError

    def flush(self, then: Callable[[], None] | None = None) -> None:
        """Deliver what is pending now, then call ``then`` (before any later batch)."""
        with self._deliver_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            if batch:
                self.deliver(batch)
            if then is not None:
                then()

    def close(self) -> None:
        """Stop the flusher and deliver what is left."""
        with self._lock:
            self._closed = True
            self._lock.notify()
        self._thread.join()
        self.flush()

    def _run(self) -> None:
        lock = self._lock
        while True:
            with lock:
                while not self._pending and not self._closed:
                    lock.wait()
                if self._closed:
                    return
            self.flush()
            pause_until = time.monotonic() + self.flush_interval
            with lock:
                while not self._closed and len(self._pending) < self.flush_size:
                    left = pause_until - time.monotonic()
                    if left <= 0:
                        break
                    lock.wait(left)


_default_sink: EventSink | None = None
_providers: list[Callable[[], EventSink | None]] = []


def set_default_sink(sink: EventSink | None) -> None:
    """Make ``sink`` the one that sources in this process use unless told otherwise."""
    global _default_sink
    _default_sink = sink


def register_sink_provider(provider: Callable[[], EventSink | None]) -> None:
    """Let ``provider`` supply the default sink when no host set one; it answers None when
    it does not apply to this process (the notebook side's, outside a kernel)."""
    _providers.append(provider)


def default_sink() -> EventSink:
    """This process's default sink: the one a host set, else the first a registered
    provider supplies (in a Jupyter kernel, the notebook's), else a :class:`MemorySink`."""
    global _default_sink
    if _default_sink is None:
        supplied = (provider() for provider in _providers)
        _default_sink = next((sink for sink in supplied if sink is not None), None) or MemorySink()
    return _default_sink

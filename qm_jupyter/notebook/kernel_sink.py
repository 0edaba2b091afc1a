"""The notebook's sink: every event to the kernel's own stream, and to the server if any.

:func:`qm_jupyter.sinks.default_sink` resolves to it in a kernel, so the seed's
``setup_backtest_logging(id)`` in a notebook both feeds ``qm.watch(id)`` and, when a
server is reachable, publishes to the server's hub for the IDE.
"""

from __future__ import annotations

import threading
from typing import Any

from ..events import EventDraft
from .connection import ServerConnection, current_server
from .kernel_stream import KernelStream
from .publisher import ServerPublisher


class KernelSink:
    """Tees events to the kernel's stream (always) and a server publisher (when connected)."""

    def __init__(self, stream: KernelStream, server: ServerConnection | None = None) -> None:
        self.stream = stream
        self.publisher = ServerPublisher(server) if server is not None else None

    def emit(self, backtest_id: str, draft: EventDraft) -> None:
        self.stream.emit(backtest_id, draft)
        publisher = self.publisher
        if publisher is not None:
            publisher.emit(backtest_id, draft)

    @property
    def server(self) -> ServerConnection | None:
        return None if self.publisher is None else self.publisher.server

    def attach(self, server: ServerConnection | None) -> None:
        """Publish later events to ``server`` (None: to no server)."""
        old, self.publisher = self.publisher, ServerPublisher(server) if server else None
        if old is not None:
            old.close()

    def describe(self, backtest_id: str, request: dict[str, Any]) -> None:
        if self.publisher is not None:
            self.publisher.describe(backtest_id, request)

    def cancel_requested(self, backtest_id: str) -> bool:
        return self.publisher is not None and self.publisher.cancel_requested(backtest_id)

    def flush(self) -> None:
        """Send what is pending to the server now."""
        if self.publisher is not None:
            self.publisher.flush()


_lock = threading.Lock()
_sink: KernelSink | None = None


def kernel_sink() -> KernelSink:
    """This process's notebook sink, attached to the server found on first use."""
    global _sink
    with _lock:
        if _sink is None:
            _sink = KernelSink(KernelStream(), current_server())
        return _sink

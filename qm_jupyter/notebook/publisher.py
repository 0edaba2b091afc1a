"""Publishes a kernel's runs to the server's hub, so the IDE and other clients see them live.

Events are batched (see :class:`~qm_jupyter.sinks.BatchingSink`) and POSTed to
``api/v1/backtest/{id}/events`` from the flusher thread, never from the code that logs;
what is still pending when the kernel exits is delivered then.
The first batch of a run carries its description and this kernel's id (the server fails
the run if that kernel stops or restarts before the run ends); each reply says whether someone
asked the server to cancel the run, which :meth:`ServerPublisher.cancel_requested`
reports to the run. A run the server refuses or cannot be reached for is detached:
its events still reach the kernel's own display, just no longer the server.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from pathlib import Path
from typing import Any

from ..events import TERMINAL_STATUS, EventDraft
from ..sinks import BatchingSink
from .connection import ServerConnection, ServerError

MAX_POST_EVENTS = 5000
RETRY_DELAYS = (0.2, 1.0)

log = logging.getLogger(__name__)


class ServerPublisher(BatchingSink):
    """A sink that POSTs each run's events to one server, in order, a batch at a time."""

    flush_interval = 0.1
    flush_size = 2000

    def __init__(self, server: ServerConnection) -> None:
        self.server = server
        self._state_lock = threading.Lock()
        self._requests: dict[str, dict[str, Any]] = {}
        self._cancel_requested: set[str] = set()
        self._detached: set[str] = set()
        self.kernel_id = this_kernel_id()
        super().__init__("qm-server-publisher")
        # A kernel shut down right after a run ended (nbval, "Restart kernel") still
        # delivers that end; otherwise the server would list the run as running forever.
        atexit.register(self.close)

    def close(self) -> None:
        atexit.unregister(self.close)
        super().close()

    def describe(self, backtest_id: str, request: dict[str, Any]) -> None:
        """What the run is (strategy, params, data...): sent with its first batch."""
        with self._state_lock:
            self._requests[backtest_id] = request

    def cancel_requested(self, backtest_id: str) -> bool:
        """Whether the server was asked to cancel this run (e.g. from the IDE)."""
        return backtest_id in self._cancel_requested

    def deliver(self, batch: list[tuple[str, EventDraft]]) -> None:
        by_run: dict[str, list[EventDraft]] = {}
        for backtest_id, draft in batch:
            by_run.setdefault(backtest_id, []).append(draft)
        for backtest_id, drafts in by_run.items():
            for start in range(0, len(drafts), MAX_POST_EVENTS):
                if backtest_id in self._detached:
                    break
                self._post(backtest_id, drafts[start : start + MAX_POST_EVENTS])

    def _post(self, backtest_id: str, drafts: list[EventDraft]) -> None:
        body: dict[str, Any] = {
            "events": [{"type": d.type, "data": d.data, "timestamp": d.timestamp} for d in drafts]
        }
        with self._state_lock:
            request = self._requests.pop(backtest_id, None)
        if request is not None:
            body["request"] = request
            if self.kernel_id is not None:
                body["kernel_id"] = self.kernel_id
        reply = self._send(backtest_id, body)
        if reply is not None and reply.get("cancel_requested"):
            self._cancel_requested.add(backtest_id)
        if any(d.type in TERMINAL_STATUS for d in drafts):
            self._cancel_requested.discard(backtest_id)

    def _send(self, backtest_id: str, body: dict[str, Any]) -> dict[str, Any] | None:
        path = f"api/v1/backtest/{backtest_id}/events"
        for delay in (*RETRY_DELAYS, None):
            try:
                return self.server.request("POST", path, body)
            except ServerError as error:
                if error.status == 0 and delay is not None:
                    time.sleep(delay)
                    continue
                self._detached.add(backtest_id)
                log.warning(
                    "qm_jupyter: run %s is no longer published to %s: %s",
                    backtest_id,
                    self.server.url,
                    error,
                )
                return None
        return None


def this_kernel_id() -> str | None:
    """The id a Jupyter server gave this kernel (its connection file is
    ``kernel-<id>.json``), or None outside such a kernel."""
    try:
        from ipykernel.connect import get_connection_file

        name = Path(get_connection_file()).stem
    except Exception:  # not in a kernel, or one without a connection file: publish without
        return None
    return name.removeprefix("kernel-") if name.startswith("kernel-") else None

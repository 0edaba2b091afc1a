"""Follows one run on the server's ``/ws`` stream, from a background thread.

The thread runs its own asyncio loop (the kernel's loop is busy running cells) with
tornado's WebSocket client, in batched framing (``qm.batch``: a busy run's events arrive a
few hundred per message). It subscribes with ``since`` = the last seq it has, so after a
dropped connection (or a 4008 close for a stalled reader) it resumes with no gap and no
duplicate, and it stops at the run's terminal event.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable

from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClientConnection, WebSocketError, websocket_connect

from ..events import BATCH_SUBPROTOCOL, TOPIC, Event
from .connection import ServerConnection

MAX_RECONNECTS = 8
CONNECT_TIMEOUT = 10.0


class StreamRefused(RuntimeError):
    """The server answered the subscription with an error (e.g. an unknown run)."""


class ServerFollower:
    """Feeds ``on_event`` with one run's events, then calls ``on_end`` (or ``on_give_up``)."""

    def __init__(
        self,
        server: ServerConnection,
        backtest_id: str,
        *,
        on_event: Callable[[Event], None],
        on_end: Callable[[], None],
        on_give_up: Callable[[BaseException], None],
    ):
        self.server = server
        self.backtest_id = backtest_id
        self.last_seq = 0
        self._on_event = on_event
        self._on_end = on_end
        self._on_give_up = on_give_up
        self._stopped = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connection: WebSocketClientConnection | None = None
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._follow()), name="qm-follower", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop following (the run itself goes on)."""
        self._stopped = True
        loop, connection = self._loop, self._connection
        if loop is not None and connection is not None:
            loop.call_soon_threadsafe(connection.close)

    async def _follow(self) -> None:
        self._loop = asyncio.get_running_loop()
        failures = 0
        error: BaseException | None = None
        while not self._stopped and failures <= MAX_RECONNECTS:
            seen = self.last_seq
            try:
                if await self._session():
                    self._on_end()
                    return
            except StreamRefused as refused:
                self._on_give_up(refused)
                return
            except (OSError, TimeoutError, ValueError, HTTPClientError, WebSocketError) as dropped:
                error = dropped
            failures = 0 if self.last_seq > seen else failures + 1
            await asyncio.sleep(min(0.25 * 2**failures, 5.0))
        if not self._stopped:
            self._on_give_up(
                ConnectionError(f"lost the event stream of {self.backtest_id}: {error}")
            )

    async def _session(self) -> bool:
        """One connection; True once the terminal event arrived, False if it dropped."""
        request = HTTPRequest(self.server.ws_url(), connect_timeout=CONNECT_TIMEOUT)
        self._connection = connection = await websocket_connect(
            request, subprotocols=[BATCH_SUBPROTOCOL]
        )
        try:
            connection.write_message(
                json.dumps(
                    {
                        "type": "subscribe",
                        "topic": TOPIC,
                        "backtest_id": self.backtest_id,
                        "since": self.last_seq,
                    }
                )
            )
            while not self._stopped:
                message = await connection.read_message()
                if message is None:
                    return False
                batch = json.loads(message)
                if any([self._take(frame) for frame in batch]):
                    return True
            return False
        finally:
            connection.close()

    def _take(self, frame: dict) -> bool:
        """Handle one frame; True if it was the run's terminal event."""
        if frame.get("type") == "error":
            raise StreamRefused(str((frame.get("error") or {}).get("message", frame)))
        if frame.get("backtest_id") != self.backtest_id or "seq" not in frame:
            return False  # connected, subscribed, pong
        if frame["seq"] <= self.last_seq:
            return False
        self.last_seq = frame["seq"]
        event = Event(
            self.backtest_id, frame["seq"], frame["type"], frame["timestamp"], frame["data"]
        )
        self._on_event(event)
        return event.is_terminal

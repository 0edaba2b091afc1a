"""``/ws``: the event stream, one authenticated WebSocket per client.

Modelled on jupyter_server's events socket: ``@ws_authenticated`` on ``get`` and an
authorizer check in ``pre_get``. Each connection owns a
:class:`~qm_jupyter.server.hub.Subscriber` (bounded outbox, per-run cursors) and one writer
task that awaits every write, so tornado never queues unsent frames without bound. Bad
messages get an ``error`` reply and the connection stays usable; frames over the size limit
close it with 1009. When the server stops, every connection is closed with 1001.
"""

from __future__ import annotations

import asyncio
import struct
import sys
from collections.abc import Sequence
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from tornado import web, websocket
from tornado.iostream import IOStream, StreamClosedError

from ...events import BATCH_SUBPROTOCOL, PROTOCOL_VERSION, SWEEP_TOPIC, TOPIC, loads
from ..hub import CHUNK, SharedChunk, Subscriber
from ..store import sweep_key
from .base import AUTH_RESOURCE, MAX_SEQ, QuantMindHandlerMixin

try:  # the send-queue length of a socket (Linux, macOS); see _unsent
    import fcntl
    import termios

    _TIOCOUTQ: int | None = termios.TIOCOUTQ
except (ImportError, AttributeError):  # Windows
    _TIOCOUTQ = None

SLOW_CONSUMER_CLOSE_CODE = 4008
GOING_AWAY_CLOSE_CODE = 1001
#: A write is handed to the stream in pieces of at most this many bytes, each with the future
#: tornado gives it: the pieces written so far show that a client is taking a large write.
WRITE_PIECE = 64 * 1024


class ProtocolError(ValueError):
    """A client message that the protocol does not allow."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class BacktestStreamHandler(QuantMindHandlerMixin, JupyterHandler, websocket.WebSocketHandler):
    """The ``/ws`` endpoint: subscribe to all runs or to one run from a sequence number."""

    subscriber: Subscriber | None = None
    _writer: asyncio.Task | None = None
    _age_limit: asyncio.TimerHandle | None = None

    @property
    def ws_settings(self) -> dict[str, Any]:
        return self.settings["qm_jupyter_ws"]

    # tornado reads these three from properties; the values are in seconds and bytes.
    @property
    def max_message_size(self) -> int:
        return self.ws_settings["max_message_size"]

    @property
    def ping_interval(self) -> float | None:
        return self.ws_settings["ping_interval"] or None

    @property
    def ping_timeout(self) -> float | None:
        return self.ws_settings["ping_timeout"] or None

    async def pre_get(self) -> None:
        authorized = await ensure_async(
            self.authorizer.is_authorized(self, self.current_user, "execute", AUTH_RESOURCE)
        )
        if not authorized:
            raise web.HTTPError(403)

    @ws_authenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        await ensure_async(self.pre_get())
        await super().get(*args, **kwargs)

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return BATCH_SUBPROTOCOL if BATCH_SUBPROTOCOL in subprotocols else None

    def open(self, *args: Any, **kwargs: Any) -> None:
        self.set_nodelay(True)
        self.subscriber = Subscriber(
            self.service.hub,
            on_overflow=self._close_slow_consumer,
            max_buffer=self.ws_settings["subscriber_buffer"],
            stall_timeout=self.ws_settings["slow_client_timeout"],
        )
        self.subscriber.send({"type": "connected", "protocol": PROTOCOL_VERSION})
        self._writer = asyncio.ensure_future(self._write_frames(self.subscriber))
        if age := self.ws_settings["max_connection_age"]:
            self._age_limit = asyncio.get_running_loop().call_later(
                age,
                self.close,
                1001,
                "connection age limit reached; reconnect and resume with since",
            )

    async def _write_frames(self, subscriber: Subscriber) -> None:
        """The connection's one writer: a chunk of frames in one write, then wait for it.

        ``write_message`` costs a task and a send() per message, which dominated the
        server's time on busy runs; the frames are built here instead (the same bytes
        tornado would send: text frames, unmasked, no compression - this handler never
        negotiates any) and handed to the connection's stream in one write. With the
        ``qm.batch`` subprotocol the chunk is one message, a JSON array. A chunk shared by
        the followers of a run is encoded once, by the first connection to write it.
        """
        form, encode = (
            ("batch", batch_frame)
            if self.selected_subprotocol == BATCH_SUBPROTOCOL
            else ("plain", text_frames)
        )
        while frames := await subscriber.next_frames(CHUNK):
            connection = self.ws_connection
            if connection is None or connection.is_closing():
                break
            shared = isinstance(frames, SharedChunk)
            payload = frames.encoded(form, encode) if shared else encode(frames)
            if not await send_paced(connection.stream, payload, subscriber):
                break
            subscriber.wrote()
        subscriber.close()
        connection = self.ws_connection
        if connection is not None and not connection.is_closing():  # the hub closed it
            self.close(GOING_AWAY_CLOSE_CODE, "server stopping; reconnect and resume with since")

    def _close_slow_consumer(self, reason: str) -> None:
        self.log.warning("Closing a /ws client that stopped reading: %s", reason)
        self.close(SLOW_CONSUMER_CLOSE_CODE, reason)

    def on_message(self, message: str | bytes) -> None:
        subscriber = self.subscriber
        if subscriber is None or subscriber.closed:
            return
        try:
            reply = self._handle(subscriber, _decode(message))
            if reply is not None:
                subscriber.send(reply)
        except ProtocolError as error:
            subscriber.send({"type": "error", "error": {"code": error.code, "message": str(error)}})

    def _handle(self, subscriber: Subscriber, request: dict[str, Any]) -> dict[str, Any] | None:
        kind = request.get("type")
        if kind == "ping":
            return {"type": "pong"}
        if kind not in ("subscribe", "unsubscribe"):
            raise ProtocolError(
                "unknown_type",
                f"unknown message type {_shown(kind)}; expected subscribe, unsubscribe or ping",
            )
        topic = request.get("topic")
        if topic == SWEEP_TOPIC:
            return self._handle_sweep(subscriber, kind, request)
        if topic != TOPIC:
            raise ProtocolError(
                "bad_topic" if topic is not None else "missing_topic",
                f'{kind} needs "topic": "{TOPIC}" or "{SWEEP_TOPIC}"'
                + (f", got {_shown(topic)}" if topic else ""),
            )
        backtest_id = request.get("backtest_id")
        reply: dict[str, Any] = {"type": f"{kind}d", "topic": TOPIC}
        if backtest_id is None:
            if "since" in request:
                raise ProtocolError("bad_since", "since needs a backtest_id")
            if kind == "subscribe":
                subscriber.follow_all()
            else:
                subscriber.unfollow_all()
            return reply
        if not isinstance(backtest_id, str) or self.service.hub.get_run(backtest_id) is None:
            raise ProtocolError("unknown_run", f"no backtest with id {_shown(backtest_id)}")
        reply["backtest_id"] = backtest_id
        return _follow(subscriber, kind, request, backtest_id, reply)

    def _handle_sweep(
        self, subscriber: Subscriber, kind: str, request: dict[str, Any]
    ) -> dict[str, Any] | None:
        """A sweep's own stream: the same replay and live follow as a run's."""
        sweep_id = request.get("sweep_id")
        if not isinstance(sweep_id, str) or self.service.store.get_sweep(sweep_id) is None:
            raise ProtocolError("unknown_sweep", f"no sweep with id {_shown(sweep_id)}")
        reply = {"type": f"{kind}d", "topic": SWEEP_TOPIC, "sweep_id": sweep_id}
        return _follow(subscriber, kind, request, sweep_key(sweep_id), reply)

    def on_close(self) -> None:
        if self.subscriber is not None:
            self.subscriber.close()
        if self._age_limit is not None:
            self._age_limit.cancel()


def _follow(
    subscriber: Subscriber, kind: str, request: dict[str, Any], key: str, reply: dict[str, Any]
) -> dict[str, Any] | None:
    """(Un)follow the run or sweep whose stream is ``key``, replaying from ``since``."""
    if kind == "unsubscribe":
        subscriber.unfollow_run(key)
        return reply
    since = request.get("since", 0)
    if isinstance(since, bool) or not isinstance(since, int) or not 0 <= since <= MAX_SEQ:
        raise ProtocolError(
            "bad_since", f"since must be an integer from 0 to {MAX_SEQ}, got {_shown(since)}"
        )
    reply["since"] = since
    # The reply is queued before the replay: the client sees "subscribed" first.
    subscriber.send(reply)
    subscriber.follow_run(key, since)
    return None


def batch_frame(frames: Sequence[str]) -> bytes:
    """One text frame of ``frames`` as a JSON array (the ``qm.batch`` framing)."""
    return text_frames([f"[{','.join(frames)}]"])


def text_frames(messages: Sequence[str]) -> bytes:
    """RFC 6455 text frames (final, unmasked: server to client), one per message."""
    parts = []
    for message in messages:
        payload = message.encode()
        size = len(payload)
        if size < 126:
            parts.append(bytes((0x81, size)))
        elif size <= 0xFFFF:
            parts.append(struct.pack("!BBH", 0x81, 126, size))
        else:
            parts.append(struct.pack("!BBQ", 0x81, 127, size))
        parts.append(payload)
    return b"".join(parts)


def _shown(value: Any, limit: int = 100) -> str:
    """A client's value in an error message: short, and never the repr of a deep structure
    (which would recurse past Python's limit on a hostile frame)."""
    if isinstance(value, dict):
        return "a JSON object"
    if isinstance(value, list):
        return "a JSON array"
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


async def send_paced(stream: IOStream, payload: bytes, subscriber: Subscriber) -> bool:
    """Write ``payload`` and wait until the stream took it all; False if the stream closed or
    the client was cut off, because its buffer is full and it took nothing for
    ``subscriber.stall_timeout`` seconds.

    Whether a client takes anything is seen with public API only: the futures of the pieces
    written so far (a count of bytes this handler keeps), and what still sits in the socket's
    send queue. The kernel wakes a writer only once a large part of a full send buffer has
    drained, so the pieces alone stand still for seconds while a slow client keeps reading.
    """
    view = memoryview(payload)
    pieces: list[tuple[asyncio.Future, int]] = []
    try:
        for start in range(0, len(view), WRITE_PIECE):
            piece = view[start : start + WRITE_PIECE]
            pieces.append((stream.write(piece), len(piece)))
    except StreamClosedError:
        return False
    last = pieces[-1][0]
    taken = _taken(stream, pieces)
    while not last.done():
        await asyncio.wait({last}, timeout=subscriber.stall_timeout)
        if last.done():
            break
        if (now := _taken(stream, pieces)) != taken:
            taken = now
            subscriber.progressed()
        elif subscriber.cut_off_if_stalled():
            return False  # closing the connection fails the pieces' futures
    try:
        last.result()
    except StreamClosedError:
        return False
    return True


def _taken(stream: IOStream, pieces: list[tuple[asyncio.Future, int]]) -> tuple[int, int]:
    """What the client has visibly taken of a write: bytes of the pieces written, and
    bytes still in the socket's send queue (either changes only when the client reads)."""
    written = sum(size for future, size in pieces if future.done())
    return written, _unsent(stream)


def _unsent(stream: IOStream) -> int:
    """Bytes in the socket's send queue, not yet taken by the client (Linux's SIOCOUTQ;
    0 where it cannot be read: only the pieces then show progress)."""
    if _TIOCOUTQ is None:
        return 0
    try:
        unsent = fcntl.ioctl(stream.socket.fileno(), _TIOCOUTQ, b"\0\0\0\0")
    except (OSError, AttributeError, ValueError):  # no socket (closed), or not a TCP one
        return 0
    return int.from_bytes(unsent, sys.byteorder, signed=True)


def _decode(message: str | bytes) -> dict[str, Any]:
    if isinstance(message, bytes):
        raise ProtocolError(
            "binary_frame", "binary frames are not part of the protocol; send JSON text"
        )
    try:
        request = loads(message)
    except (ValueError, RecursionError) as error:
        raise ProtocolError("invalid_json", f"message is not valid JSON: {error}") from None
    if not isinstance(request, dict):
        raise ProtocolError("invalid_message", "a message must be a JSON object")
    return request

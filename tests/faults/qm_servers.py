"""Helpers of the fault, fuzz and contract tests: real servers (tests/server_process.py), sockets.

``serve(...)`` starts a server with extra ``--QuantMindExtension.*`` flags and, optionally,
user strategy files written into ``root_dir/strategies/`` before it starts. ``RawStream`` is a
WebSocket client on a plain socket with a tiny receive buffer, so a test can stop reading and
let the server's socket really fill up (tornado's client would keep reading in the background).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest

# tests/ is on sys.path (tests/conftest.py is a rootdir conftest, prepend import mode).
from server_process import TERMINAL, JupyterServer, StreamClient, worker_pids

__all__ = ["TERMINAL", "JupyterServer", "StreamClient", "worker_pids"]
SUB = {"type": "subscribe", "topic": "backtest"}


@pytest.fixture
def serve(tmp_path):
    """Start servers: ``serve(*flags, strategies={"name.py": source})``; all stopped at the end."""
    servers: list[JupyterServer] = []

    def start(*extra: str, strategies: dict[str, str] | None = None) -> JupyterServer:
        index = len(servers)
        root = tmp_path / f"root{index}"
        (root / "strategies").mkdir(parents=True)
        for filename, source in (strategies or {}).items():
            (root / "strategies" / filename).write_text(textwrap.dedent(source))
        server = JupyterServer(
            root, tmp_path / f"runs{index}.sqlite", tmp_path / f"server{index}.log", *extra
        )
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()


def log_text(server: JupyterServer) -> str:
    return server.log_path.read_text(errors="replace")


def wait_for_log(server: JupyterServer, needle: str, timeout: float = 120) -> None:
    """Block until the server's log contains ``needle`` (a guard against hangs, not a limit)."""
    deadline = time.monotonic() + timeout
    while needle not in log_text(server):
        if time.monotonic() > deadline:
            raise AssertionError(f"{needle!r} never appeared in the server log")
        time.sleep(0.05)


class RawStream:
    """A minimal blocking WebSocket client on a socket with a small receive buffer."""

    def __init__(self, server: JupyterServer, rcvbuf: int = 4096):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(("127.0.0.1", server.port))
        key = base64.b64encode(os.urandom(16)).decode()
        path = f"{server.base_url}ws?token={urllib.parse.quote(server.token)}"
        self.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            assert chunk, "the server closed the socket during the handshake"
            self.buffer += chunk
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head

    def send(self, message: dict[str, Any]) -> None:
        payload = json.dumps(message).encode()
        mask = os.urandom(4)
        assert len(payload) < 126
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)

    def drain(self, timeout: float = 60) -> tuple[list[dict], tuple[int, str] | None]:
        """Read to the end: the text messages, and the close frame's (code, reason) if any."""
        self.sock.settimeout(timeout)
        messages: list[dict] = []
        close = None
        while close is None:
            try:
                chunk = self.sock.recv(1 << 16)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            self.buffer += chunk
            used = 0  # parse what is complete, keep the rest (never re-parse: no GIL hogging)
            for opcode, payload, end in _frames(self.buffer):
                used = end
                if opcode == 0x1:
                    messages.append(json.loads(payload))
                elif opcode == 0x8:
                    code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005
                    close = (code, payload[2:].decode())
            self.buffer = self.buffer[used:]
        self.sock.close()
        return messages, close


def _frames(data: bytes):
    """(opcode, payload, end offset) of each complete server frame (unmasked, unfragmented)."""
    at = 0
    while at + 2 <= len(data):
        opcode, length = data[at] & 0x0F, data[at + 1] & 0x7F
        at += 2
        if length == 126:
            if at + 2 > len(data):
                return
            (length,) = struct.unpack(">H", data[at : at + 2])
            at += 2
        elif length == 127:
            if at + 8 > len(data):
                return
            (length,) = struct.unpack(">Q", data[at : at + 8])
            at += 8
        if at + length > len(data):
            return
        at += length
        yield opcode, data[at - length : at], at


def stored_events(server: JupyterServer, backtest_id: str) -> list[dict]:
    """Every stored event of a run through ``GET .../events``, page after page."""
    events: list[dict] = []
    while True:
        page = server.get(f"api/v1/backtest/{backtest_id}/events?since={len(events)}")
        events += page["events"]
        if not page["has_more"]:
            return events


def call(
    server: JupyterServer,
    method: str,
    path: str,
    body: Any = None,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, str]:
    """One HTTP request; (status, decoded JSON body or None, raw text). Never raises on 4xx/5xx.

    ``token=None`` sends the server's token, ``""`` sends none.
    """
    data = (
        None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    )
    request = urllib.request.Request(server.url + path, data=data, method=method)
    token = server.token if token is None else token
    if token:
        request.add_header("Authorization", f"token {token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    text = raw.decode(errors="replace")
    try:
        decoded = json.loads(text) if text else None
    except ValueError:
        decoded = None
    return status, decoded, text


SMALL_RUN = {
    "strategy": "sma_crossover",
    "params": {"fast": 5, "slow": 20},
    "data": {"sample": "gbm", "bars": 3_000, "seed": 3, "freq": "1min"},
}

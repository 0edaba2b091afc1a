"""Helpers of the fault, fuzz and contract tests: real servers (tests/e2e's helper), sockets.

``serve(...)`` starts a server with extra ``--QuantMindExtension.*`` flags and, optionally,
user strategy files written into ``root_dir/strategies/`` before it starts. ``RawStream`` is a
WebSocket client on a plain socket with a tiny receive buffer, so a test can stop reading and
let the server's socket really fill up (tornado's client would keep reading in the background).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import socket
import struct
import sys
import textwrap
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest


def _load_e2e_helpers():
    """tests/e2e/conftest.py as a module of its own name (every conftest is "conftest")."""
    name = "qm_tests_e2e_helpers"
    if name not in sys.modules:
        path = Path(__file__).parent.parent / "e2e" / "conftest.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


e2e = _load_e2e_helpers()
JupyterServer = e2e.JupyterServer
StreamClient = e2e.StreamClient
TERMINAL = e2e.TERMINAL
SUB = {"type": "subscribe", "topic": "backtest"}


def worker_pids(server_pid: int) -> list[int]:
    """The server's live worker processes (``python -m qm_jupyter.worker``)."""
    children = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
    pids = []
    for pid in children:
        try:
            if b"qm_jupyter.worker" in Path(f"/proc/{pid}/cmdline").read_bytes():
                pids.append(int(pid))
        except FileNotFoundError:
            continue
    return pids


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

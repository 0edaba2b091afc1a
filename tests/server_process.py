"""A real ``jupyter server`` subprocess with the extension, which can be killed and restarted.

Shared by the e2e and fault tests (through tests/e2e/conftest.py) and by
benchmarks/bench_server.py; it needs no pytest.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tornado.websocket import websocket_connect

TERMINAL = {"backtest_complete", "backtest_error", "backtest_cancelled"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class JupyterServer:
    """``jupyter server`` in a subprocess, on a fixed port, database and root_dir."""

    base_url = "/qm%20base/"

    def __init__(self, root_dir: Path, db_path: Path, log_path: Path, *extra: str):
        self.root_dir = root_dir
        self.db_path = db_path
        self.log_path = log_path
        self.extra = extra
        self.port = free_port()
        self.token = os.urandom(12).hex()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.base_url}"

    def start(self, timeout: float = 60) -> None:
        command = [
            sys.executable, "-m", "jupyter_server",
            "--allow-root", "--no-browser",
            f"--port={self.port}", "--port-retries=0",
            f"--ServerApp.base_url={self.base_url}",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root_dir}",
            f"--QuantMindExtension.db_path={self.db_path}",
            *self.extra,
        ]  # fmt: skip
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=self._environment()
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter server exited: {self.log_path.read_text()[-3000:]}")
            try:
                self.get("api/v1/strategies")
                return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        raise TimeoutError("jupyter server did not answer in time")

    def _environment(self) -> dict[str, str]:
        """Only this extension: the others installed here (JupyterLab...) slow every start.

        qm_jupyter itself stays enabled by the package's own jupyter-config file.
        """
        config_dir = self.root_dir.parent / "jupyter-config"
        config_dir.mkdir(exist_ok=True)
        others = ["jupyterlab", "jupyter_lsp", "notebook_shim", "jupyter_server_terminals"]
        (config_dir / "jupyter_server_config.json").write_text(
            json.dumps({"ServerApp": {"jpserver_extensions": dict.fromkeys(others, False)}})
        )
        return {**os.environ, "JUPYTER_CONFIG_DIR": str(config_dir)}

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def request(self, method: str, path: str, body: Any = None, token: str | None = None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"token {self.token if token is None else token}")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, body if body is not None else {})

    async def connect(self, *, batched: bool = False):
        """A /ws client; ``batched`` asks for the ``qm.batch`` framing (messages are arrays)."""
        ws_url = self.url.replace("http", "ws", 1) + f"ws?token={self.token}"
        subprotocols = ["qm.batch"] if batched else None
        client = StreamClient(await websocket_connect(ws_url, subprotocols=subprotocols))
        connected = {"type": "connected", "protocol": 1}
        assert await client.receive() == ([connected] if batched else connected)
        return client

    async def wait_until_done(self, backtest_id: str, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.get(f"api/v1/backtest/{backtest_id}")
            if run["status"] in ("completed", "failed", "cancelled"):
                return run
            await asyncio.sleep(0.1)
        raise TimeoutError(f"run {backtest_id} did not end")


class StreamClient:
    def __init__(self, connection):
        self.connection = connection

    async def send(self, message: dict) -> None:
        await self.connection.write_message(json.dumps(message))

    async def receive(self, timeout: float = 60) -> dict | None:
        frame = await asyncio.wait_for(self.connection.read_message(), timeout)
        return None if frame is None else json.loads(frame)

    async def events_until_terminal(self) -> list[dict]:
        events = []
        while True:
            message = await self.receive()
            assert message is not None, "the server closed the stream"
            events.append(message)
            if message["type"] in TERMINAL:
                return events

    def close(self) -> None:
        self.connection.close()


def worker_pids(server_pid: int) -> list[int]:
    """The server's live worker processes (children running ``qm_jupyter.server.worker``)."""
    children = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
    pids = []
    for pid in children:
        try:
            if b"qm_jupyter.server.worker" in Path(f"/proc/{pid}/cmdline").read_bytes():
                pids.append(int(pid))
        except FileNotFoundError:
            continue
    return pids

"""The notebooks and the kernel-to-server path against a real ``jupyter server`` subprocess.

Two checks, because nbval starts its own kernels and no server:

- a kernel started *by the server* (``POST api/kernels``, as JupyterLab does) finds the
  server with no URL or token typed, from the variables the extension exported, and its
  notebook-defined run reaches the server's hub;
- every notebook passes nbval in a kernel given those same variables (what a
  server-started kernel inherits), so each run really goes through the server: built-in
  strategies run in its workers and are followed over ``/ws``, notebook strategies and
  the hand-written loop are published to its hub. The server's run list then proves it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import uuid
from pathlib import Path

import pytest
from server_process import JupyterServer
from tornado.websocket import websocket_connect

from qm_jupyter.discovery import ENV_TOKEN, ENV_URL

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
ORIGINS = ("server", "kernel")

KERNEL_CODE = """
import os
import qm_jupyter as qm

def crossing(data, lookback=15):
    return (data.close > data.close.rolling(lookback).mean()).to_numpy().astype(int)

server = qm.connect()
run = qm.run_backtest({"sample": "gbm", "bars": 3000, "seed": 4}, crossing, display=False)
result = run.result(120)
print(server.url == os.environ["QM_JUPYTER_URL"], run.where, run.backtest_id)
"""


def test_a_kernel_started_by_the_server_finds_it_and_publishes(jupyter_server):
    kernel = jupyter_server.post("api/kernels", {"name": "python3"})
    try:
        output = asyncio.run(execute(jupyter_server, kernel["id"], KERNEL_CODE))
    finally:
        with contextlib.suppress(ValueError):  # 204: no JSON body
            jupyter_server.request("DELETE", f"api/kernels/{kernel['id']}")
    found, where, backtest_id = output.split()
    assert (found, where) == ("True", "kernel")
    stored = jupyter_server.get(f"api/v1/backtest/{backtest_id}")
    assert stored["origin"] == "kernel" and stored["request"]["strategy"] == "crossing"
    assert stored["status"] == "completed"  # the handle resolves after the server has the end


SLOW_KERNEL_RUN = """
import os
import time
import qm_jupyter as qm
from qm_jupyter.engine import Strategy

class Slow(Strategy):
    def next(self):
        time.sleep(0.001)

run = qm.run_backtest({"sample": "gbm", "bars": 1_000_000, "seed": 1}, Slow, display=False)
print(run.backtest_id, os.getpid())
"""


def test_a_run_whose_kernel_is_killed_mid_run_is_failed_with_the_reason(jupyter_server):
    """A kernel that dies cannot report its run's end; the server notices the kernel is
    gone (here: restarted by the server's restarter) and fails the run, saying why."""
    kernel = jupyter_server.post("api/kernels", {"name": "python3"})
    try:
        output = asyncio.run(execute(jupyter_server, kernel["id"], SLOW_KERNEL_RUN))
        backtest_id, pid = output.split()
        assert wait_until_running(jupyter_server, backtest_id) == "running"
        os.kill(int(pid), signal.SIGKILL)
        assert asyncio.run(jupyter_server.wait_until_done(backtest_id))["status"] == "failed"
    finally:
        with contextlib.suppress(ValueError):  # 204: no JSON body
            jupyter_server.request("DELETE", f"api/kernels/{kernel['id']}")
    run = jupyter_server.get(f"api/v1/backtest/{backtest_id}")
    assert run["error"]["error_type"] == "KernelStopped"
    assert kernel["id"] in run["error"]["error"] and "stopped or restarted" in run["error"]["error"]
    events = jupyter_server.get(f"api/v1/backtest/{backtest_id}/events")["events"]
    assert events[-1]["type"] == "backtest_error"


def test_a_kernel_shut_down_mid_run_cancels_its_run_first(jupyter_server):
    """Shutting a kernel down (closing a notebook) ends its runs as cancelled, delivered
    before the kernel exits, rather than leaving them to die with the interpreter."""
    kernel = jupyter_server.post("api/kernels", {"name": "python3"})
    output = asyncio.run(execute(jupyter_server, kernel["id"], SLOW_KERNEL_RUN))
    backtest_id, _ = output.split()
    assert wait_until_running(jupyter_server, backtest_id) == "running"
    with contextlib.suppress(ValueError):  # 204: no JSON body
        jupyter_server.request("DELETE", f"api/kernels/{kernel['id']}")
    assert asyncio.run(jupyter_server.wait_until_done(backtest_id))["status"] == "cancelled"
    events = jupyter_server.get(f"api/v1/backtest/{backtest_id}/events")["events"]
    assert events[-1]["type"] == "backtest_cancelled"
    assert events[-1]["data"]["bars_processed"] > 0


def wait_until_running(server: JupyterServer, backtest_id: str) -> str:
    """The run's status once the kernel has published it running (or whatever after 60 s)."""
    deadline = time.monotonic() + 60
    status = None
    while status != "running" and time.monotonic() < deadline:
        with contextlib.suppress(urllib.error.HTTPError):  # not published yet
            status = server.get(f"api/v1/backtest/{backtest_id}")["status"]
        time.sleep(0.1)
    return status


def test_every_notebook_passes_nbval_in_kernels_of_the_server(jupyter_server, tmp_path):
    environment = {**os.environ, ENV_URL: jupyter_server.url, ENV_TOKEN: jupyter_server.token}
    nbval = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", str(NOTEBOOKS), "-q", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path)],
        env=environment, capture_output=True, text=True, timeout=900, cwd=tmp_path,
    )  # fmt: skip
    assert nbval.returncode == 0, nbval.stdout[-5000:] + nbval.stderr[-2000:]
    runs = jupyter_server.get("api/v1/backtest?limit=100")["runs"]
    by_origin = {
        origin: [r for r in runs if r["origin"] == origin] for origin in ("server", "kernel")
    }
    # quickstart and watch_from_ide on the server; custom_strategy's four and the hand loop here
    assert len(by_origin["server"]) >= 2
    assert len(by_origin["kernel"]) >= 5
    assert any(r["backtest_id"].startswith("hand-") for r in by_origin["kernel"])
    # every kernel delivers its runs' ends before it shuts down
    unfinished = [(r["backtest_id"], r["origin"], r["status"]) for r in runs
                  if r["status"] not in ("completed", "failed", "cancelled")]  # fmt: skip
    assert not unfinished


async def execute(server: JupyterServer, kernel_id: str, code: str, timeout: float = 180) -> str:
    """Run ``code`` in a kernel over the server's kernel WebSocket; return its stdout."""
    url = (
        server.url.replace("http", "ws", 1)
        + f"api/kernels/{kernel_id}/channels?token={server.token}"
    )
    connection = await websocket_connect(url)
    msg_id = uuid.uuid4().hex
    connection.write_message(json.dumps({
        "channel": "shell",
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": uuid.uuid4().hex,
                   "username": "test", "version": "5.3"},
        "parent_header": {}, "metadata": {},
        "content": {"code": code, "silent": False, "store_history": False,
                    "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
    }))  # fmt: skip
    stdout: list[str] = []
    reply, idle = None, False
    try:
        while reply is None or not idle:
            message = json.loads(await asyncio.wait_for(connection.read_message(), timeout))
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream" and content["name"] == "stdout":
                stdout.append(content["text"])
            elif kind == "error":
                raise AssertionError("\n".join(content["traceback"]))
            elif kind == "execute_reply":
                reply = content
            elif kind == "status":
                idle = content["execution_state"] == "idle"
    finally:
        connection.close()
    assert reply["status"] == "ok", reply
    return "".join(stdout)

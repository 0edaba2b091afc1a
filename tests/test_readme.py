"""The README's examples run as written, from the repository root, so they cannot rot.

Every fenced block of README.md is either run here or marked, on the line right before its
fence, ``<!-- readme-test: skip (why) -->``; a block of another kind without a marker fails
``test_every_readme_block_is_run_or_says_why_not``. What is run, in README order, each
reported as its own test (``test_readme_block[line-N-kind]``):

- ``bash`` blocks in ``bash``, ``python`` blocks in a fresh ``python`` process, both with the
  repository root as working directory, against the server the README starts
  (``jupyter server --IdentityProvider.token=secret`` in the repository root);
- ``json`` blocks are parsed: a run request is posted to that server and must complete, an
  event must have the fields of a real event of the same type;
- blocks marked ``<!-- readme-test: kernel -->`` (top-level ``await``, as in a notebook) run
  in a kernel started by that server, as JupyterLab would start one.

The one change made to the blocks: the server listens on a free port, not 8888, so
``127.0.0.1:8888`` is replaced by its address.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from server_process import JupyterServer
from tornado.websocket import websocket_connect

from qm_jupyter.engine.sample import gbm_prices

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
MARKER = re.compile(r"<!--\s*readme-test:\s*(skip|kernel)\b\s*(?:\((.*)\))?\s*-->")
FENCE = re.compile(r"^```(\S*)\s*$")
README_ADDRESS = "127.0.0.1:8888"
TIMEOUT = 300


@dataclass
class Block:
    line: int  # of the opening fence, 1-based
    language: str
    code: str
    marker: str | None = None
    reason: str = ""
    outcome: dict = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.marker or self.language or "plain"

    @property
    def id(self) -> str:
        return f"line-{self.line}-{self.kind}"


def readme_blocks() -> list[Block]:
    lines = README.read_text().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        block = Block(i + 1, opening.group(1), "\n".join(lines[i + 1 : end]) + "\n")
        marker = MARKER.fullmatch(lines[i - 1].strip()) if i else None
        if marker:
            block.marker, block.reason = marker.group(1), (marker.group(2) or "").strip()
        blocks.append(block)
        i = end + 1
    return blocks


BLOCKS = readme_blocks()
RUN = [b for b in BLOCKS if b.marker != "skip"]


class ReadmeServer(JupyterServer):
    """``jupyter server --IdentityProvider.token=secret`` started in the repository root.

    As a user's would be: every installed server extension on (JupyterLab too), base_url
    ``/``, the repository root as root_dir; a free port instead of 8888, and the database in
    the test's directory (the session's Jupyter data directory is a temporary one anyway).
    """

    base_url = "/"

    def __init__(self, directory: Path):
        super().__init__(REPO, directory / "runs.sqlite", directory / "server.log")
        self.token = "secret"

    def _environment(self) -> dict[str, str]:
        return dict(os.environ)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[int, dict]:
    """Every block run once, in README order, against one server; its outcome by line."""
    server = ReadmeServer(tmp_path_factory.mktemp("readme"))
    server.start(timeout=120)
    context: dict = {}
    try:
        for block in RUN:
            try:
                block.outcome = RUNNERS[block.kind](block, server, context)
            except Exception as error:  # reported by that block's own test
                block.outcome = {"error": f"{type(error).__name__}: {error}"}
    finally:
        server.stop()
    return {block.line: block.outcome for block in RUN}


@pytest.mark.parametrize("block", RUN, ids=[b.id for b in RUN])
def test_readme_block(block, outcomes):
    outcome = outcomes[block.line]
    if "error" in outcome:
        pytest.fail(f"README.md line {block.line}:\n{block.code}\n{outcome['error']}", False)
    assert outcome["checked"], outcome


def test_every_readme_block_is_run_or_says_why_not():
    kinds = {"python", "bash", "json", "kernel"}
    unrunnable = [b.id for b in BLOCKS if b.marker != "skip" and b.kind not in kinds]
    assert not unrunnable, (
        f"mark these README blocks <!-- readme-test: skip (why) -->: {unrunnable}"
    )
    assert all(b.reason for b in BLOCKS if b.marker == "skip"), "a skip marker says why"
    assert len(RUN) >= 8, [b.id for b in RUN]  # the examples, not only the markers, are found
    assert {b.kind for b in RUN} == kinds


def test_sample_prices_are_the_engines_gbm_sample_under_both_roots():
    """data/prices.csv: one file, inside the repository root and inside notebooks/."""
    for root in (REPO, REPO / "notebooks"):
        resolved = (root / "data" / "prices.csv").resolve()
        assert resolved == REPO / "notebooks" / "data" / "prices.csv"
        assert resolved.is_relative_to(root.resolve())  # the server's root_dir rule
    assert resolved.stat().st_size < 300_000
    shipped = pd.read_csv(resolved, index_col=0, parse_dates=True)
    sample = gbm_prices(5000, seed=7, freq="1h")
    assert shipped.index.equals(sample.index)
    assert np.allclose(shipped.to_numpy(), sample.to_numpy(), atol=5e-5, rtol=0)


# ---- how each kind of block runs and what it must show ------------------------------------


def _code(block: Block, server: JupyterServer) -> str:
    return block.code.replace(README_ADDRESS, f"127.0.0.1:{server.port}")


def _process(command: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert done.returncode == 0, (
        f"exit {done.returncode}\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    )
    return done


def run_bash(block: Block, server: JupyterServer, context: dict) -> dict:
    done = _process(["bash", "-euo", "pipefail", "-c", _code(block, server)])
    checked = []
    for line in done.stdout.splitlines():
        reply = json.loads(line) if line.startswith("{") else None
        if reply and "backtest_id" in reply:  # POST /api/v1/backtest/run
            assert reply["status"] in ("running", "queued"), reply
            run = asyncio.run(server.wait_until_done(reply["backtest_id"]))
            assert run["status"] == "completed", run
            context.setdefault("runs", []).append(reply["backtest_id"])
            checked.append(f"run {reply['backtest_id']} completed")
        if reply and "sweep_id" in reply:  # POST /api/v1/sweep/run
            assert reply["status"] == "running" and reply["total_trials"] > 0, reply
            checked.append(f"sweep {reply['sweep_id']} started")
    return {"checked": checked or ["exit 0"], "stdout": done.stdout[-500:]}


def run_python(block: Block, server: JupyterServer, context: dict) -> dict:
    done = _process([sys.executable, "-c", _code(block, server)])
    checked = ["exit 0"]
    if '"topic": "sweep"' in block.code:  # the sweep's watcher: trials, then its end
        assert "sweep_complete" in done.stdout.splitlines()[-1], done.stdout[-2000:]
        trials = [line for line in done.stdout.splitlines() if line.startswith("{")]
        assert len(trials) > 1, done.stdout[-2000:]
        checked.append(f"followed a sweep to sweep_complete ({len(trials)} trials)")
    elif "websocket_connect" in block.code:  # the watching client: it followed a run to its end
        assert json.loads(done.stdout.splitlines()[0]) == {"type": "connected", "protocol": 1}
        assert " backtest_complete " in done.stdout, done.stdout[-2000:]
        checked.append("followed a run to backtest_complete")
    return {"checked": checked, "stdout": done.stdout[-500:]}


def run_json(block: Block, server: JupyterServer, context: dict) -> dict:
    message = json.loads(block.code)
    if "strategy" in message:  # a run request: the server takes it and runs it to the end
        reply = server.post("api/v1/backtest/run", message)
        run = asyncio.run(server.wait_until_done(reply["backtest_id"]))
        assert run["status"] == "completed", run
        return {"checked": [f"posted, run {reply['backtest_id']} completed"]}
    # an event: the same fields as a stored event of that type of an earlier run
    assert context.get("runs"), "no earlier block started a run"
    page = server.get(f"api/v1/backtest/{context['runs'][0]}/events?since=0&limit=10000")
    real = next(e for e in page["events"] if e["type"] == message["type"])
    assert set(message) == set(real), (sorted(message), sorted(real))
    assert set(message["data"]) == set(real["data"]), (sorted(message["data"]), real["data"])
    return {"checked": [f"fields of a real {message['type']} event"]}


def run_kernel(block: Block, server: JupyterServer, context: dict) -> dict:
    before = {r["backtest_id"] for r in server.get("api/v1/backtest?limit=1000")["runs"]}
    kernel = server.post("api/kernels", {"name": "python3"})
    try:
        asyncio.run(execute_in_kernel(server, kernel["id"], _code(block, server)))
    finally:
        with contextlib.suppress(ValueError):  # 204: no JSON body
            server.request("DELETE", f"api/kernels/{kernel['id']}")
    runs = [
        r
        for r in server.get("api/v1/backtest?limit=1000")["runs"]
        if r["backtest_id"] not in before
    ]
    assert runs, "the kernel's block started no run on the server"
    ended = [asyncio.run(server.wait_until_done(r["backtest_id"]))["status"] for r in runs]
    assert set(ended) == {"completed"}, ended
    return {"checked": [f"{len(runs)} run(s) on the server, completed"]}


RUNNERS = {"bash": run_bash, "python": run_python, "json": run_json, "kernel": run_kernel}


async def execute_in_kernel(server: JupyterServer, kernel_id: str, code: str) -> None:
    """Execute ``code`` in a kernel over the server's kernel WebSocket, as JupyterLab does."""
    url = server.url.replace("http", "ws", 1) + f"api/kernels/{kernel_id}/channels?token=secret"
    connection = await websocket_connect(url)
    msg_id = uuid.uuid4().hex
    header = {"msg_id": msg_id, "msg_type": "execute_request", "session": uuid.uuid4().hex,
              "username": "readme", "version": "5.3"}  # fmt: skip
    content = {"code": code, "silent": False, "store_history": True, "user_expressions": {},
               "allow_stdin": False, "stop_on_error": True}  # fmt: skip
    await connection.write_message(json.dumps(
        {"channel": "shell", "header": header, "parent_header": {}, "metadata": {},
         "content": content}
    ))  # fmt: skip
    reply, idle = None, False
    deadline = time.monotonic() + TIMEOUT
    try:
        while reply is None or not idle:
            frame = await asyncio.wait_for(connection.read_message(), deadline - time.monotonic())
            assert frame is not None, "the kernel's socket closed"
            message = json.loads(frame)
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if message["msg_type"] == "error":
                traceback = "\n".join(message["content"]["traceback"])
                raise AssertionError(re.sub(r"\x1b\[[0-9;]*m", "", traceback))
            if message["msg_type"] == "execute_reply":
                reply = message["content"]
            elif message["msg_type"] == "status":
                idle = message["content"]["execution_state"] == "idle"
    finally:
        connection.close()
    assert reply["status"] == "ok", reply

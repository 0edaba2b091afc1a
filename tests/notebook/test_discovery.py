"""A kernel's server discovery from runtime files: only live servers are probed.

Servers that were killed leave their ``jpserver-*.json`` behind. Discovery must skip every
file whose process is gone - exited, a zombie, or its number now reused by a later
process - without a request to its URL; only the file of the live server is probed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest

from qm_jupyter.discovery import ENV_URL
from qm_jupyter.notebook import connection


class Recorder(BaseHTTPRequestHandler):
    """Answers every GET as the backtest API would, and records the path."""

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        body = b'{"strategies": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def probed() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server that every runtime file points at, and the paths it was asked for."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    server.paths = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/", server.paths
    server.shutdown()
    server.server_close()


@pytest.fixture
def runtime_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    monkeypatch.delenv(ENV_URL, raising=False)
    return tmp_path


def write_runtime_file(runtime_dir: Path, pid: int, url: str, written_at: float) -> None:
    path = runtime_dir / f"jpserver-{pid}.json"
    path.write_text(json.dumps({"pid": pid, "url": url, "token": "t", "root_dir": "/srv"}))
    os.utime(path, (written_at, written_at))


def discover_as_child_of(pid: int, monkeypatch) -> connection.ServerConnection | None:
    monkeypatch.setenv("JPY_PARENT_PID", str(pid))
    return connection.discover_server()


def test_the_live_server_that_started_the_kernel_is_found(runtime_dir, probed, monkeypatch):
    url, paths = probed
    write_runtime_file(runtime_dir, os.getpid(), url, time.time())
    found = discover_as_child_of(os.getpid(), monkeypatch)
    assert found is not None and (found.url, found.root_dir) == (url, "/srv")
    assert repr(found) == f"ServerConnection(url={url!r})"  # no token in stored outputs
    assert paths == ["/" + connection.PROBE_PATH]


def test_a_server_that_exited_is_not_probed(runtime_dir, probed, monkeypatch):
    url, paths = probed
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    write_runtime_file(runtime_dir, gone.pid, url, time.time())
    assert discover_as_child_of(gone.pid, monkeypatch) is None
    assert paths == []


def test_a_killed_server_not_yet_reaped_is_not_probed(runtime_dir, probed, monkeypatch):
    url, paths = probed
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 30
        while psutil.Process(zombie.pid).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, "the child did not exit"
            time.sleep(0.01)
        os.kill(zombie.pid, 0)  # still "there" for a signal: the old check let it through
        write_runtime_file(runtime_dir, zombie.pid, url, time.time())
        assert discover_as_child_of(zombie.pid, monkeypatch) is None
    finally:
        zombie.wait()
    assert paths == []


def test_a_stale_file_whose_number_a_later_process_reuses_is_not_probed(
    runtime_dir, probed, monkeypatch
):
    url, paths = probed
    later = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        an_hour_before_it_started = psutil.Process(later.pid).create_time() - 3600
        write_runtime_file(runtime_dir, later.pid, url, an_hour_before_it_started)
        assert discover_as_child_of(later.pid, monkeypatch) is None
        assert connection._runtime_root_dir(url) is None
    finally:
        later.kill()
        later.wait()
    assert paths == []

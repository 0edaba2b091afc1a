"""Hostile-input tests: one real server per module (tests/server_process.py), blocking clients.

Hypothesis drives synchronous tests, so these use blocking clients (``websocket-client``, which
jupyter_server already depends on, and urllib) against a module-scoped server subprocess.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from server_process import JupyterServer

# The fault tests' helpers (call, RawStream...) are shared: tests/faults is put on sys.path.
sys.path.insert(0, str(Path(__file__).parent.parent / "faults"))


@pytest.fixture(scope="module")
def server_flags() -> tuple[str, ...]:
    """Extra server flags; a test module overrides this fixture."""
    return ()


@pytest.fixture(scope="module")
def server(tmp_path_factory, server_flags):
    base = tmp_path_factory.mktemp("server")
    root = base / "root"
    root.mkdir()
    server = JupyterServer(root, base / "runs.sqlite", base / "server.log", *server_flags)
    server.start()
    yield server
    server.stop()

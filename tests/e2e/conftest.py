"""A real ``jupyter server`` subprocess with the extension, which tests can kill and restart."""

from __future__ import annotations

import pytest

# tests/ is on sys.path (tests/conftest.py is a rootdir conftest, prepend import mode).
from server_process import TERMINAL, JupyterServer, StreamClient, free_port

__all__ = ["TERMINAL", "JupyterServer", "StreamClient", "free_port", "jupyter_server"]


@pytest.fixture
def jupyter_server(tmp_path):
    """Start a server; the test may stop and start it again on the same files."""
    root = tmp_path / "root"
    root.mkdir()
    server = JupyterServer(root, tmp_path / "runs.sqlite", tmp_path / "server.log")
    server.start()
    yield server
    server.stop()

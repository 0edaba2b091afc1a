"""Shared fixtures: a real Jupyter server with the extension, in-process (pytest-jupyter,
for tests/api) or as a subprocess that a test can kill and restart (``jupyter_server``)."""

from __future__ import annotations

import pytest
from server_process import JupyterServer

pytest_plugins = ["pytest_jupyter.jupyter_server"]


@pytest.fixture
def jupyter_server(tmp_path):
    """A ``jupyter server`` subprocess; the test may stop and start it on the same files."""
    root = tmp_path / "root"
    root.mkdir()
    server = JupyterServer(root, tmp_path / "runs.sqlite", tmp_path / "server.log")
    server.start()
    yield server
    server.stop()

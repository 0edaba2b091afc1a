"""The tests keep every Jupyter path in temporary directories (tests/conftest.py).

A server subprocess that a test kills cannot remove its runtime file: that file, and those of
the kernels it started, must land in the session's temporary runtime directory, never in the
user's own one.
"""

from __future__ import annotations

import os
import signal
import urllib.request
from pathlib import Path

import pytest
from jupyter_core.paths import jupyter_config_dir, jupyter_data_dir, jupyter_runtime_dir
from server_process import JupyterServer

VARIABLES = [
    "JUPYTER_RUNTIME_DIR",
    "JUPYTER_DATA_DIR",
    "JUPYTER_CONFIG_DIR",
    "IPYTHONDIR",
    "JUPYTERLAB_SETTINGS_DIR",
    "JUPYTERLAB_WORKSPACES_DIR",
]


def test_every_jupyter_directory_of_the_session_is_temporary(
    session_jupyter_dir, user_jupyter_runtime_dir
):
    for directory in (jupyter_runtime_dir(), jupyter_data_dir(), jupyter_config_dir()):
        assert Path(directory).is_relative_to(session_jupyter_dir), directory
    for variable in VARIABLES:
        assert Path(os.environ[variable]).is_relative_to(session_jupyter_dir), variable
    assert "JUPYTER_PATH" not in os.environ
    assert not user_jupyter_runtime_dir.is_relative_to(session_jupyter_dir)


@pytest.mark.e2e
def test_a_killed_server_leaves_nothing_in_the_users_runtime_dir(
    tmp_path, user_jupyter_runtime_dir
):
    root = tmp_path / "root"
    root.mkdir()
    server = JupyterServer(root, tmp_path / "runs.sqlite", tmp_path / "server.log")
    server.start()
    session_runtime = Path(jupyter_runtime_dir())
    server_file = f"jpserver-{server.process.pid}.json"
    try:
        kernel_id = server.post("api/kernels", {"name": "python3"})["id"]
        kernel_file = f"kernel-{kernel_id}.json"
        assert (session_runtime / server_file).is_file()
        assert (session_runtime / kernel_file).is_file()
        shutdown = urllib.request.Request(f"{server.url}api/kernels/{kernel_id}", method="DELETE")
        shutdown.add_header("Authorization", f"token {server.token}")
        urllib.request.urlopen(shutdown, timeout=30).close()
    finally:
        server.stop(signal.SIGKILL)
    assert (session_runtime / server_file).is_file(), "a killed server cannot clean up"
    assert not (user_jupyter_runtime_dir / server_file).exists()
    assert not (user_jupyter_runtime_dir / kernel_file).exists()

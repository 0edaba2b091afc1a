"""Shared fixtures: a real Jupyter server with the extension, in-process (pytest-jupyter,
for tests/server) or as a subprocess that a test can kill and restart (``jupyter_server``)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from jupyter_core.paths import jupyter_runtime_dir
from server_process import JupyterServer

# Every Jupyter and IPython directory of the session is a temporary one, set here before any
# test or plugin asks for one: this process, the servers and kernels it starts (they inherit the
# environment) never write runtime files, settings or data into the user's own directories. A
# server that a test kills leaves its jpserver-*.json behind in the temporary directory only.
USER_JUPYTER_RUNTIME_DIR = Path(jupyter_runtime_dir())  # the user's, before the override
JUPYTER_TMP = Path(tempfile.mkdtemp(prefix="qm-tests-jupyter-"))
JUPYTER_DIRS = {
    "JUPYTER_RUNTIME_DIR": "runtime",
    "JUPYTER_DATA_DIR": "data",
    "JUPYTER_CONFIG_DIR": "config",
    "IPYTHONDIR": "ipython",
    "JUPYTERLAB_SETTINGS_DIR": "lab-settings",
    "JUPYTERLAB_WORKSPACES_DIR": "lab-workspaces",
}
for _variable, _name in JUPYTER_DIRS.items():
    (JUPYTER_TMP / _name).mkdir()
    os.environ[_variable] = str(JUPYTER_TMP / _name)
for _variable in ("JUPYTER_PATH", "JUPYTER_CONFIG_PATH"):  # extra user search paths
    os.environ.pop(_variable, None)
atexit.register(shutil.rmtree, JUPYTER_TMP, ignore_errors=True)

pytest_plugins = ["pytest_jupyter.jupyter_server"]


@pytest.fixture
def user_jupyter_runtime_dir() -> Path:
    """The user's own Jupyter runtime directory, as it was before the session's override."""
    return USER_JUPYTER_RUNTIME_DIR


@pytest.fixture
def session_jupyter_dir() -> Path:
    """The temporary directory that holds every Jupyter directory of the session."""
    return JUPYTER_TMP


@pytest.fixture
def jupyter_server(tmp_path):
    """A ``jupyter server`` subprocess; the test may stop and start it on the same files."""
    root = tmp_path / "root"
    root.mkdir()
    server = JupyterServer(root, tmp_path / "runs.sqlite", tmp_path / "server.log")
    server.start()
    yield server
    server.stop()

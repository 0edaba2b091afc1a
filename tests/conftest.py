"""Shared fixtures: a real in-process Jupyter server with the extension (pytest-jupyter)."""

from __future__ import annotations

pytest_plugins = ["pytest_jupyter.jupyter_server"]

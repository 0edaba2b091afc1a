"""Fixtures of the notebook API tests."""

from __future__ import annotations

import pytest

from qm_jupyter.notebook import connection
from qm_jupyter.notebook import kernel_sink as kernel_sink_module
from qm_jupyter.notebook.kernel_sink import KernelSink, kernel_sink


@pytest.fixture
def kernel_alone(monkeypatch) -> KernelSink:
    """No server anywhere: the notebook API works in this process alone."""
    monkeypatch.setattr(connection, "_resolved", True)
    monkeypatch.setattr(connection, "_current", None)
    monkeypatch.setattr(kernel_sink_module, "_sink", None)
    return kernel_sink()

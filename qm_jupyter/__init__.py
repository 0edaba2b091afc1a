"""qm-jupyter: live backtest streaming for Jupyter.

A Jupyter server extension adds ``/ws`` (one event stream of every backtest) and the
backtest REST API; the engine runs backtests in worker processes; the seed's logging
API (:mod:`qm_jupyter.ws_logger`) turns any run's logs and progress into events.

In a notebook, ``import qm_jupyter as qm`` gives ``qm.run_backtest``, ``qm.sweep``,
``qm.watch`` and ``qm.connect`` (:mod:`qm_jupyter.notebook`), loaded on first use so that
the server, which imports this package too, does not load widgets.
"""

from __future__ import annotations

import sys
from typing import Any

from . import sinks

__version__ = "0.1.0"

_NOTEBOOK_API = frozenset(
    {
        "run_backtest",
        "sweep",
        "watch",
        "connect",
        "BacktestRun",
        "BacktestFailed",
        "Sweep",
        "SweepFailed",
        "SweepResult",
    }
)


def __getattr__(name: str) -> Any:
    if name in _NOTEBOOK_API:
        from . import notebook

        return getattr(notebook, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_NOTEBOOK_API])


def _kernel_sink() -> sinks.EventSink | None:
    """In an IPython kernel, the notebook's sink (the kernel's own stream, which the widgets
    read, and the server's hub when one is reachable); the notebook side, and with it
    ipywidgets, is imported only then."""
    if "ipykernel" not in sys.modules:
        return None
    from IPython import get_ipython

    if getattr(get_ipython(), "kernel", None) is None:
        return None
    from .notebook.kernel_sink import kernel_sink

    return kernel_sink()


sinks.register_sink_provider(_kernel_sink)


def _jupyter_server_extension_points() -> list[dict]:
    from .server.app import QuantMindExtension

    return [{"module": "qm_jupyter", "app": QuantMindExtension}]

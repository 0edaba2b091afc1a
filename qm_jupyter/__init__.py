"""qm-jupyter: live backtest streaming for Jupyter.

A Jupyter server extension adds ``/ws`` (one event stream of every backtest) and the
backtest REST API; the engine runs backtests in worker processes; the seed's logging
API (:mod:`qm_jupyter.ws_logger`) turns any run's logs and progress into events.

In a notebook, ``import qm_jupyter as qm`` gives ``qm.run_backtest``, ``qm.watch`` and
``qm.connect`` (:mod:`qm_jupyter.notebook`), loaded on first use so that the server,
which imports this package too, does not load widgets.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_NOTEBOOK_API = frozenset({"run_backtest", "watch", "connect", "BacktestRun", "BacktestFailed"})


def __getattr__(name: str) -> Any:
    if name in _NOTEBOOK_API:
        from . import notebook

        return getattr(notebook, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_NOTEBOOK_API])


def _jupyter_server_extension_points() -> list[dict]:
    from .app import QuantMindExtension

    return [{"module": "qm_jupyter", "app": QuantMindExtension}]

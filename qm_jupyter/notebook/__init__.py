"""The notebook side of qm_jupyter: run or watch backtests with a live widget.

``import qm_jupyter as qm`` then ``qm.run_backtest(...)``, ``qm.sweep(...)``,
``qm.watch(id)``, ``qm.connect(url, token)``; see :mod:`qm_jupyter.notebook.api`.
"""

from .api import connect, run_backtest, sweep, watch
from .run import BacktestFailed, BacktestRun
from .sweep import Sweep, SweepFailed
from .sweep_result import SweepResult

__all__ = [
    "BacktestFailed",
    "BacktestRun",
    "Sweep",
    "SweepFailed",
    "SweepResult",
    "connect",
    "run_backtest",
    "sweep",
    "watch",
]

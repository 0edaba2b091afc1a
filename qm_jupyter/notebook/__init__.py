"""The notebook side of qm_jupyter: run or watch backtests with a live widget.

``import qm_jupyter as qm`` then ``qm.run_backtest(...)``, ``qm.watch(id)``,
``qm.connect(url, token)``; see :mod:`qm_jupyter.notebook.api`.
"""

from .api import connect, run_backtest, watch
from .run import BacktestFailed, BacktestRun

__all__ = ["BacktestFailed", "BacktestRun", "connect", "run_backtest", "watch"]

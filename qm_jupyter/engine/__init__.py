"""qm_jupyter's backtest engine: numpy/pandas, orders and brackets per bar, streaming-friendly.

Usage::

    from qm_jupyter.engine import run_backtest

    result = run_backtest("data/prices.csv", "sma_crossover", {"fast": 10, "slow": 30},
                          commission=0.001)
    result.metrics        # final_balance, total_return, total_trades, win_rate, sharpe_ratio,
                          # max_drawdown, bars, duration (the `backtest_complete` keys)
    result.equity         # pd.Series of equity at every close, indexed by bar time
    result.trades         # pd.DataFrame: entry_time, exit_time, entry_price, exit_price,
                          # size, return, pnl

Own strategies come in two forms, `VectorStrategy` (or a plain signals function) and per-bar
`Strategy`; see `qm_jupyter.engine.strategy`.

Conventions:

- A signal computed on bar t's close fills at bar t+1's open; a signal on the last bar has no next
  bar and is ignored.
- Vectorized strategies are all-in, long and short, with optional stops (`sl_stop`, `tp_stop`,
  `tsl_stop`: `qm_jupyter.engine.vector`); per-bar ones place market, limit, stop and
  stop-limit orders with SL/TP brackets, long and short (`qm_jupyter.engine.broker`).
- `conventions="backtesting.py"` reproduces backtesting.py 0.6.6's numbers; "qm" (the default)
  fixes its quirks, one setting each (`broker.SETTING_CHOICES`).
- Commission c is a fraction of traded value (default 0): buying with cash V at price p gives
  V / (p * (1 + c)) units; selling u units at p gives u * p * (1 - c).
- Equity is marked at every close: cash + units * close.
- A position still open at the end is closed at the last bar's close and counts as a trade.
- Metrics are defined in `qm_jupyter.engine.metrics` (Sharpe from per-bar returns with ddof=1,
  periods per year inferred from bar spacing; undefined values are None, never NaN).
- Progress, cancellation and trade logs are described in `qm_jupyter.engine.reporting`; data
  formats and errors in `qm_jupyter.engine.data` and `qm_jupyter.engine.spec`.
"""

from .backtest import RUN_SETTINGS, check_settings, run_backtest
from .broker import BROKER_SETTINGS, CONVENTIONS, Order, Position, Trade
from .data import load_prices
from .errors import BacktestCancelled, DataError, ParamError
from .metrics import METRIC_KEYS
from .params import Param
from .registry import (
    get_strategy,
    list_strategies,
    register_strategy,
    unregister_strategy,
    validate_params,
)
from .reporting import RunObserver
from .result import BacktestResult
from .spec import validate_data_spec
from .strategy import Strategy, VectorStrategy

__all__ = [
    "BROKER_SETTINGS",
    "CONVENTIONS",
    "METRIC_KEYS",
    "RUN_SETTINGS",
    "BacktestCancelled",
    "BacktestResult",
    "DataError",
    "Order",
    "Param",
    "ParamError",
    "Position",
    "RunObserver",
    "Strategy",
    "Trade",
    "VectorStrategy",
    "check_settings",
    "get_strategy",
    "list_strategies",
    "load_prices",
    "register_strategy",
    "run_backtest",
    "unregister_strategy",
    "validate_data_spec",
    "validate_params",
]

"""What a run returns: metrics plus the equity curve, its drawdown and trades as pandas objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .ledger import Ledger

#: `result.trades` columns, the same for both strategy forms.
TRADE_COLUMNS = (
    "size",
    "entry_bar",
    "exit_bar",
    "entry_time",
    "exit_time",
    "entry_price",
    "exit_price",
    "sl",
    "tp",
    "pnl",
    "commission",
    "return",
    "tag",
    "exit_reason",
)
FLOAT_COLUMNS = dict.fromkeys(
    ("size", "entry_price", "exit_price", "sl", "tp", "pnl", "commission", "return"), np.float64
)


@dataclass(frozen=True)
class BacktestResult:
    """A finished run.

    `trades` has one row per closed trade (a partial close is a row of its own): `size`
    (negative when short), `entry_bar`/`exit_bar`, `entry_time`/`exit_time`, `entry_price`
    (spread included), `exit_price`, `sl`, `tp`, `pnl` (net of `commission`), `return` (a
    fraction), `tag` and `exit_reason` ("close": a close order or exit signal, "signal": an
    opposite order, "sl", "tp", "finalize": the end of the data, "liquidation": equity <= 0).

    >>> from qm_jupyter.engine import run_backtest
    >>> result = run_backtest({"sample": "gbm", "bars": 1000}, "buy_and_hold")
    >>> result.trades[["entry_bar", "exit_bar", "exit_reason"]].values.tolist()
    [[1, 999, 'finalize']]
    >>> result.stats["# Trades"], result.stats["Open Trades"], result.equity.index[0].isoformat()
    (1, 1, '2020-01-01T00:00:00+00:00')
    >>> float(result.drawdown.min()) == result.metrics["max_drawdown"]
    True
    """

    strategy: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    equity: pd.Series = field(repr=False)
    trades: pd.DataFrame = field(repr=False)
    #: The run's settings (conventions and each setting's value).
    settings: dict[str, Any] = field(default_factory=dict, repr=False)
    #: The bar where a per-bar strategy's `next()` first ran (0 for vectorized runs).
    start_bar: int = 0
    #: The statistics under the run's conventions (`qm_jupyter.engine.stats.compute_stats`).
    stats: pd.Series = field(default_factory=lambda: pd.Series(dtype=object), repr=False)
    #: The prices the run used (OHLCV by bar time), for charts of the run.
    data: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def drawdown(self) -> pd.Series:
        """equity / its running peak - 1 at every close (<= 0; its minimum is max_drawdown)."""
        equity = self.equity
        return (equity / equity.cummax() - 1.0).rename("drawdown")

    def __repr__(self) -> str:
        m = self.metrics
        params = ", ".join(f"{k}={v}" for k, v in self.params.items())
        ret = "n/a" if m["total_return"] is None else f"{m['total_return']:+.2%}"
        return (
            f"<BacktestResult {self.strategy}({params}): {m['bars']} bars, "
            f"{m['total_trades']} trades, return {ret}, sharpe {m['sharpe_ratio']}>"
        )


def trades_frame(ledger: Ledger, index: pd.DatetimeIndex) -> pd.DataFrame:
    """`result.trades` of a vectorized run (all-in: no tags)."""
    columns = {
        "size": ledger.units,
        "entry_bar": ledger.entry_bar,
        "exit_bar": ledger.exit_bar,
        "entry_time": index[ledger.entry_bar],
        "exit_time": index[ledger.exit_bar],
        "entry_price": ledger.entry_price,
        "exit_price": ledger.exit_price,
        "sl": ledger.sl,
        "tp": ledger.tp,
        "pnl": ledger.pnl,
        "commission": ledger.fees,
        "return": ledger.returns,
        "tag": pd.Series([None] * len(ledger), dtype=object),
        "exit_reason": pd.Series(ledger.exit_reason, dtype=object),
    }
    for name, dtype in FLOAT_COLUMNS.items():  # in place of a whole-frame astype (a copy)
        columns[name] = np.asarray(columns[name], dtype=dtype)
    return pd.DataFrame(columns, columns=list(TRADE_COLUMNS))

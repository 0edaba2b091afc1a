"""What a run returns: metrics plus the equity curve and trades as pandas objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .ledger import Ledger


@dataclass(frozen=True)
class BacktestResult:
    """A finished run.

    >>> from qm_jupyter.engine import run_backtest
    >>> result = run_backtest({"sample": "gbm", "bars": 1000}, "buy_and_hold")
    >>> result.trades.columns.tolist()
    ['entry_time', 'exit_time', 'entry_price', 'exit_price', 'size', 'return', 'pnl']
    >>> result.stats["total_trades"], result.equity.index[0].isoformat()
    (1, '2020-01-01T00:00:00+00:00')
    """

    strategy: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    equity: pd.Series = field(repr=False)
    trades: pd.DataFrame = field(repr=False)

    @property
    def stats(self) -> pd.Series:
        """The metrics as a Series, for display."""
        return pd.Series(self.metrics, name=self.strategy, dtype=object)

    def __repr__(self) -> str:
        m = self.metrics
        params = ", ".join(f"{k}={v}" for k, v in self.params.items())
        ret = "n/a" if m["total_return"] is None else f"{m['total_return']:+.2%}"
        return (
            f"<BacktestResult {self.strategy}({params}): {m['bars']} bars, "
            f"{m['total_trades']} trades, return {ret}, sharpe {m['sharpe_ratio']}>"
        )


def trades_frame(ledger: Ledger, index: pd.DatetimeIndex) -> pd.DataFrame:
    """One row per closed trade: entry/exit time and price, size (units), return, pnl."""
    return pd.DataFrame(
        {
            "entry_time": index[ledger.entry_bar],
            "exit_time": index[ledger.exit_bar],
            "entry_price": ledger.entry_price,
            "exit_price": ledger.exit_price,
            "size": ledger.units,
            "return": ledger.returns,
            "pnl": ledger.pnl,
        }
    )

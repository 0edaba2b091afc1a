"""Cross-check against backtesting.py on its bundled GOOG data (daily, 2148 bars).

Compared, for sma_crossover(10, 20) in both our forms, commission 0 and 0.2%:
- number of trades, every entry/exit time and entry price, every exit price but the last
  (prices to 1e-12: theirs are scaled by the 1e-8 unit and back);
- every trade's P&L but the last, and the equity curve at every close but the last (rtol 1e-6);
- max drawdown and win rate.

Set-up that makes them comparable: `FractionalBacktest` (units in steps of 1e-8, so all-in is
fractional as ours, up to 1e-8 units), `trade_on_close=False` (next-open fills),
`exclusive_orders=True`, `finalize_trades=True` and the same long-only crossover rule
(tests/backtesting_reference.py, shared with the benchmarks).
Known difference: backtesting.py closes the position left open at the end at the last bar's
*open*, we close it at the last *close* (our convention); so the last trade's exit price differs
and our final balance is theirs times close[-1] / open[-1]. Their ReturnPct is P&L over the entry
value without commission (ours includes it) and their Sharpe is defined differently: not compared.
"""

from __future__ import annotations

import warnings

import pytest
from backtesting.lib import FractionalBacktest
from backtesting.test import GOOG

# tests/ is on sys.path (tests/conftest.py is a rootdir conftest, prepend import mode).
from backtesting_reference import COMPARABLE, LongOnlySmaCross

from qm_jupyter.engine import run_backtest


@pytest.fixture(scope="module", params=[0.0, 0.002])
def reference(request):
    commission = request.param
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt = FractionalBacktest(
            GOOG,
            LongOnlySmaCross,
            commission=commission,
            fractional_unit=1e-8,
            **COMPARABLE,
        )
        stats = bt.run()
    return commission, stats


@pytest.mark.parametrize("strategy", ["sma_crossover", "sma_crossover_bars"])
def test_matches_backtesting_py(reference, strategy):
    commission, stats = reference
    ours = run_backtest(GOOG, strategy, {"fast": 10, "slow": 20}, commission=commission)
    theirs = stats["_trades"]
    trades = ours.trades
    assert len(trades) == len(theirs) == ours.metrics["total_trades"] > 20
    assert trades.entry_time.tolist() == theirs.EntryTime.tolist()
    assert trades.exit_time.tolist() == theirs.ExitTime.tolist()
    # (their prices went through the 1e-8 unit scaling: equal up to float rounding)
    assert trades.entry_price.to_numpy() == pytest.approx(theirs.EntryPrice, rel=1e-12)
    assert trades.exit_price.iloc[:-1].to_numpy() == pytest.approx(
        theirs.ExitPrice.iloc[:-1], rel=1e-12
    )
    assert trades.exit_price.iloc[-1] == GOOG.Close.iloc[-1]
    assert theirs.ExitPrice.iloc[-1] == pytest.approx(GOOG.Open.iloc[-1], rel=1e-12)
    assert trades.pnl.iloc[:-1].to_numpy() == pytest.approx(theirs.PnL.iloc[:-1], rel=1e-6)
    equity = stats["_equity_curve"].Equity
    assert ours.equity.iloc[:-1].to_numpy() == pytest.approx(equity.iloc[:-1], rel=1e-6)
    final = stats["Equity Final [$]"] * GOOG.Close.iloc[-1] / GOOG.Open.iloc[-1]
    assert ours.metrics["final_balance"] == pytest.approx(final, rel=1e-6)
    assert ours.metrics["max_drawdown"] == pytest.approx(stats["Max. Drawdown [%]"] / 100, rel=1e-6)
    assert ours.metrics["win_rate"] == pytest.approx(stats["Win Rate [%]"] / 100)

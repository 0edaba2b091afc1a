"""A run's chart data: bounded in size, and keeping the extremes a chart must show."""

from __future__ import annotations

import numpy as np
import orjson

from qm_jupyter.engine import load_prices, run_backtest
from qm_jupyter.engine.chart_data import CHART_TRADE_FIELDS, run_chart

DATA = {"sample": "gbm", "bars": 20_000, "seed": 3, "freq": "1min"}


def test_buckets_keep_the_price_extremes_and_the_deepest_drawdown():
    prices = load_prices(DATA)
    result = run_backtest(prices, "sma_crossover", {"fast": 5, "slow": 40})
    chart = run_chart(prices, result.equity, result.trades, buckets=37)
    assert len(chart["time"]) == 37
    assert chart["time"][0] == prices.index[0].isoformat()
    assert max(chart["high"]) == prices["high"].max()
    assert min(chart["low"]) == prices["low"].min()
    assert chart["open"][0] == prices["open"].iloc[0]
    assert chart["close"][-1] == prices["close"].iloc[-1]
    assert chart["equity"][-1] == result.equity.iloc[-1]
    assert min(chart["drawdown"]) == result.metrics["max_drawdown"]
    assert all(len(chart[key]) == 37 for key in ("open", "high", "low", "close", "equity"))


def test_trades_beyond_the_limit_are_those_of_largest_pnl_in_entry_order():
    prices = load_prices(DATA)
    result = run_backtest(prices, "sma_crossover", {"fast": 3, "slow": 10})
    assert len(result.trades) > 50
    chart = run_chart(prices, result.equity, result.trades, max_trades=50)
    assert chart["trades_total"] == len(result.trades)
    shown = chart["trades"]
    assert len(shown) == 50 and tuple(shown[0]) == CHART_TRADE_FIELDS
    cutoff = np.sort(result.trades["pnl"].abs().to_numpy())[-50]
    assert all(abs(t["pnl"]) >= cutoff for t in shown)
    assert [t["entry_time"] for t in shown] == sorted(t["entry_time"] for t in shown)


def test_short_runs_and_strict_json():
    prices = load_prices({"sample": "gbm", "bars": 3, "seed": 1})
    result = run_backtest(prices, "buy_and_hold")
    chart = run_chart(prices, result.equity, result.trades)
    assert len(chart["time"]) == 3
    assert orjson.loads(orjson.dumps(chart)) == chart
    assert run_chart(prices.iloc[:0], result.equity.iloc[:0], result.trades.iloc[:0]) == {
        "time": [], "open": [], "high": [], "low": [], "close": [],
        "equity": [], "drawdown": [], "trades": [], "trades_total": 0,
    }  # fmt: skip

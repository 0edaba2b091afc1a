"""Parity with backtesting.py 0.6.6 under ``conventions="backtesting.py"``, on its bundled data.

Each case is one strategy written twice, in backtesting.py's API and in ours, with the same
logic. Compared: the trades exactly (count, entry and exit bars, sizes, tags) and their prices,
P&L, commissions, returns, SL and TP to 1e-12, the equity at every close to 1e-12, and
`result.stats`: the same keys in the same order, values to rel 1e-9 (NaN where it gives NaN).
Then each convention setting, flipped alone to qm's value, must break parity in some case.

backtesting.py is AGPL and test-only: qm_jupyter never imports it.
"""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np
import pandas as pd
import pytest
from backtesting import Backtest
from backtesting import Strategy as BtStrategy
from backtesting.test import EURUSD, GOOG

from qm_jupyter.engine import Strategy, run_backtest
from qm_jupyter.engine.broker import CONVENTIONS, SETTING_CHOICES

DATA = {"goog": GOOG, "eurusd": EURUSD}


def SMA(values, n):
    return pd.Series(values).rolling(n).mean()


# --- the cases: (backtesting.py strategy, ours) with the same logic ---------------------------


class _BtCross(BtStrategy):
    fast, slow = 10, 20

    def init(self):
        self.f = self.I(SMA, self.data.Close, self.fast)
        self.s = self.I(SMA, self.data.Close, self.slow)

    def up(self):
        return self.f[-1] > self.s[-1] and self.f[-2] <= self.s[-2]

    def down(self):
        return self.f[-1] < self.s[-1] and self.f[-2] >= self.s[-2]


class _OurCross(Strategy):
    fast, slow = 10, 20

    def init(self):
        self.f = self.I(SMA, self.data.close, self.fast)
        self.s = self.I(SMA, self.data.close, self.slow)

    def up(self):
        i, f, s = self.i, self.f, self.s
        return f[i] > s[i] and f[i - 1] <= s[i - 1]

    def down(self):
        i, f, s = self.i, self.f, self.s
        return f[i] < s[i] and f[i - 1] >= s[i - 1]


class BtLong(_BtCross):
    def next(self):
        if self.up() and not self.position:
            self.buy()
        elif self.down() and self.position:
            self.position.close()


class OurLong(_OurCross):
    def next(self):
        if self.up() and not self.position:
            self.buy()
        elif self.down() and self.position:
            self.position.close()


class BtReverse(_BtCross):
    """buy()/sell() on crosses: a reversal with exclusive_orders, the quirk without."""

    def next(self):
        if self.up():
            self.buy()
        elif self.down():
            self.sell()


class OurReverse(_OurCross):
    def next(self):
        if self.up():
            self.buy()
        elif self.down():
            self.sell()


class BtCloseThenOrder(_BtCross):
    def next(self):
        if self.up():
            self.position.close()
            self.buy()
        elif self.down():
            self.position.close()
            self.sell()


class OurCloseThenOrder(_OurCross):
    def next(self):
        if self.up():
            self.close()
            self.buy()
        elif self.down():
            self.close()
            self.sell()


class BtBrackets(_BtCross):
    def next(self):
        c = self.data.Close[-1]
        if self.up():
            self.buy(size=0.5, sl=c * 0.95, tp=c * 1.08, tag="long")
        elif self.down():
            self.sell(size=0.5, sl=c * 1.05, tp=c * 0.92, tag="short")


class OurBrackets(_OurCross):
    def next(self):
        c = self.price
        if self.up():
            self.buy(0.5, sl=c * 0.95, tp=c * 1.08, tag="long")
        elif self.down():
            self.sell(0.5, sl=c * 1.05, tp=c * 0.92, tag="short")


class BtLimitStop(_BtCross):
    """Limit, stop-limit and stop entries, pending orders cancelled at each signal."""

    def next(self):
        c = self.data.Close[-1]
        up, down = self.up(), self.down()
        if up or down:
            for order in list(self.orders):
                if not order.is_contingent:
                    order.cancel()
        if up:
            self.position.close()
            if len(self.data) % 2:
                self.buy(limit=c * 0.995, sl=c * 0.9, tag="limit")
            else:
                self.buy(stop=c * 1.002, limit=c * 1.006, tp=c * 1.1, tag="stop-limit")
        elif down:
            self.position.close()
            self.sell(stop=c * 0.997, sl=c * 1.08, tp=c * 0.95, tag="stop")


class OurLimitStop(_OurCross):
    def next(self):
        c = self.price
        up, down = self.up(), self.down()
        if up or down:
            for order in self.orders:
                if not order.is_contingent:
                    order.cancel()
        if up:
            self.close()
            if (self.i + 1) % 2:
                self.buy(limit=c * 0.995, sl=c * 0.9, tag="limit")
            else:
                self.buy(stop=c * 1.002, limit=c * 1.006, tp=c * 1.1, tag="stop-limit")
        elif down:
            self.close()
            self.sell(stop=c * 0.997, sl=c * 1.08, tp=c * 0.95, tag="stop")


class BtPartial(_BtCross):
    """90% in, half out five bars later, the rest out on the down-cross."""

    def next(self):
        if self.up() and not self.position:
            self.buy(size=0.9)
        elif self.down():
            self.position.close()
        elif self.trades and len(self.data) - 1 - self.trades[0].entry_bar == 5:
            self.position.close(0.5)


class OurPartial(_OurCross):
    def next(self):
        if self.up() and not self.position:
            self.buy(0.9)
        elif self.down():
            self.close()
        elif self.trades and self.i - self.trades[0].entry_bar == 5:
            self.position.close(0.5)


class BtPyramid(BtStrategy):
    """Adds 20% while above the SMA (up to 4 trades), trails each stop at 7% under the close."""

    def init(self):
        self.s = self.I(SMA, self.data.Close, 30)

    def next(self):
        c = self.data.Close[-1]
        for trade in self.trades:
            trade.sl = max(trade.sl or 0, c * 0.93)
        if c > self.s[-1] and len(self.trades) < 4:
            self.buy(size=0.2)
        elif c < self.s[-1] * 0.98:
            self.position.close()


class OurPyramid(Strategy):
    def init(self):
        self.s = self.I(SMA, self.data.close, 30)

    def next(self):
        c = self.price
        for trade in self.trades:
            trade.sl = max(trade.sl or 0, c * 0.93)
        if c > self.s[self.i] and len(self.trades) < 4:
            self.buy(0.2)
        elif c < self.s[self.i] * 0.98:
            self.close()


class BtAbove(BtStrategy):
    """Long while the close is above its SMA: sensitive to the bar next() starts on."""

    def init(self):
        self.s = self.I(SMA, self.data.Close, 20)

    def next(self):
        above = self.data.Close[-1] > self.s[-1]
        if above and not self.position:
            self.buy()
        elif not above and self.position:
            self.position.close()


class OurAbove(Strategy):
    def init(self):
        self.s = self.I(SMA, self.data.close, 20)

    def next(self):
        above = self.price > self.s[self.i]
        if above and not self.position:
            self.buy()
        elif not above and self.position:
            self.close()


CASES = {
    "long": (BtLong, OurLong, {}),
    "long-finalized": (BtLong, OurLong, {"finalize_trades": True}),
    "long-on-close": (BtLong, OurLong, {"trade_on_close": True, "finalize_trades": True}),
    "reverse-exclusive": (BtReverse, OurReverse, {"exclusive_orders": True}),
    "close-then-order": (BtCloseThenOrder, OurCloseThenOrder, {"finalize_trades": True}),
    "plain-sell-quirk": (BtReverse, OurReverse, {}),
    "brackets-costs": (BtBrackets, OurBrackets, {"commission": 0.002, "spread": 0.001}),
    "brackets-hedging": (
        BtBrackets,
        OurBrackets,
        {"commission": 0.001, "hedging": True, "finalize_trades": True},
    ),
    "limit-stop": (BtLimitStop, OurLimitStop, {"commission": 0.001, "finalize_trades": True}),
    "partial-fixed-fee": (BtPartial, OurPartial, {"commission": (5.0, 0.001)}),
    "pyramid-margin": (BtPyramid, OurPyramid, {"margin": 0.5, "finalize_trades": True}),
    "above-sma": (BtAbove, OurAbove, {"commission": 0.001}),
}


@cache
def theirs(case: str, data: str) -> pd.Series:
    bt_cls, _, settings = CASES[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Backtest(DATA[data], bt_cls, cash=10_000, **settings).run()


def ours(case: str, data: str, **overrides):
    _, our_cls, settings = CASES[case]
    settings = {**settings, **overrides}
    if isinstance(settings.get("commission"), tuple):
        settings["commission"] = list(settings["commission"])
    return run_backtest(DATA[data], our_cls, conventions="backtesting.py", **settings)


def assert_same(result, stats: pd.Series) -> None:
    """Trades exact (count, bars, sizes, tags), prices and equity to 1e-12."""
    t, o = stats["_trades"], result.trades
    assert len(o) == len(t)
    assert o.entry_bar.tolist() == t.EntryBar.tolist()
    assert o.exit_bar.tolist() == t.ExitBar.tolist()
    assert o["size"].tolist() == t.Size.astype(float).tolist()
    assert o.tag.tolist() == t.Tag.tolist()
    for ours_, theirs_ in (
        ("entry_price", "EntryPrice"),
        ("exit_price", "ExitPrice"),
        ("sl", "SL"),
        ("tp", "TP"),
    ):
        np.testing.assert_allclose(o[ours_], t[theirs_].astype(float), rtol=1e-12, err_msg=ours_)
    np.testing.assert_allclose(o.pnl, t.PnL, rtol=1e-12, atol=1e-8, err_msg="pnl")
    np.testing.assert_allclose(o.commission, t.Commission, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(o["return"], t.ReturnPct, rtol=1e-12, atol=1e-14)
    equity = stats["_equity_curve"].Equity.to_numpy()
    np.testing.assert_allclose(result.equity.to_numpy(), equity, rtol=1e-12, err_msg="equity")


def assert_same_stats(ours_: pd.Series, stats: pd.Series) -> None:
    """Every public key of backtesting.py's stats, in its order, equal to rel 1e-9."""
    theirs_ = stats[[k for k in stats.index if not k.startswith("_")]]
    assert ours_.index.tolist() == theirs_.index.tolist()
    for key, expected in theirs_.items():
        got = ours_[key]
        if pd.isna(expected):
            assert pd.isna(got), (key, got)
        elif isinstance(expected, pd.Timestamp | pd.Timedelta):
            assert got == expected, (key, got, expected)
        else:
            assert got == pytest.approx(expected, rel=1e-9, abs=0), (key, got, expected)


@pytest.mark.parametrize("data", list(DATA))
@pytest.mark.parametrize("case", list(CASES))
def test_same_trades_equity_and_stats(case, data):
    stats = theirs(case, data)
    result = ours(case, data)
    assert_same(result, stats)
    assert result.metrics["total_trades"] == stats["# Trades"]
    assert result.metrics["final_balance"] == pytest.approx(stats["Equity Final [$]"], rel=1e-12)
    assert_same_stats(result.stats, stats)


def test_cases_cover_what_they_claim():
    """Guard the parity cases against passing vacuously."""
    t = {case: theirs(case, "goog")["_trades"] for case in CASES}
    assert all(len(trades) for case, trades in t.items() if case != "plain-sell-quirk")
    assert len(t["plain-sell-quirk"]) <= 1 and theirs("plain-sell-quirk", "goog")[
        "Equity Final [$]"
    ] == pytest.approx(0)
    assert (t["reverse-exclusive"].Size < 0).any()
    brackets = t["brackets-costs"]
    assert (brackets.SL.notna() & brackets.TP.notna()).any() and (brackets.Size < 0).any()
    exits = brackets.ExitPrice.to_numpy()
    assert np.isin(exits, brackets.SL).any() and np.isin(exits, brackets.TP).any()
    assert {"limit", "stop-limit", "stop"} <= set(t["limit-stop"].Tag)
    partial = t["partial-fixed-fee"]
    assert partial.EntryBar.duplicated().any()  # a trade closed in two pieces
    assert len(t["pyramid-margin"]) > len(set(t["pyramid-margin"].ExitBar))


# Each convention setting, flipped alone to qm's value, breaks parity in this case.
FLIPS = {
    "units": "long",
    "sizing_price": "pyramid-margin",
    "fixed_fee_sizing": "partial-fixed-fee",
    "trade_commission": "partial-fixed-fee",
    "opposite_sizing": "plain-sell-quirk",
    "finalize_trades": "long",
    "finalize_price": "long-finalized",
    "return_basis": "above-sma",
    "spread_charge": "brackets-costs",
    "warmup_offset": "above-sma",
}


def test_every_setting_has_a_flip():
    assert set(FLIPS) == set(SETTING_CHOICES)


@pytest.mark.parametrize(("setting", "case"), FLIPS.items())
def test_flipping_one_setting_breaks_parity(setting, case):
    flipped = CONVENTIONS["qm"][setting]
    assert flipped != CONVENTIONS["backtesting.py"][setting]
    with pytest.raises(AssertionError):
        assert_same(ours(case, "goog", **{setting: flipped}), theirs(case, "goog"))

"""All-in sizing with a fixed fee: under qm a full-size order spends all the cash, not a cent
more, whether the fee is a ``[fixed, rate]`` pair or a function of (size, price)."""

from __future__ import annotations

import pandas as pd
import pytest

from qm_jupyter.engine import Strategy, run_backtest

CASH = 10_000.0
GBM = {"sample": "gbm", "bars": 2000, "seed": 1}


def fixed_plus_rate(size: float, price: float) -> float:
    return 2 + abs(size) * price * 0.0005


def min_ticket(size: float, price: float) -> float:
    """A nonlinear fee: 0.1% of the value, at least 25."""
    return max(25.0, abs(size) * price * 0.001)


class BuyOnce(Strategy):
    """One full-size buy on the first bar it sees, held to the end."""

    def init(self):
        self.bought = False

    def next(self):
        if not self.bought:
            self.buy()
            self.bought = True


class Flip(Strategy):
    """Full-size long, then short, every 7 bars: reversals size on the equity the close frees."""

    def next(self):
        if self.i % 7 == 0:
            if self.i % 14:
                self.sell()
            else:
                self.buy()


def first_entry_left(commission, **settings) -> tuple[float, float]:
    """(units, cash left once the first entry and its fee are paid) of a `BuyOnce` run."""
    r = run_backtest(GBM, BuyOnce, commission=commission, **settings)
    assert len(r.trades) == 1
    t = r.trades.iloc[0]
    return t["size"], CASH - (t["size"] * t.entry_price + commission(t["size"], t.entry_price))


@pytest.mark.parametrize("spread", [0.0, 0.002])
@pytest.mark.parametrize("fee", [fixed_plus_rate, min_ticket])
def test_full_size_order_spends_all_the_cash_under_qm(fee, spread):
    units, left = first_entry_left(fee, spread=spread)
    assert units > 0
    assert 0 <= left <= 1e-9  # all the cash, never more (the fee is charged at the spread price)


@pytest.mark.parametrize("spread", [0.0, 0.002])
def test_fixed_rate_pair_spends_all_the_cash_under_qm(spread):
    pair = [2.0, 0.0005]
    r = run_backtest(GBM, BuyOnce, commission=pair, spread=spread)
    t = r.trades.iloc[0]
    left = CASH - (t["size"] * t.entry_price + fixed_plus_rate(t["size"], t.entry_price))
    assert 0 <= left <= 1e-9
    assert t["size"] == pytest.approx(first_entry_left(fixed_plus_rate, spread=spread)[0], 1e-13)


@pytest.mark.parametrize("strategy", ["sma_crossover", Flip])
def test_fee_function_trades_as_its_fixed_rate_pair_under_qm(strategy):
    params = {"fast": 10, "slow": 30} if strategy == "sma_crossover" else None
    runs = [
        run_backtest(GBM, strategy, params, commission=c, spread=0.001)
        for c in (fixed_plus_rate, [2.0, 0.0005])
    ]
    fn, pair = runs
    assert len(fn.trades) > 20
    if strategy is Flip:
        assert (fn.trades["size"] < 0).any()
    pd.testing.assert_frame_equal(fn.trades, pair.trades, rtol=1e-11)
    pd.testing.assert_series_equal(fn.equity, pair.equity, rtol=1e-11)


def test_whole_units_take_the_floor_of_the_fractional_solution():
    units, _ = first_entry_left(fixed_plus_rate, units="whole")
    fractional, _ = first_entry_left(fixed_plus_rate)
    assert units == int(fractional) > 0


def test_a_fee_above_the_cash_cancels_the_order(recorder):
    r = run_backtest(GBM, BuyOnce, commission=lambda size, price: CASH + 1, observer=recorder)
    assert r.trades.empty
    assert any("not enough margin" in str(m) for kind, m in recorder.calls if kind == "log")


def test_backtesting_py_keeps_its_per_unit_fixed_fee():
    """backtesting.py divides the fixed fee by the fraction (~1), not the units: 49 units of a
    100 price for 10 000 cash and a fee of 100 (not 98), a function as the pair."""
    bars = pd.DataFrame(
        {"open": 100.0, "high": 101.0, "low": 99.0, "close": 100.0},
        index=pd.date_range("2024-01-01", periods=4, freq="D"),
    )
    sizes = [
        run_backtest(
            bars, BuyOnce, commission=c, conventions="backtesting.py", finalize_trades=True
        ).trades["size"]
        for c in ((100.0, 0.0), lambda size, price: 100.0)
    ]
    assert sizes[0].tolist() == [49]
    assert sizes[1].tolist() == [49]

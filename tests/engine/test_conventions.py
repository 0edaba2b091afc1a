"""Fills, sizing, commission, forced close and metrics on hand-checked series (both forms)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from qm_jupyter.engine import METRIC_KEYS, Strategy, run_backtest
from qm_jupyter.engine.metrics import infer_periods_per_year

OPENS = [10, 11, 12, 13, 14]
CLOSES = [10.5, 11.5, 12.5, 13.5, 14.5]


def test_signal_fills_at_next_open(form, make_frame):
    r = run_backtest(make_frame(OPENS, CLOSES), form([1, 1, 0, 0, 0]))
    t = r.trades.iloc[0]
    assert len(r.trades) == 1
    assert (t.entry_time, t.entry_price) == (pd.Timestamp("2024-01-02"), 11.0)
    assert (t.exit_time, t.exit_price) == (pd.Timestamp("2024-01-04"), 13.0)
    units = 10_000 / 11
    assert t["size"] == pytest.approx(units)
    assert r.equity.tolist() == pytest.approx(
        [10_000, units * 11.5, units * 12.5, units * 13, units * 13]
    )
    assert t["return"] == pytest.approx(13 / 11 - 1)
    assert t.pnl == pytest.approx(units * 2)


def test_commission_on_both_sides(form, make_frame):
    c = 0.01
    r = run_backtest(make_frame(OPENS, CLOSES), form([1, 1, 0, 0, 0]), commission=c)
    units = 10_000 / (11 * (1 + c))
    final = units * 13 * (1 - c)
    t = r.trades.iloc[0]
    assert t["size"] == pytest.approx(units)
    assert r.metrics["final_balance"] == pytest.approx(final)
    assert t.pnl == pytest.approx(final - 10_000)
    assert t["return"] == pytest.approx(final / 10_000 - 1)
    assert r.equity.iloc[1] == pytest.approx(units * 11.5)  # marked at close, no exit cost


def test_open_position_is_closed_at_last_close(form, make_frame):
    r = run_backtest(make_frame(OPENS, CLOSES), form([0, 0, 0, 1, 1]), commission=0.01)
    t = r.trades.iloc[0]
    assert (t.entry_time, t.entry_price) == (pd.Timestamp("2024-01-05"), 14.0)
    assert (t.exit_time, t.exit_price) == (pd.Timestamp("2024-01-05"), 14.5)
    final = 10_000 / (14 * 1.01) * 14.5 * 0.99
    assert r.metrics["total_trades"] == 1
    assert r.metrics["final_balance"] == pytest.approx(final)
    assert r.equity.iloc[-1] == pytest.approx(final)  # the last mark is after the forced close


def test_signal_on_last_bar_is_ignored(form, make_frame):
    r = run_backtest(make_frame(OPENS, CLOSES), form([0, 0, 0, 0, 1]))
    assert r.metrics["total_trades"] == 0
    assert r.trades.empty and list(r.trades.columns) == [
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
    ]


def test_all_in_compounds_across_trades(form, make_frame):
    r = run_backtest(make_frame([10, 10, 20, 10, 30, 10], [10] * 6), form([1, 0, 1, 0, 0, 0]))
    # buy 1000 @10, sell @20 -> 20000; buy 2000 @10, sell @30 -> 60000
    assert r.trades["size"].tolist() == pytest.approx([1000, 2000])
    assert r.metrics["final_balance"] == pytest.approx(60_000)
    assert r.metrics["win_rate"] == 1.0


def test_metrics_drawdown_and_sharpe_by_hand(form, make_frame):
    r = run_backtest(make_frame([10] * 5, [10, 12, 9, 15, 10]), form([1] * 5))
    equity = [10_000, 12_000, 9_000, 15_000, 10_000]
    assert r.equity.tolist() == pytest.approx(equity)
    m = r.metrics
    assert m["max_drawdown"] == pytest.approx(10_000 / 15_000 - 1)
    rets = pd.Series(equity).pct_change().dropna()
    assert m["sharpe_ratio"] == pytest.approx(rets.mean() / rets.std(ddof=1) * math.sqrt(252))
    assert m["total_return"] == pytest.approx(0.0)
    assert m["win_rate"] == 0.0  # one trade, return exactly 0: not a win
    assert set(m) == set(METRIC_KEYS) and m["bars"] == 5
    for value in m.values():
        assert value is None or type(value) in (int, float)


def test_undefined_metrics_are_none(form, make_frame):
    m = run_backtest(make_frame(OPENS, CLOSES), form([0] * 5)).metrics
    assert m["sharpe_ratio"] is None and m["win_rate"] is None
    assert (m["max_drawdown"], m["total_return"], m["total_trades"]) == (0.0, 0.0, 0)
    assert run_backtest(make_frame([10], [10]), form([1])).metrics["sharpe_ratio"] is None


def test_explicit_periods_per_year_scales_sharpe(make_frame):
    data = make_frame([10] * 5, [10, 12, 9, 15, 10])
    daily = run_backtest(data, "buy_and_hold").metrics["sharpe_ratio"]
    weekly = run_backtest(data, "buy_and_hold", periods_per_year=52).metrics["sharpe_ratio"]
    assert weekly == pytest.approx(daily * math.sqrt(52 / 252))


@pytest.mark.parametrize(
    ("freq", "expected"),
    [
        ("D", 252),
        ("B", 252),
        ("W", 52),
        ("ME", 12),
        ("h", 252 * 24),
        ("15min", 252 * 96),
        ("QE", 365.25 / 91),
    ],
)
def test_periods_per_year_inference(freq, expected):
    index = pd.date_range("2021-01-01", periods=400, freq=freq, tz="UTC")
    assert infer_periods_per_year(index) == pytest.approx(expected, rel=0.02)


def test_periods_per_year_intraday_uses_bars_per_date():
    # 6.5-hour sessions of 1-minute bars, three days: 390 bars per date
    days = [pd.date_range(f"2024-01-0{d} 09:30", periods=390, freq="min") for d in (2, 3, 4)]
    assert infer_periods_per_year(days[0].append(days[1:])) == 252 * 390
    # dates are the index's own: a Sydney session (10:00 local) straddles midnight UTC
    sydney = [pd.date_range(f"2024-01-0{d} 10:00", periods=390, freq="min") for d in (2, 3, 4)]
    index = sydney[0].append(sydney[1:]).tz_localize("Australia/Sydney")
    assert infer_periods_per_year(index) == 252 * 390
    assert infer_periods_per_year(pd.DatetimeIndex(["2024-01-01"])) is None


def test_no_nan_when_equity_never_moves(make_frame):
    r = run_backtest(make_frame([10] * 4, [10] * 4), "buy_and_hold")
    assert r.metrics["sharpe_ratio"] is None
    assert not any(isinstance(v, float) and not np.isfinite(v) for v in r.metrics.values())


def ohlc(rows) -> pd.DataFrame:
    o, h, low, c = np.array(rows, dtype=float).T
    index = pd.date_range("2024-01-01", periods=len(o), freq="D")
    return pd.DataFrame({"open": o, "high": h, "low": low, "close": c}, index=index)


# fmt: off
STOPS_BARS = ohlc([
    (100, 101, 99, 100),    # 0: long entry signal
    (100, 101, 99.5, 100),  # 1: entry at 100: SL 95, TP 110
    (90, 92, 89, 91),       # 2: gaps through the SL: out at the open; long entry signal
    (100, 101, 99, 100),    # 3: entry at 100
    (100, 115, 85, 100),    # 4: reaches both: the SL (95) first; long entry signal
    (100, 101, 99, 100),    # 5: entry at 100
    (112, 113, 111, 112),   # 6: gaps through the TP: out at the open; short entry signal
    (100, 101, 99, 100),    # 7: short at 100 (no stops hit: SL 105, TP 90)
    (150, 210, 150, 201),   # 8: SL 105 gapped: out at the open 150
])
# fmt: on


def test_stops_by_hand():
    long_in = np.zeros(9, bool)
    long_in[[0, 2, 4]] = True
    short_in = np.zeros(9, bool)
    short_in[6] = True

    def signals(data):
        none = np.zeros(9, bool)
        return long_in, none, short_in, none

    r = run_backtest(STOPS_BARS, signals, sl_stop=0.05, tp_stop=0.1)
    t = r.trades
    assert t[["entry_bar", "exit_bar", "exit_reason"]].values.tolist() == [
        [1, 2, "sl"],
        [3, 4, "sl"],
        [5, 6, "tp"],
        [7, 8, "sl"],
    ]
    assert t.exit_price.tolist() == [90.0, 95.0, 112.0, 150.0]
    assert t.sl.tolist() == [95.0, 95.0, 95.0, 105.0]
    assert t.tp.tolist() == pytest.approx([110.0, 110.0, 110.0, 90.0])
    growth = 0.9 * 0.95 * 1.12 * (2 - 1.5)
    assert r.metrics["final_balance"] == pytest.approx(10_000 * growth)


def test_short_liquidated_when_price_doubles():
    bars = ohlc(
        [(100, 101, 99, 100), (100, 101, 99, 100), (150, 205, 150, 201), (100, 101, 99, 100)]
    )
    short_in = np.array([True, False, True, False])

    class ShortOnce(Strategy):
        def next(self):
            if short_in[self.i] and not self.position:
                self.sell()

    none = np.zeros(4, bool)
    vec = run_backtest(bars, lambda data: (none, none, short_in, none), commission=0.001)
    per_bar = run_backtest(bars, ShortOnce, commission=0.001)
    t = vec.trades
    assert t[["entry_bar", "exit_bar", "exit_price", "exit_reason"]].values.tolist() == [
        [1, 2, 201.0, "liquidation"]
    ]
    assert vec.equity.tolist()[2:] == [0.0, 0.0]  # and nothing after: the run is over
    pd.testing.assert_frame_equal(t, per_bar.trades, rtol=1e-12)
    pd.testing.assert_series_equal(vec.equity, per_bar.equity, rtol=1e-12)

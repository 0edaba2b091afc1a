"""qm_jupyter.engine.stats: backtesting.py 0.6.6's statistics to rel 1e-9, and ours.

Parity is tested on backtesting.py's own runs (its bundled GOOG and EURUSD data): its equity
curve and trades, converted to our input shape, go through `compute_stats(conventions=
"backtesting.py")` and every key, its order and value must equal its stats Series. That isolates
the statistics from the order model. The qm definitions are tested on small hand-computed
cases, each next to backtesting.py's value for the same input, so swapping them fails.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from backtesting import Backtest, Strategy
from backtesting._util import _indicator_warmup_nbars
from backtesting.lib import crossover
from backtesting.test import EURUSD, GOOG, SMA

# tests/ is on sys.path (tests/conftest.py is a rootdir conftest, prepend import mode).
from backtesting_reference import LongOnlySmaCross

from qm_jupyter.engine import run_backtest
from qm_jupyter.engine.errors import ParamError
from qm_jupyter.engine.metrics import max_drawdown, sharpe_ratio
from qm_jupyter.engine.stats import (
    STAT_NAMES,
    WIRE_NAMES,
    compute_stats,
    stats_from_wire,
    stats_to_wire,
    trade_excursions,
    wire_key,
)

RTOL = 1e-9


class Reversal(Strategy):
    """Long on a fast-over-slow SMA cross, short on the cross under (exclusive_orders reverses)."""

    fast, slow = 10, 20

    def init(self):
        self.f = self.I(SMA, self.data.Close, self.fast)
        self.s = self.I(SMA, self.data.Close, self.slow)

    def next(self):
        if crossover(self.f, self.s):
            self.buy(tag="long")
        elif crossover(self.s, self.f):
            self.sell(tag="short")


class Bracketed(Reversal):
    """Reversal with a stop-loss and a take-profit (fractions of the close) on each entry."""

    stop, take = 0.003, 0.004

    def next(self):
        price = self.data.Close[-1]
        if crossover(self.f, self.s):
            self.buy(sl=price * (1 - self.stop), tp=price * (1 + self.take))
        elif crossover(self.s, self.f):
            self.sell(sl=price * (1 + self.stop), tp=price * (1 - self.take))


class Idle(Strategy):
    def init(self):
        pass

    def next(self):
        pass


def _calendar_days(frame: pd.DataFrame) -> pd.DataFrame:
    """GOOG on consecutive calendar days: weekend bars, so backtesting.py annualises by 365."""
    return frame.set_axis(pd.date_range("2010-01-01", periods=len(frame), freq="D"))


def _resampled(frame: pd.DataFrame, rule: str) -> pd.DataFrame:
    agg = {"Open": "first", "High": "max", "Low": "min", "Close": "last", "Volume": "sum"}
    return frame.resample(rule).agg(agg).dropna()


SMALL = {"fast": 3, "slow": 6}
CASES = {
    "goog-long-finalized": (GOOG, LongOnlySmaCross, {"finalize_trades": True}, {}),
    "goog-long-open-end-commission": (GOOG, LongOnlySmaCross, {"commission": 0.002}, {}),
    "goog-shorts-fixed-fee-spread": (
        GOOG,
        Reversal,
        {"commission": (2.0, 0.001), "spread": 0.0005, "exclusive_orders": True},
        {},
    ),
    "eurusd-brackets-hourly": (
        EURUSD,
        Bracketed,
        {"commission": 0.0002, "exclusive_orders": True, "finalize_trades": True},
        {},
    ),
    "goog-no-trades": (GOOG, Idle, {}, {}),
    # a plain sell() on a long: the short is never covered, equity reaches 0 and the run stops
    "goog-wiped-out": (GOOG, Reversal, {}, {}),
    "goog-calendar-days": (_calendar_days(GOOG), Reversal, {"exclusive_orders": True}, {}),
    "goog-weekly": (_resampled(GOOG, "W"), Reversal, {"exclusive_orders": True}, SMALL),
    "goog-monthly": (_resampled(GOOG, "ME"), Reversal, {"exclusive_orders": True}, SMALL),
}


def ours_from_backtesting(stats: pd.Series, data: pd.DataFrame) -> dict:
    """compute_stats' inputs from a backtesting.py run: equity, trades, data, warmup."""
    t = stats["_trades"]
    trades = pd.DataFrame(
        {
            "size": t["Size"],
            "entry_bar": t["EntryBar"].astype(int),
            "exit_bar": t["ExitBar"].astype(int),
            "entry_time": pd.to_datetime(t["EntryTime"]),
            "exit_time": pd.to_datetime(t["ExitTime"]),
            "entry_price": t["EntryPrice"],
            "exit_price": t["ExitPrice"],
            "sl": t["SL"],
            "tp": t["TP"],
            "pnl": t["PnL"],
            "commission": t["Commission"],
            "return": t["ReturnPct"],
            "tag": t["Tag"],
            "exit_reason": "signal",
        }
    )
    return {
        "equity": stats["_equity_curve"]["Equity"],
        "trades": trades,
        "data": data.rename(columns=str.lower),
        "warmup": _indicator_warmup_nbars(stats["_strategy"]),
    }


@pytest.fixture(scope="module", params=list(CASES))
def run(request):
    data, strategy, settings, params = CASES[request.param]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = Backtest(data, strategy, cash=10_000, **settings).run(**params)
    return request.param, stats, ours_from_backtesting(stats, data)


def _public(stats: pd.Series) -> pd.Series:
    return stats[[k for k in stats.index if not k.startswith("_")]]


def test_backtesting_py_keys_order_and_values(run):
    name, theirs, inputs = run
    theirs = _public(theirs)
    ours = compute_stats(**inputs, conventions="backtesting.py")
    assert ours.index.tolist() == theirs.index.tolist()
    for key, expected in theirs.items():
        got = ours[key]
        if pd.isna(expected):
            assert pd.isna(got), (name, key, got)
        elif isinstance(expected, pd.Timestamp | pd.Timedelta):
            assert got == expected, (name, key, got, expected)
        else:
            assert got == pytest.approx(expected, rel=RTOL, abs=0), (name, key, got, expected)


def test_cases_cover_the_branches(run):
    """The cases reach what they are named for (so that a branch is not silently untested)."""
    name, theirs, inputs = run
    trades = inputs["trades"]
    has_commissions = "Commissions [$]" in theirs.index
    assert has_commissions == ("commission" in name or "fixed-fee" in name or "brackets" in name)
    if "shorts" in name or "brackets" in name:
        assert (trades["size"] < 0).any() and (trades["size"] > 0).any()
    if "brackets" in name:
        exit_price = trades["exit_price"]
        assert (exit_price == trades["sl"]).any() and (exit_price == trades["tp"]).any()
    if "no-trades" in name:
        assert theirs["# Trades"] == 0
    if "wiped-out" in name:
        assert theirs["Equity Final [$]"] == 0
    if "open-end" in name:  # an open trade's value is in the equity, not in the trades
        last_exit = trades["exit_bar"].iloc[-1]
        assert inputs["equity"].iloc[last_exit:].nunique() > 1
    if "no-trades" not in name:
        assert inputs["warmup"] > 0


def test_qm_on_backtesting_py_runs(run):
    """qm has the same keys first (Commissions always), then its extras; headline numbers are
    the engine metrics' (metrics.py)."""
    _, _, inputs = run
    bt = compute_stats(**inputs, conventions="backtesting.py")
    qm = compute_stats(**inputs)
    keys = [k for k in qm.index if k in bt.index or k == "Commissions [$]"]
    assert keys == qm.index[: len(keys)].tolist()
    assert set(bt.index) <= set(keys)
    equity = inputs["equity"].to_numpy()
    assert qm["Max. Drawdown [%]"] == pytest.approx(max_drawdown(equity) * 100, rel=RTOL, abs=0)
    with np.errstate(invalid="ignore"):  # the wiped-out run's equity stays 0
        expected = sharpe_ratio(equity, qm["Periods per Year"])
    if expected is None:
        assert math.isnan(qm["Sharpe Ratio"])
    else:
        assert qm["Sharpe Ratio"] == expected
    wire = stats_to_wire(qm)
    json.dumps(wire, allow_nan=False)
    assert len(wire) == len(qm)


# ---------------------------------------------------------------- hand-computed qm cases

INDEX = pd.date_range("2024-01-01", periods=6, freq="D")  # Monday to Saturday
CLOSE = np.array([10.0, 11.0, 12.0, 11.0, 13.0, 12.0])
DATA = pd.DataFrame(
    {"high": CLOSE + 1, "low": CLOSE - 1, "close": CLOSE, "open": CLOSE}, index=INDEX
)
EQUITY = pd.Series([100.0, 110.0, 99.0, 108.9, 120.0, 114.0], index=INDEX)


def trades_frame(rows: list[dict]) -> pd.DataFrame:
    """A trades frame from partial rows (times from the bars, zero commission by default)."""
    base = {"commission": 0.0, "exit_reason": "signal", "sl": np.nan, "tp": np.nan, "tag": None}
    frame = pd.DataFrame([{**base, **row} for row in rows])
    if len(frame):
        frame["entry_time"] = INDEX[frame["entry_bar"]]
        frame["exit_time"] = INDEX[frame["exit_bar"]]
    return frame


ONE_LONG = trades_frame(
    [
        {
            "size": 10.0,
            "entry_bar": 1,
            "exit_bar": 3,
            "entry_price": 11.0,
            "exit_price": 11.0,
            "pnl": 0.0,
            "return": 0.0,
        }
    ]
)
TWO = trades_frame(
    [
        {
            "size": 2.0,
            "entry_bar": 0,
            "exit_bar": 2,
            "entry_price": 10.0,
            "exit_price": 60.0,
            "pnl": 100.0,
            "return": 0.01,
        },
        {
            "size": -5.0,
            "entry_bar": 2,
            "exit_bar": 4,
            "entry_price": 12.0,
            "exit_price": 22.0,
            "pnl": -50.0,
            "return": -0.02,
        },
    ]
)


def both(trades: pd.DataFrame = ONE_LONG, **kwargs) -> tuple[pd.Series, pd.Series]:
    kwargs = {"equity": EQUITY, "data": DATA, **kwargs}
    return (
        compute_stats(trades=trades, **kwargs),
        compute_stats(trades=trades, conventions="backtesting.py", **kwargs),
    )


def test_exposure_from_the_position_carried_through_closes():
    qm, bt = both()  # held over the closes of bars 1 and 2, exits at bar 3
    assert qm["Exposure Time [%]"] == pytest.approx(2 / 6 * 100)
    assert bt["Exposure Time [%]"] == pytest.approx(3 / 6 * 100)  # bars 1..3 inclusive


def test_open_trades_count_in_qm_only():
    still_open = ONE_LONG.assign(entry_bar=4, exit_bar=5, pnl=-7.0, commission=1.5)
    qm, bt = both(open_trades=still_open)
    assert qm["Open Trades"] == 1 and qm["Open Trade P&L [$]"] == -7.0
    assert qm["Exposure Time [%]"] == pytest.approx(4 / 6 * 100)  # bars 1, 2, 4, 5
    assert qm["Commissions [$]"] == 1.5
    assert bt["Exposure Time [%]"] == pytest.approx(3 / 6 * 100)
    assert "Commissions [$]" not in bt and "Open Trades" not in bt
    finalized = both(ONE_LONG.assign(exit_bar=5, exit_reason="finalize", pnl=3.0))[0]
    assert finalized["Open Trades"] == 1 and finalized["Open Trade P&L [$]"] == 3.0
    assert finalized["Exposure Time [%]"] == pytest.approx(5 / 6 * 100)  # to the last close


def test_commissions_always_in_qm():
    qm, bt = both()
    assert qm["Commissions [$]"] == 0.0 and "Commissions [$]" not in bt
    qm, bt = both(ONE_LONG.assign(commission=2.5))
    assert qm["Commissions [$]"] == bt["Commissions [$]"] == 2.5


def test_buy_and_hold_over_the_run_in_qm_from_warmup_in_backtesting_py():
    qm, bt = both(warmup=2)
    assert qm["Buy & Hold Return [%]"] == pytest.approx((12 / 10 - 1) * 100)
    assert bt["Buy & Hold Return [%]"] == pytest.approx((12 / 12 - 1) * 100)


def _per_bar() -> np.ndarray:
    e = EQUITY.to_numpy()
    return e[1:] / e[:-1] - 1


def test_annualised_figures_per_bar_in_qm():
    ppy, rate = 252.0, 0.05
    qm, bt = both(periods_per_year=ppy, risk_free_rate=rate)
    r = _per_bar()
    rf = (1 + rate) ** (1 / ppy) - 1
    annual = (EQUITY.iloc[-1] / EQUITY.iloc[0]) ** (ppy / len(r)) - 1
    assert qm["Return (Ann.) [%]"] == pytest.approx(annual * 100, rel=RTOL)
    assert qm["Volatility (Ann.) [%]"] == pytest.approx(r.std(ddof=1) * ppy**0.5 * 100, rel=RTOL)
    sharpe = (r.mean() - rf) / r.std(ddof=1) * ppy**0.5  # empyrical.sharpe_ratio
    assert qm["Sharpe Ratio"] == pytest.approx(sharpe, rel=RTOL)
    excess = r - rf
    sortino = excess.mean() / np.sqrt(np.mean(np.minimum(excess, 0) ** 2)) * ppy**0.5
    assert qm["Sortino Ratio"] == pytest.approx(sortino, rel=RTOL)
    max_dd = 1 - 99 / 110
    assert qm["Calmar Ratio"] == pytest.approx(annual / max_dd, rel=RTOL)
    assert qm["Periods per Year"] == ppy
    # backtesting.py: calendar-day returns (the same bars here), geometric, 252 (1 Saturday in
    # 6 bars is under its 17.1 % weekend share)
    g = np.exp(np.mean(np.log1p(r))) - 1
    bt_annual = (1 + g) ** 252 - 1
    assert bt["Return (Ann.) [%]"] == pytest.approx(bt_annual * 100, rel=RTOL)
    bt_vol = np.sqrt((r.var(ddof=1) + (1 + g) ** 2) ** 252 - (1 + g) ** 504)
    assert bt["Volatility (Ann.) [%]"] == pytest.approx(bt_vol * 100, rel=RTOL)
    assert bt["Sharpe Ratio"] == pytest.approx((bt_annual - rate) / bt_vol, rel=RTOL)
    assert qm["CAGR [%]"] == bt["CAGR [%]"]


def test_periods_per_year_inferred_in_qm():
    qm, _ = both()
    assert qm["Periods per Year"] == 252.0  # daily bars (metrics.infer_periods_per_year)


def test_alpha_beta_capm_per_bar_in_qm():
    ppy = 252.0
    qm, bt = both(periods_per_year=ppy)
    r, m = _per_bar(), CLOSE[1:] / CLOSE[:-1] - 1
    beta = np.cov(r, m)[0, 1] / m.var(ddof=1)
    assert qm["Beta"] == pytest.approx(beta, rel=RTOL)
    alpha = (1 + np.mean(r - beta * m)) ** ppy - 1  # empyrical.alpha
    assert qm["Alpha [%]"] == pytest.approx(alpha * 100, rel=RTOL)
    log_r, log_m = np.diff(np.log(EQUITY.to_numpy())), np.diff(np.log(CLOSE))
    bt_beta = np.cov(log_r, log_m)[0, 1] / log_m.var(ddof=1)
    assert bt["Beta"] == pytest.approx(bt_beta, rel=RTOL)
    bt_alpha = bt["Return [%]"] - bt_beta * bt["Buy & Hold Return [%]"]
    assert bt["Alpha [%]"] == pytest.approx(bt_alpha, rel=RTOL)


def test_durations_exact_in_qm_rounded_up_in_backtesting_py():
    short = ONE_LONG.assign(exit_time=INDEX[1] + pd.Timedelta(hours=30))
    qm, bt = both(short)
    assert qm["Max. Trade Duration"] == pd.Timedelta(hours=30)
    assert bt["Max. Trade Duration"] == pd.Timedelta(days=2)
    # the drawdown from bar 1 (110) lasts to bar 4 (a new high): 3 days, whole in both
    assert qm["Max. Drawdown Duration"] == bt["Max. Drawdown Duration"] == pd.Timedelta(days=3)


def test_profit_factor_in_cash_in_qm_from_returns_in_backtesting_py():
    qm, bt = both(TWO)
    assert qm["Profit Factor"] == 100 / 50
    assert bt["Profit Factor"] == pytest.approx(0.01 / 0.02)
    qm, bt = both(TWO.iloc[:1])  # no losers: undefined
    assert math.isnan(qm["Profit Factor"]) and math.isnan(bt["Profit Factor"])


def test_shared_trade_statistics():
    qm, bt = both(TWO)
    for stats in (qm, bt):
        assert stats["# Trades"] == 2 and stats["Win Rate [%]"] == 50.0
        assert stats["Best Trade [%]"] == 1.0 and stats["Worst Trade [%]"] == -2.0
        assert stats["Avg. Trade [%]"] == pytest.approx((np.sqrt(1.01 * 0.98) - 1) * 100)
        assert stats["Expectancy [%]"] == pytest.approx(-0.5)
        assert stats["SQN"] == pytest.approx(np.sqrt(2) * 25 / np.std([100, -50], ddof=1))
        assert stats["Kelly Criterion"] == pytest.approx(0.5 - 0.5 / (100 / 50))


def test_streaks_and_sides():
    pnl = [1.0, 2.0, -1.0, -1.0, -1.0, 0.0, 3.0]
    sizes = [1.0, -1.0, 1.0, 1.0, -1.0, 1.0, -1.0]
    rows = [
        {
            "size": s,
            "entry_bar": 1,
            "exit_bar": 2,
            "entry_price": 11.0,
            "exit_price": 11.0,
            "pnl": p,
            "return": p / 100,
        }
        for s, p in zip(sizes, pnl, strict=True)
    ]
    qm, _ = both(trades_frame(rows))
    assert qm["Max. Consecutive Wins"] == 2 and qm["Max. Consecutive Losses"] == 3
    assert qm["# Long Trades"] == 4 and qm["# Short Trades"] == 3
    assert qm["Long Win Rate [%]"] == 25.0 and qm["Long P&L [$]"] == -1.0
    assert qm["Short Win Rate [%]"] == pytest.approx(200 / 3) and qm["Short P&L [$]"] == 4.0


def test_no_trades():
    qm, bt = both(trades_frame([]).reindex(columns=ONE_LONG.columns))
    assert qm["# Trades"] == 0 and qm["Max. Consecutive Wins"] == 0 and qm["Open Trades"] == 0
    assert math.isnan(qm["Long Win Rate [%]"]) and qm["Long P&L [$]"] == 0.0
    assert math.isnan(qm["Avg. MAE [%]"]) and math.isnan(qm["Win Rate [%]"])
    assert pd.isna(qm["Avg. Trade Duration"]) and pd.isna(bt["Avg. Trade Duration"])
    assert qm["Exposure Time [%]"] == bt["Exposure Time [%]"] == 0.0


def test_mae_mfe_from_highs_and_lows_between_entry_and_exit():
    data = DATA.assign(
        low=[9.0, 10.0, 8.0, 5.0, 9.0, 9.0], high=[11.0, 13.0, 12.0, 20.0, 14.0, 13.0]
    )
    rows = [
        {"size": 1.0, "entry_bar": 1, "exit_bar": 3, "entry_price": 10.0, "exit_price": 12.0},
        {"size": -1.0, "entry_bar": 1, "exit_bar": 3, "entry_price": 10.0, "exit_price": 12.0},
        {"size": 1.0, "entry_bar": 4, "exit_bar": 4, "entry_price": 10.0, "exit_price": 9.5},
    ]
    trades = trades_frame([{**r, "pnl": 0.0, "return": 0.0} for r in rows])
    got = trade_excursions(trades, data)
    # bars 1 and 2 (low 8, high 13): the exit bar's range after the exit is not the trade's
    assert got["mae"].tolist() == pytest.approx([8 / 10 - 1, -(13 / 10 - 1), 9.5 / 10 - 1])
    assert got["mfe"].tolist() == pytest.approx([13 / 10 - 1, -(8 / 10 - 1), 0.0])
    qm = compute_stats(EQUITY, trades, data)
    assert qm["Worst MAE [%]"] == pytest.approx(-30.0)
    assert qm["Best MFE [%]"] == pytest.approx(30.0)
    assert qm["Avg. MAE [%]"] == pytest.approx((-20 - 30 - 5) / 3)
    assert qm["Avg. MFE [%]"] == pytest.approx((30 + 20 + 0) / 3)


def test_wire_is_strict_json_in_snake_case():
    qm, bt = both(TWO)
    wire = stats_to_wire(qm)
    json.dumps(wire, allow_nan=False)
    assert wire["start"] == "2024-01-01T00:00:00" and wire["duration"] == 5 * 86400.0
    assert wire["max_drawdown_duration"] == 3 * 86400.0
    assert wire["trades"] == 2 and isinstance(wire["trades"], int)
    assert wire["open_trade_pnl"] == 0.0 and wire["long_pnl"] == 100.0
    names = list(stats_to_wire(bt))
    assert names[:8] == [
        "start",
        "end",
        "duration",
        "exposure_time_pct",
        "equity_final",
        "equity_peak",
        "return_pct",
        "buy_hold_return_pct",
    ]
    assert wire_key("Return (Ann.) [%]") == "return_ann_pct"
    assert wire_key("Max. Drawdown Duration") == "max_drawdown_duration"
    assert all(k.replace("_", "").isalnum() and k == k.lower() for k in wire)
    undefined = stats_to_wire(both(TWO.iloc[:1])[0])
    assert undefined["profit_factor"] is None and undefined["sqn"] is None
    odd = pd.Series({"A": np.inf, "B": pd.NaT, "C": np.int64(3), "D": "x", "E": None})
    assert stats_to_wire(odd) == {"a": None, "b": None, "c": 3, "d": "x", "e": None}


def test_stat_names_order_and_wire_round_trip(run):
    """STAT_NAMES lists every key in compute_stats' order; from_wire(to_wire(s)) gives s back."""
    _, _, inputs = run
    for stats in (compute_stats(**inputs), compute_stats(**inputs, conventions="backtesting.py")):
        names = stats.index.tolist()
        assert names == [k for k in STAT_NAMES if k in names]
        back = stats_from_wire(stats_to_wire(stats))
        assert back.index.tolist() == names
        for key, value in stats.items():
            if pd.isna(value):
                assert pd.isna(back[key]), key
            elif isinstance(value, pd.Timedelta):
                assert abs(back[key] - value) < pd.Timedelta(microseconds=1), key
            else:
                assert back[key] == value, key
    assert len(WIRE_NAMES) == len(STAT_NAMES)


def test_bad_input():
    with pytest.raises(ParamError, match="conventions"):
        compute_stats(EQUITY, ONE_LONG, DATA, conventions="zipline")
    with pytest.raises(ValueError, match="same"):
        compute_stats(EQUITY.iloc[1:], ONE_LONG, DATA)
    with pytest.raises(ParamError, match="risk_free_rate"):
        compute_stats(EQUITY, ONE_LONG, DATA, risk_free_rate=2.0)


def test_too_short_to_annualise_and_no_exit_reason():
    """Two bars give one return: no Sharpe, Sortino, Beta; trades without `exit_reason` (as
    backtesting.py's) have none open."""
    trades = ONE_LONG.drop(columns="exit_reason").assign(entry_bar=0, exit_bar=1)
    qm = compute_stats(EQUITY.iloc[:2], trades, DATA.iloc[:2])
    assert qm["Periods per Year"] == 252.0 and math.isnan(qm["Sharpe Ratio"])
    assert math.isnan(qm["Return (Ann.) [%]"]) and math.isnan(qm["Beta"])
    assert qm["CAGR [%]"] == pytest.approx((1.1 ** (365.25 / 1) - 1) * 100)
    assert qm["Open Trades"] == 0 and qm["Exposure Time [%]"] == 50.0
    one_bar = compute_stats(EQUITY.iloc[:1], trades.iloc[:0], DATA.iloc[:1])
    assert math.isnan(one_bar["Periods per Year"]) and math.isnan(one_bar["CAGR [%]"])
    assert one_bar["Return [%]"] == 0.0


def test_run_backtest_stats_count_open_trades_in_qm_only():
    """A trade still open at the end (finalize_trades=False) is in qm's stats, marked at the
    last close with its entry fee; backtesting.py's leave it out."""
    sample = {"sample": "gbm", "bars": 500, "seed": 1}
    run = {"commission": 0.001, "finalize_trades": False}
    r = run_backtest(sample, "buy_and_hold", **run)
    assert r.trades.empty
    s = r.stats
    assert s["Open Trades"] == 1 and s["# Trades"] == 0
    assert s["Open Trade P&L [$]"] == pytest.approx(r.equity.iloc[-1] - 10_000, rel=1e-12)
    assert s["Commissions [$]"] > 0
    assert s["Exposure Time [%]"] == pytest.approx(499 / 500 * 100)
    bt = run_backtest(sample, "buy_and_hold", conventions="backtesting.py", **run).stats
    assert "Open Trades" not in bt.index and bt["Exposure Time [%]"] == 0

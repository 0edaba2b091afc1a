"""Vectorized strategies and their per-bar twins give the same trades: long/short reversals,
stop-loss, take-profit and trailing stops, each with commission (the fast numpy path against the
broker), and the broker replay of the settings the fast path leaves to it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qm_jupyter.engine import ParamError, Strategy, run_backtest

N = 4000
COMMISSION = 0.001


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    """Random-walk bars with gaps between a close and the next open (so stops gap through)."""
    rng = np.random.default_rng(11)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.004, N)))
    gap = np.exp(rng.normal(0, 0.003, N))
    open_ = np.concatenate(([100.0], close[:-1])) * gap
    wick = np.abs(rng.normal(0, 0.003, (2, N)))
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * (1 + wick[0]),
            "low": np.minimum(open_, close) * (1 - wick[1]),
            "close": close,
        },
        index=pd.date_range("2024-01-01", periods=N, freq="h"),
    )


@pytest.fixture(scope="module")
def signals() -> tuple[np.ndarray, ...]:
    """Sparse random long/short entries and exits, conflicts (same bar) included."""
    rng = np.random.default_rng(5)
    return tuple(rng.random(N) < p for p in (0.02, 0.015, 0.02, 0.015))


def twin(signals, sl=None, tp=None, tsl=None) -> type[Strategy]:
    """The per-bar strategy a user would write for the same signals and stops: market orders
    with an SL/TP bracket from the entry price (the next open), a trailing stop moved up (down
    when short) by `trade.sl` after each close, an exit or reversal by `position.close()`."""
    le, lx, se, sx = (s.tolist() for s in signals)

    class Twin(Strategy):
        def init(self):
            self.o, self.h, self.l = (self.data[k].tolist() for k in ("open", "high", "low"))

        def next(self):
            i = self.i
            if tsl is not None:
                for t in self.trades:
                    if t.is_long:
                        t.sl = max(t.sl, self.h[i] * (1 - tsl))
                    else:
                        t.sl = min(t.sl, self.l[i] * (1 + tsl))
            go_long, out_long = le[i] and not lx[i], lx[i] and not le[i]
            go_short, out_short = se[i] and not sx[i], sx[i] and not se[i]
            if go_long and go_short:
                go_long = go_short = False
            pos = self.position
            if go_long and not pos.is_long:
                self.enter(1)
            elif go_short and not pos.is_short:
                self.enter(-1)
            elif (pos.is_long and out_long) or (pos.is_short and out_short):
                pos.close()

        def enter(self, side):
            if self.i + 1 == len(self.o):
                return  # no next bar to fill at
            if self.position:
                self.position.close()
            price = self.o[self.i + 1]  # the entry price the stops are fractions of
            levels = [price * (1 - side * f) for f in (sl, tsl) if f is not None]
            stop = (max(levels) if side > 0 else min(levels)) if levels else None
            target = None if tp is None else price * (1 + side * tp)
            (self.buy if side > 0 else self.sell)(sl=stop, tp=target)

    return Twin


def vectorized(signals):
    def four_way(data):
        return signals

    return four_way


def assert_same_run(vec, bars):
    pd.testing.assert_frame_equal(vec.trades, bars.trades, rtol=1e-9)
    pd.testing.assert_series_equal(vec.equity, bars.equity, rtol=1e-9)


@pytest.mark.parametrize(
    "stops",
    [
        {},
        {"sl_stop": 0.02, "tp_stop": 0.03},
        {"tsl_stop": 0.015},
        {"sl_stop": 0.03, "tp_stop": 0.04, "tsl_stop": 0.02},
    ],
    ids=["reversals", "sl_tp", "tsl", "sl_tp_tsl"],
)
def test_long_short_twins(prices, signals, stops):
    vec = run_backtest(prices, vectorized(signals), commission=COMMISSION, **stops)
    short_stops = {k[:-5] if k != "tsl_stop" else "tsl": v for k, v in stops.items()}
    bars = run_backtest(prices, twin(signals, **short_stops), commission=COMMISSION)
    assert_same_run(vec, bars)
    trades = vec.trades
    assert (trades["size"] > 0).sum() > 20 and (trades["size"] < 0).sum() > 20
    reasons = set(trades.exit_reason)
    assert "close" in reasons
    if "sl_stop" in stops or "tsl_stop" in stops:
        stopped = trades[trades.exit_reason == "sl"]
        assert len(stopped) > 10
        gapped = prices.open.to_numpy()[stopped.exit_bar] == stopped.exit_price
        assert 0 < gapped.sum() < len(stopped)  # some fill at the open, most at the stop
    if "tp_stop" in stops:
        assert "tp" in reasons
    if not stops:
        assert reasons <= {"close", "finalize"}


def test_long_only_pair_with_stops_and_target(prices, signals):
    le, lx = signals[:2]
    vec = run_backtest(
        prices, vectorized((le, lx)), commission=COMMISSION, sl_stop=0.02, tp_stop=0.02
    )
    none = np.zeros(N, bool)
    bars = run_backtest(prices, twin((le, lx, none, none), 0.02, 0.02), commission=COMMISSION)
    assert_same_run(vec, bars)
    assert (vec.trades["size"] > 0).all()
    # a target position acts where it changes: the same trades as its entries and exits
    target = np.zeros(N, np.int8)
    target[100:900], target[900:1500], target[2000:3000] = 1, -1, 1
    changes = np.diff(target, prepend=0) != 0
    four = (
        changes & (target == 1),
        changes & (np.roll(target, 1) == 1),
        changes & (target == -1),
        changes & (np.roll(target, 1) == -1),
    )
    by_target = run_backtest(prices, vectorized(target), tsl_stop=0.03)
    by_signals = run_backtest(prices, vectorized(four), tsl_stop=0.03)
    pd.testing.assert_frame_equal(by_target.trades, by_signals.trades)
    # each stretch was cut short by the trailing stop, then stayed flat until the next change
    assert by_target.trades.exit_reason.tolist() == ["sl"] * 3
    assert by_target.trades.entry_bar.tolist() == [101, 901, 2001]


def test_broker_replay_matches_the_fast_path(prices, signals):
    """A setting the fast path does not compute (here return_basis) replays the signals and
    stops through the broker: the same trades."""
    stops = {"sl_stop": 0.02, "tp_stop": 0.03, "tsl_stop": 0.025}
    fast = run_backtest(prices, vectorized(signals), commission=COMMISSION, **stops)
    slow = run_backtest(
        prices, vectorized(signals), commission=COMMISSION, return_basis="notional", **stops
    )
    assert set(fast.trades.exit_reason) == {"close", "sl", "tp", "finalize"}
    columns = [c for c in fast.trades.columns if c != "return"]
    pd.testing.assert_frame_equal(fast.trades[columns], slow.trades[columns], rtol=1e-9)
    pd.testing.assert_series_equal(fast.equity, slow.equity, rtol=1e-9)


@pytest.mark.parametrize(
    ("setting", "value"),
    [("sl_stop", 1.0), ("sl_stop", 0), ("tp_stop", -0.1), ("tsl_stop", "5%"), ("tp_stop", True)],
)
def test_bad_stops_name_the_setting(prices, signals, setting, value):
    with pytest.raises(ParamError) as err:
        run_backtest(prices, vectorized(signals), **{setting: value})
    assert err.value.param == setting and setting in str(err.value)


def test_stops_are_for_vectorized_strategies(prices):
    with pytest.raises(ParamError) as err:
        run_backtest(prices, "sma_crossover_bars", tp_stop=0.05)
    assert err.value.param == "tp_stop"


def test_rest_body_takes_the_stops(tmp_path):
    """POST /backtest/run's body takes the stops (Job.settings hands them to run_backtest) and
    refuses a bad one naming it."""
    from qm_jupyter.server.run_request import RequestError, parse_run_request

    body = {"strategy": "sma_crossover", "data": {"sample": "gbm", "bars": 500}}
    limits = {"root_dir": tmp_path, "max_sample_bars": 1000, "max_file_bytes": 1}
    request = parse_run_request({**body, "sl_stop": 0.02, "tsl_stop": None}, **limits)
    assert request.settings == {"sl_stop": 0.02}
    assert run_backtest(request.data, request.strategy, **request.settings).trades.sl.notna().all()
    with pytest.raises(RequestError) as err:
        parse_run_request({**body, "tp_stop": 0}, **limits)
    assert err.value.field == "tp_stop"


def test_a_strategy_that_raises_in_signals_keeps_its_own_error():
    def broken(data):
        raise ValueError("odd n 3")

    with pytest.raises(ValueError) as error:
        run_backtest({"sample": "gbm", "bars": 100, "seed": 1}, broken)
    assert str(error.value) == "odd n 3"

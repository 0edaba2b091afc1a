"""Both strategy forms, function strategies, the registry and parameter validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qm_jupyter.engine import (
    Param,
    ParamError,
    Strategy,
    VectorStrategy,
    get_strategy,
    list_strategies,
    load_prices,
    register_strategy,
    registry,
    run_backtest,
    validate_params,
)


@pytest.fixture(scope="module")
def prices():
    return load_prices({"sample": "gbm", "bars": 20_000, "seed": 7, "freq": "5min"})


@pytest.mark.parametrize("params", [{"fast": 10, "slow": 20}, {"fast": 5, "slow": 50}])
def test_sma_crossover_both_forms_identical(prices, params):
    vec = run_backtest(prices, "sma_crossover", params, commission=0.001)
    bars = run_backtest(prices, "sma_crossover_bars", params, commission=0.001)
    assert vec.metrics["total_trades"] > 100
    pd.testing.assert_frame_equal(
        vec.trades[["entry_time", "exit_time"]], bars.trades[["entry_time", "exit_time"]]
    )
    pd.testing.assert_frame_equal(vec.trades, bars.trades, rtol=1e-9)
    pd.testing.assert_series_equal(vec.equity, bars.equity, rtol=1e-9)
    for key, value in vec.metrics.items():
        if key != "duration":
            assert bars.metrics[key] == pytest.approx(value, rel=1e-9), key


def test_builtins_run_and_list():
    listed = {s["name"]: s for s in list_strategies()}
    assert {"sma_crossover", "sma_crossover_bars", "buy_and_hold", "rsi_reversion"} <= set(listed)
    assert listed["sma_crossover"]["params"]["fast"] == {
        "type": "int",
        "default": 10,
        "min": 2,
        "max": 10_000,
        "description": "fast SMA window (bars)",
    }
    assert listed["sma_crossover"]["description"]
    data = {"sample": "gbm", "bars": 3000, "seed": 3}
    rsi = run_backtest(data, "rsi_reversion", {"period": 10, "lower": 35.0, "upper": 65})
    assert rsi.metrics["total_trades"] > 0
    hold = run_backtest(data, "buy_and_hold")
    assert hold.metrics["total_trades"] == 1
    assert hold.trades.entry_time.iloc[0] == pd.Timestamp("2020-01-01 00:01", tz="UTC")


def test_function_strategy_params_from_signature(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))  # leave no trace

    def momentum(data, lookback=20, threshold=0.0):
        """Long while the close is above its value `lookback` bars ago."""
        change = data.close.pct_change(lookback).fillna(0.0)
        return (change > threshold).to_numpy()

    assert validate_params(momentum, {"lookback": 5}) == {"lookback": 5, "threshold": 0.0}
    with pytest.raises(ParamError) as err:
        validate_params(momentum, {"lookback": 2.5})
    assert err.value.param == "lookback"
    cls = register_strategy(momentum)
    assert get_strategy("momentum") is cls
    r = run_backtest({"sample": "gbm", "bars": 2000}, "momentum", {"lookback": 30})
    assert r.strategy == "momentum" and r.params == {"lookback": 30, "threshold": 0.0}
    assert r.metrics["total_trades"] > 0


def test_vector_strategy_class_with_entries_exits():
    class Channel(VectorStrategy):
        """Buy new highs, sell new lows."""

        window = Param(20, min=2)

        def signals(self, data):
            hi = data.high.rolling(self.window).max().shift()
            lo = data.low.rolling(self.window).min().shift()
            return data.close > hi, data.close < lo

    r = run_backtest({"sample": "gbm", "bars": 5000, "seed": 2}, Channel, {"window": 30})
    assert r.strategy == "Channel" and r.metrics["total_trades"] > 0
    assert (r.trades.exit_time >= r.trades.entry_time).all()
    entries, exits = r.trades.entry_time.to_numpy(), r.trades.exit_time.to_numpy()
    assert (entries[1:] >= exits[:-1]).all()


def test_per_bar_sizing_logging_and_bar_access(make_frame, caplog):
    seen = []

    class HalfIn(Strategy):
        def next(self):
            seen.append((self.bar.close, self.price, self.equity))
            if self.i == 0:
                self.buy(0.5)
                self.log("bought half at bar %d", self.i)

    data = make_frame([10, 20, 20], [10, 20, 30])
    with caplog.at_level("INFO", logger="qm_jupyter.engine"):
        r = run_backtest(data, HalfIn)
    # half the cash (5000) buys 250 units at bar 1's open (20); the other 5000 stays cash
    assert r.trades["size"].tolist() == [250.0]
    assert r.equity.tolist() == [10_000, 10_000, 12_500]
    assert r.trades.pnl.tolist() == [2_500.0]
    assert seen == [(10, 10, 10_000), (20, 20, 10_000), (30, 30, 12_500)]
    assert ("qm_jupyter.engine.strategy", "bought half at bar 0") in [
        (rec.name, rec.getMessage()) for rec in caplog.records
    ]
    for size in (0, -1, float("nan")):
        bad = type("Bad", (Strategy,), {"next": lambda self, size=size: self.buy(size)})
        with pytest.raises(ValueError, match=r"buy\(size=.*\) on bar 0: size must be"):
            run_backtest(data, bad)
    whole = type("Whole", (Strategy,), {"next": lambda self: self.buy(2.5)})
    with pytest.raises(ValueError, match="a whole number of units"):
        run_backtest(data, whole, units="whole")


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"fast": 30, "slow": 20}, "fast"),
        ({"fast": 1}, "fast"),
        ({"slow": 10**9}, "slow"),
        ({"fast": "10"}, "fast"),
        ({"fast": True}, "fast"),
        ({"fast": 10.0}, "fast"),
        ({"speed": 3}, "speed"),
    ],
)
def test_bad_params_name_the_parameter(params, name):
    with pytest.raises(ParamError) as err:
        validate_params("sma_crossover", params)
    assert err.value.param == name and name in str(err.value)


def test_param_validation_other_cases():
    assert validate_params("rsi_reversion", {"lower": 20}) == {
        "period": 14,
        "lower": 20.0,
        "upper": 70.0,
    }
    with pytest.raises(ParamError) as err:
        validate_params("rsi_reversion", {"upper": float("nan")})
    assert err.value.param == "upper"
    with pytest.raises(ParamError) as err:
        validate_params("rsi_reversion", {"lower": 80})
    assert err.value.param == "lower"
    with pytest.raises(ParamError) as err:
        validate_params("no_such_strategy", None)
    assert err.value.param == "strategy"
    with pytest.raises(ParamError) as err:
        validate_params("buy_and_hold", ["fast"])
    assert err.value.param == "params"
    with pytest.raises(TypeError):
        validate_params(42, None)
    with pytest.raises(TypeError, match="default"):
        validate_params(lambda data, n: data, None)


def test_indicator_warmup_gives_no_signal():
    closes = np.linspace(100, 50, 30).tolist() + np.linspace(50, 100, 30).tolist()
    data = pd.DataFrame(
        {"open": closes, "high": closes, "low": closes, "close": closes},
        index=pd.date_range("2024-01-01", periods=60, freq="D"),
    )
    r = run_backtest(data, "sma_crossover", {"fast": 3, "slow": 10})
    assert r.metrics["total_trades"] == 1
    assert r.trades.entry_time.iloc[0] > data.index[30]

"""What a watcher sees: observer calls, log lines, cancellation and errors, in order."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from qm_jupyter.engine import (
    BacktestCancelled,
    ParamError,
    Strategy,
    VectorStrategy,
    run_backtest,
)
from qm_jupyter.engine.reporting import iso_times

SAMPLE = {"sample": "gbm", "bars": 1050, "seed": 4}


@pytest.mark.parametrize("strategy", ["sma_crossover", "sma_crossover_bars"])
def test_event_order_progress_and_trade_logs(recorder, strategy):
    rec = recorder
    r = run_backtest(SAMPLE, strategy, {"fast": 5, "slow": 15}, observer=rec, progress_every=100)
    kinds = [c[0] for c in rec.calls]
    assert kinds[0] == "start" and kinds[1] == "log" and kinds[-1] == "complete"
    info = rec.calls[0][1]
    assert info == {
        "strategy": strategy,
        "params": {"fast": 5, "slow": 15},
        "data": {**SAMPLE, "freq": "1min"},
        "initial_balance": 10_000.0,
        "commission": 0.0,
        "total_bars": 1050,
        "first_bar_time": "2020-01-01T00:00:00+00:00",
        "last_bar_time": "2020-01-01T17:29:00+00:00",
    }
    progress = rec.progress()
    assert [p["bars_processed"] for p in progress] == [*range(100, 1001, 100), 1050]
    last = progress[-1]
    assert last["total_bars"] == 1050 and last["trades_count"] == r.metrics["total_trades"]
    assert last["equity"] == pytest.approx(r.metrics["final_balance"])
    assert last["pnl"] == pytest.approx(r.metrics["final_balance"] - 10_000)
    assert rec.calls[-1][1] == r.metrics
    # every trade logged once, before the progress point covering its exit
    trade_logs = [i for i, c in enumerate(rec.calls) if c[0] == "log" and "Trade" in c[1]]
    assert len(trade_logs) == r.metrics["total_trades"] > 5
    exits = r.trades.exit_time.map(r.equity.index.get_loc).tolist()
    for k, (pos, exit_bar) in enumerate(zip(trade_logs, exits, strict=True)):
        assert rec.calls[pos][1].startswith(f"Trade {k + 1}:")
        before = [c[1]["bars_processed"] for c in rec.calls[:pos] if c[0] == "progress"]
        assert (before[-1] if before else 0) <= exit_bar
    assert rec.calls[-2][0] == "log" and "complete" in rec.calls[-2][1]
    assert set(rec.sources) == {(logging.INFO, "engine")}
    counts = [p["trades_count"] for p in progress]
    assert counts == sorted(counts)


@pytest.mark.parametrize("strategy", ["sma_crossover", "sma_crossover_bars"])
@pytest.mark.parametrize("log_trades", [0, 3, False])
def test_log_trades_logs_the_first_trades_then_counts_the_rest(recorder, strategy, log_trades):
    r = run_backtest(
        SAMPLE, strategy, {"fast": 5, "slow": 15}, observer=recorder, log_trades=log_trades
    )
    lines = [c[1] for c in recorder.calls if c[0] == "log"]
    total = r.metrics["total_trades"]
    assert [x.split(":")[0] for x in lines if x.startswith("Trade ")] == [
        f"Trade {k}" for k in range(1, int(log_trades) + 1)
    ]
    shown = int(log_trades)
    rest = [x for x in lines if x.startswith("Trades ")]
    assert rest == [
        f"Trades {shown + 1} to {total} are not logged (log_trades={shown}; true logs every trade)"
    ]
    assert lines.index(rest[0]) == len(lines) - 2  # just before "Backtest complete"
    assert len(r.trades) == total > 5  # the result keeps every trade


def test_log_trades_true_logs_every_trade_and_the_default_is_a_thousand(recorder):
    bars = {"sample": "gbm", "bars": 20_000, "seed": 4}
    r = run_backtest(bars, "sma_crossover", {"fast": 2, "slow": 3}, observer=recorder)
    total = r.metrics["total_trades"]
    assert total > 1000
    lines = [c[1] for c in recorder.calls if c[0] == "log"]
    assert sum(x.startswith("Trade ") for x in lines) == 1000
    assert (
        f"Trades 1001 to {total} are not logged (log_trades=1000; true logs every trade)" in lines
    )
    recorder.calls.clear()
    run_backtest(bars, "sma_crossover", {"fast": 2, "slow": 3}, observer=recorder, log_trades=True)
    lines = [c[1] for c in recorder.calls if c[0] == "log"]
    assert sum(x.startswith("Trade ") for x in lines) == total
    assert not any(x.startswith("Trades ") for x in lines)


@pytest.mark.parametrize("bad", [-1, 1.5, "all", None])
def test_log_trades_refuses_what_is_not_a_count(bad):
    with pytest.raises(ParamError, match="log_trades must be true, false or an integer >= 0") as e:
        run_backtest(SAMPLE, "sma_crossover", log_trades=bad)
    assert e.value.param == "log_trades"


def test_progress_every_larger_than_run(recorder):
    run_backtest(SAMPLE, "buy_and_hold", observer=recorder, progress_every=10**6)
    assert [p["bars_processed"] for p in recorder.progress()] == [1050]


@pytest.mark.parametrize("strategy", ["sma_crossover", "sma_crossover_bars"])
def test_cancel_at_a_progress_point(recorder, strategy):
    with pytest.raises(BacktestCancelled) as err:
        run_backtest(
            SAMPLE, strategy, observer=recorder, should_stop=lambda: len(recorder.progress()) == 2
        )
    assert err.value.bars_processed == 300
    assert [p["bars_processed"] for p in recorder.progress()] == [100, 200]
    assert [c[0] for c in recorder.calls if c[0] != "log"][-1] == "progress"


@pytest.mark.parametrize(("strategy", "bars"), [("sma_crossover", 0), ("sma_crossover_bars", 100)])
def test_cancel_before_any_progress(recorder, strategy, bars):
    # a vectorized run is also asked before it simulates, so a cancel lands before any work
    with pytest.raises(BacktestCancelled) as err:
        run_backtest(SAMPLE, strategy, observer=recorder, should_stop=lambda: True)
    assert err.value.bars_processed == bars
    assert recorder.progress() == [] and recorder.calls[0][0] == "start"


def test_cancel_stops_a_long_run_early():
    class Forever(Strategy):
        def next(self):
            pass

    stop_after = iter(range(5, -1, -1))
    with pytest.raises(BacktestCancelled) as err:
        run_backtest(
            {"sample": "gbm", "bars": 10**6},
            Forever,
            progress_every=1000,
            should_stop=lambda: next(stop_after) == 0,
        )
    assert err.value.bars_processed == 6000


def test_wrong_length_signals_error():
    def short(data):
        return np.ones(len(data) - 1, dtype=bool)

    with pytest.raises(ValueError, match="expected length 1050, got 1049"):
        run_backtest(SAMPLE, short)

    def tuple3(data):
        return data.close > 0, data.close < 0, data.close == 0

    with pytest.raises(ValueError, match="entries, exits"):
        run_backtest(SAMPLE, tuple3)

    def not_binary(data):
        return data.close.to_numpy()

    with pytest.raises(ValueError, match="0/1"):
        run_backtest(SAMPLE, not_binary)


class Boom(RuntimeError):
    pass


def test_strategy_exceptions_propagate_unchanged(recorder):
    class RaisesMidRun(Strategy):
        def next(self):
            if self.i == 500:
                raise Boom("bar 500")

    class RaisesInSignals(VectorStrategy):
        def signals(self, data):
            raise Boom("signals")

    for strategy in (RaisesMidRun, RaisesInSignals):
        with pytest.raises(Boom):
            run_backtest(SAMPLE, strategy, observer=recorder)
    assert [p["bars_processed"] for p in recorder.progress()] == [100, 200, 300, 400, 500]
    assert "complete" not in [c[0] for c in recorder.calls]


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"initial_balance": 0}, "initial_balance"),
        ({"initial_balance": float("inf")}, "initial_balance"),
        ({"commission": 1.0}, "commission"),
        ({"commission": -0.1}, "commission"),
        ({"commission": "0.1"}, "commission"),
        ({"periods_per_year": 0}, "periods_per_year"),
        ({"progress_every": 0}, "progress_every"),
        ({"progress_every": 1.5}, "progress_every"),
    ],
)
def test_bad_run_settings(kwargs, param):
    with pytest.raises(ParamError) as err:
        run_backtest(SAMPLE, "buy_and_hold", **kwargs)
    assert err.value.param == param


def test_default_logger_and_result_repr(caplog):
    with caplog.at_level(logging.INFO, logger="qm_jupyter.engine"):
        r = run_backtest(SAMPLE, "sma_crossover")
    messages = [rec.getMessage() for rec in caplog.records]
    assert messages[0].startswith("Backtest started: sma_crossover(fast=10, slow=20)")
    assert messages[-1].startswith("Backtest complete:")
    assert sum(m.startswith("Trade ") for m in messages) == r.metrics["total_trades"]
    assert repr(r).startswith("<BacktestResult sma_crossover(fast=10, slow=20): 1050 bars")
    assert r.stats.name == "sma_crossover" and r.stats["# Trades"] == r.metrics["total_trades"]
    assert len(r.equity) == 1050 and r.equity.name == "equity"


def test_a_run_too_short_for_the_warm_up_warns_why_it_cannot_trade(recorder):
    r = run_backtest({"sample": "gbm", "bars": 5, "seed": 1}, "sma_crossover", observer=recorder)
    assert r.metrics["total_trades"] == 0
    warnings = [
        message
        for (kind, message), (level, _) in zip(
            [c for c in recorder.calls if c[0] == "log"], recorder.sources, strict=True
        )
        if level == logging.WARNING
    ]
    assert warnings == [
        "No trade is possible: sma_crossover(fast=10, slow=20) needs more than 20 bars "
        "before its first signal, and the data has 5"
    ]


def test_a_run_without_an_entry_warns(recorder, make_frame):
    data = make_frame([10, 11, 12, 13], [10, 11, 12, 13])
    run_backtest(data, lambda d: np.zeros(len(d)), observer=recorder)
    assert (logging.WARNING, "engine") in recorder.sources
    assert "No trade: the strategy gave no entry on 4 bars" in [c[1] for c in recorder.calls]


def test_the_final_line_rounds_its_figures(recorder):
    run_backtest(SAMPLE, "sma_crossover", observer=recorder)
    final = [c[1] for c in recorder.calls if c[0] == "log"][-1]
    sharpe = final.split("sharpe ")[1].split(",")[0]
    assert len(sharpe.split(".")[1]) == 2, final
    assert "max drawdown -" in final and "%" in final


@pytest.mark.parametrize(
    ("freq", "tz"),
    [("h", "UTC"), ("min", None), ("1500ms", "UTC"), ("h", "Europe/Berlin"), ("D", "Asia/Tokyo")],
)
def test_iso_times_write_what_timestamp_isoformat_writes(freq, tz):
    times = pd.date_range("2020-03-28 22:00", periods=50, freq=freq, tz=tz)
    assert iso_times(times) == [t.isoformat() for t in times]

"""The notebook API with no server: runs in this process, displays, results, errors, cancel."""

from __future__ import annotations

import asyncio
import inspect
import os
import re
import subprocess
import sys
import time

import nbformat
import pandas as pd
import pytest
from nb_helpers import MISTAKES, SAMPLE, library_frames
from nbclient import NotebookClient

import qm_jupyter as qm
from qm_jupyter.discovery import ENV_TOKEN, ENV_URL
from qm_jupyter.engine import BacktestCancelled, Param, Strategy, load_prices
from qm_jupyter.engine import run_backtest as engine_run
from qm_jupyter.engine.stats import stats_to_wire
from qm_jupyter.ws_logger import setup_backtest_logging


def momentum(data, lookback=20):
    return (data.close > data.close.shift(lookback)).to_numpy().astype(int)


class Dip(Strategy):
    """Buy after a down bar, close after an up bar; logs each exit."""

    size = Param(1.0, min=0.1, max=1.0)

    def next(self):
        close = self.data.close
        if self.i and not self.position and close.iat[self.i] < close.iat[self.i - 1]:
            self.buy(self.size)
        elif self.position and close.iat[self.i] > close.iat[self.i - 1]:
            self.log("exit on bar %d", self.i)
            self.close()


class Slow(Strategy):
    def next(self):
        time.sleep(0.001)


def test_importing_the_package_does_not_load_the_notebook_side():
    code = "import sys, qm_jupyter; print('ipywidgets' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    assert {"run_backtest", "watch", "connect"} <= set(dir(qm))
    with pytest.raises(AttributeError):
        _ = qm.no_such_thing


def test_a_builtin_strategy_runs_in_the_kernel_and_matches_the_engine(kernel_alone):
    run = qm.run_backtest(SAMPLE, "sma_crossover", {"fast": 10, "slow": 30}, display=False)
    assert run.where == "kernel"
    result = run.result(timeout=30)
    expected = engine_run(SAMPLE, "sma_crossover", {"fast": 10, "slow": 30})
    assert {k: v for k, v in result.metrics.items() if k != "duration"} == {
        k: v for k, v in expected.metrics.items() if k != "duration"
    }
    pd.testing.assert_series_equal(result.equity, expected.equity)
    assert run.status == "completed" and run.done() and not run.cancel()
    view = run.widget.view
    assert view.last_seq > 3 and view.log_counts["INFO"] == result.metrics["total_trades"] + 2
    assert run.widget.progress_bar.value == 100.0
    assert "in this kernel (no server)" in run.widget.header.value
    assert repr(run) == f"<BacktestRun {run.backtest_id} in the kernel: completed>"


def test_notebook_strategies_in_both_forms_and_a_dataframe(kernel_alone):
    prices = load_prices(SAMPLE)
    vector_run = qm.run_backtest(prices, momentum, {"lookback": 50}, display=False)
    vector = asyncio.run(_await(vector_run))
    assert vector.strategy == "momentum" and len(vector.equity) == len(prices)
    assert "momentum(lookback=50) on a DataFrame (5,000 rows)" in repr(vector_run.widget)
    bars = qm.run_backtest(SAMPLE, Dip, {"size": 0.5}, display=False)
    result = bars.result(timeout=30)
    assert result.metrics["total_trades"] == len(result.trades) > 0
    lines = [line.message for line in bars.widget.view.logs]
    assert any(message.startswith("exit on bar") for message in lines)


async def _await(run):
    return await run


def test_a_failing_strategy_raises_with_its_traceback(kernel_alone):
    def broken(data, level=1):
        raise ZeroDivisionError("no signal today")

    run = qm.run_backtest(SAMPLE, broken, display=False)
    with pytest.raises(qm.BacktestFailed, match="ZeroDivisionError: no signal today") as failed:
        run.result(timeout=30)
    assert "no signal today" in failed.value.traceback
    assert run.status == "failed"
    assert "ZeroDivisionError" in run.widget.outcome.value


def test_the_notebook_takes_the_engines_arguments_in_the_engines_order():
    """Every argument of the engine's (names, kinds, defaults, annotations) but the engine's
    own hooks, then display."""
    hooks = ("observer", "should_stop", "root_dir")
    engine = list(inspect.signature(engine_run).parameters.values())
    notebook = list(inspect.signature(qm.run_backtest).parameters.values())
    assert [p.name for p in engine[-3:]] == list(hooks)
    assert notebook[:-1] == engine[:-3]  # data, strategy, params, then the settings by keyword
    assert [p.name for p in engine[:3]] == ["data", "strategy", "params"]
    assert {"commission", "spread", "conventions", "finalize_trades", "warmup_offset"} <= {
        p.name for p in notebook
    }
    assert (notebook[-1].name, notebook[-1].kind) == ("display", inspect.Parameter.KEYWORD_ONLY)


def test_arguments_by_keyword_and_in_order_run_alike(kernel_alone):
    by_keyword = qm.run_backtest(
        strategy="sma_crossover", params={"fast": 5, "slow": 20}, data=SAMPLE, display=False
    )
    in_order = qm.run_backtest(SAMPLE, "sma_crossover", {"fast": 5, "slow": 20}, display=False)
    first, second = by_keyword.result(timeout=30), in_order.result(timeout=30)
    assert first.metrics["total_trades"] == second.metrics["total_trades"] > 0


@pytest.mark.parametrize(
    ("strategy", "name"), [("sma_crossover", "sma_crossover"), (momentum, "momentum"), (Dip, "Dip")]
)
def test_the_old_argument_order_is_refused_with_a_message_that_says_so(
    kernel_alone, strategy, name
):
    with pytest.raises(TypeError) as refused:
        qm.run_backtest(strategy, {"fast": 10}, SAMPLE, display=False)
    message = str(refused.value)
    assert "takes (data, strategy, params)" in message
    assert f"{name!r} is a strategy, not data" in message
    assert f"run_backtest(data, {name!r}, params)" in message
    assert not kernel_alone.stream._runs  # nothing started


@pytest.mark.parametrize(("data", "strategy", "params", "settings", "error", "param"), MISTAKES)
def test_mistakes_raise_the_engines_errors_from_the_public_function(
    kernel_alone, data, strategy, params, settings, error, param
):
    with pytest.raises(error) as raised:
        qm.run_backtest(data, strategy, params, display=False, **settings)
    assert getattr(raised.value, "param", None) == param
    with pytest.raises(error) as engine_raised:
        engine_run(data, strategy, params, **settings)  # the same mistake, the same class
    assert getattr(engine_raised.value, "param", None) == param
    assert library_frames(raised.tb) == ["run_backtest"]
    assert raised.value.__suppress_context__
    assert not kernel_alone.stream._runs  # refused before anything ran


MISTAKE_CELL = """
import qm_jupyter as qm

qm.run_backtest({"sample": "gbm", "bars": 500}, "sma_crossover", {"fast": -1})
"""


def test_ipython_shows_the_mistake_under_the_users_own_line(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(MISTAKE_CELL)])
    environment = {k: v for k, v in os.environ.items() if k not in (ENV_URL, ENV_TOKEN)}
    client = NotebookClient(notebook, timeout=120, allow_errors=True, resources={
        "metadata": {"path": str(tmp_path)}})  # fmt: skip
    client.execute(env=environment)
    (error,) = [o for o in notebook.cells[0].outputs if o.output_type == "error"]
    assert (error.ename, error.evalue) == ("ParamError", "param 'fast' must be >= 2, got -1")
    shown = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(error.traceback))
    frames = re.findall(r"^(?:Cell In\[\d+\]|File (\S+))", shown, flags=re.MULTILINE)
    assert len(frames) == 2, shown  # the user's line, then the one line that raises
    assert frames[0] == "" and "qm_jupyter/notebook/api.py:" in frames[1], shown


def test_cancel_stops_a_kernel_run_where_it_is(kernel_alone):
    run = qm.run_backtest({"sample": "gbm", "bars": 100_000}, Slow, display=False)
    time.sleep(0.3)
    assert run.cancel()
    with pytest.raises(BacktestCancelled) as cancelled:
        run.result(timeout=30)
    assert 0 < cancelled.value.bars_processed < 100_000
    assert run.status == "cancelled"
    assert "cancelled at bar" in run.widget.outcome.value


def test_a_path_is_read_from_the_working_directory(kernel_alone, tmp_path, monkeypatch):
    load_prices(SAMPLE).to_csv(tmp_path / "prices.csv")
    monkeypatch.chdir(tmp_path)
    result = qm.run_backtest("prices.csv", "buy_and_hold", display=False).result(timeout=30)
    assert result.metrics["bars"] == SAMPLE["bars"]


def test_watch_shows_a_hand_written_run_of_the_seed_api(kernel_alone):
    logger, streamer = setup_backtest_logging("hand-1", kernel_alone)
    watched = qm.watch("hand-1", display=False)  # before its first event
    asyncio.run(streamer.start(strategy="mine", params={}, total_bars=10))
    logger.info("hello from my loop")
    streamer.report_progress(100.0, bars_processed=10, total_bars=10, equity=10_100.0, pnl=100.0)
    late = qm.watch("hand-1", display=False)  # joins mid-run: replays the state so far
    streamer.on_complete({"final_balance": 10_100.0, "total_trades": 1, "sharpe_ratio": None})
    result = watched.result(timeout=10)
    assert result.metrics["final_balance"] == 10_100.0 and result.strategy == "mine"
    assert late.result(timeout=10).metrics == result.metrics
    assert [line.message for line in late.widget.view.logs] == ["hello from my loop"]
    with pytest.raises(RuntimeError, match="driven by code in this kernel"):
        qm.watch("hand-2", display=False).cancel()
    finished = qm.watch("hand-1", display=False)
    assert finished.done() and finished.status == "completed"


def test_default_sink_is_the_notebook_sink_only_in_a_kernel(monkeypatch):
    from qm_jupyter import sinks

    monkeypatch.setattr(sinks, "_default_sink", None)
    assert isinstance(sinks.default_sink(), sinks.MemorySink)  # plain python: no kernel here


def test_a_kernel_run_with_broker_settings_gives_the_engines_numbers(kernel_alone):
    settings = {
        "conventions": "backtesting.py",
        "commission": (1.0, 0.001),
        "spread": 0.0005,
        "exclusive_orders": True,
        "finalize_trades": True,
    }
    params = {"fast": 5, "slow": 20}
    run = qm.run_backtest(SAMPLE, "sma_crossover", params, display=False, **settings)
    result = run.result(timeout=60)
    expected = engine_run(SAMPLE, "sma_crossover", params, **settings)
    assert result.metrics["final_balance"] == expected.metrics["final_balance"]
    assert result.trades.equals(expected.trades)
    assert stats_to_wire(result.stats) == stats_to_wire(expected.stats)
    assert run.widget.view.metrics["stats"] == stats_to_wire(expected.stats)
    assert "Open Trades" not in result.stats  # backtesting.py's keys
    default = engine_run(SAMPLE, "sma_crossover", params)
    assert default.metrics["final_balance"] != result.metrics["final_balance"]


def test_a_commission_function_runs_in_the_kernel(kernel_alone):
    def per_order(size, price):
        return abs(size) * price * 0.0005

    run = qm.run_backtest(SAMPLE, "sma_crossover", commission=per_order, display=False)
    result = run.result(timeout=60)
    expected = engine_run(SAMPLE, "sma_crossover", commission=per_order)
    assert result.metrics["final_balance"] == expected.metrics["final_balance"]
    assert result.stats["Commissions [$]"] == expected.stats["Commissions [$]"] > 0
    assert run.widget.view.start["commission"] == "per_order"

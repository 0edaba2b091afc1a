"""The notebook API against a real Jupyter server with the extension (pytest-jupyter).

The server runs on this test's event loop, so the blocking parts of the kernel-side
client (the REST calls) run in threads here, as they run on a kernel's main thread.
"""

from __future__ import annotations

import asyncio
import json
import os
import time

import pytest
from nb_helpers import MISTAKES, SAMPLE, library_frames

import qm_jupyter as qm
from qm_jupyter.discovery import ENV_TOKEN, ENV_URL
from qm_jupyter.engine import BacktestCancelled, Strategy, load_prices
from qm_jupyter.engine import run_backtest as engine_run
from qm_jupyter.engine.stats import stats_to_wire
from qm_jupyter.events import Event
from qm_jupyter.notebook import connection, server_run
from qm_jupyter.notebook import kernel_sink as kernel_sink_module
from qm_jupyter.notebook.connection import ServerConnection
from qm_jupyter.notebook.follower import ServerFollower
from qm_jupyter.notebook.kernel_sink import kernel_sink
from qm_jupyter.ws_logger import setup_backtest_logging


class Slow(Strategy):
    def next(self):
        time.sleep(0.001)


def momentum(data, lookback=20):
    return (data.close > data.close.shift(lookback)).to_numpy().astype(int)


@pytest.fixture
def jp_server_config(tmp_path):
    return {
        "ServerApp": {"jpserver_extensions": {"qm_jupyter": True}},
        "QuantMindExtension": {"db_path": str(tmp_path / "runs.sqlite"), "workers": 1},
    }


@pytest.fixture
def server(jp_serverapp, http_server_client, monkeypatch):
    """This process as a kernel of that server (attached directly: the server's loop and
    the extension's start only run inside the tests, which check discovery themselves).
    ``http_server_client`` makes the server listen."""
    found = ServerConnection(jp_serverapp.connection_url, jp_serverapp.identity_provider.token)
    monkeypatch.setattr(connection, "_resolved", True)
    monkeypatch.setattr(connection, "_current", found)
    monkeypatch.setattr(kernel_sink_module, "_sink", None)
    kernel_sink()
    yield found
    kernel_sink().attach(None)


async def get_json(jp_fetch, *parts, **params):
    reply = await jp_fetch(*parts, params=params)
    return json.loads(reply.body)


async def test_a_kernel_finds_the_server_from_what_the_extension_exported(
    server, jp_serverapp, jp_root_dir
):
    await jp_serverapp.extension_manager.start_all_extensions()  # as a real server's start does
    assert os.environ[ENV_URL] == server.url and os.environ[ENV_TOKEN] == server.token
    found = await asyncio.to_thread(qm.connect)  # looks again: environment, runtime files
    assert (found.url, found.token) == (server.url, server.token)
    assert found.root_dir == str(jp_root_dir)  # from the server's runtime file
    assert kernel_sink().server == found


async def test_an_explicit_connect_with_a_bad_token_is_refused(server):
    with pytest.raises(ConnectionError, match="no qm_jupyter server answers"):
        await asyncio.to_thread(qm.connect, server.url, "wrong-token")


def without_curve(metrics: dict) -> dict:
    """The server's metrics as a result carries them: its curve is ``result.equity``, its
    stats ``result.stats``, its chart the display's."""
    return {
        key: value
        for key, value in metrics.items()
        if key not in ("equity_curve", "stats", "chart")
    }


async def test_a_builtin_strategy_runs_on_the_server(server, jp_fetch):
    run = await asyncio.to_thread(
        qm.run_backtest, SAMPLE, "sma_crossover", {"fast": 10, "slow": 30}, display=False
    )
    assert run.where == "server"
    result = await run
    stored = await get_json(jp_fetch, "api", "v1", "backtest", run.backtest_id)
    assert stored["status"] == "completed" and stored["origin"] == "server"
    assert result.metrics == without_curve(stored["result"])
    local = engine_run(SAMPLE, "sma_crossover", {"fast": 10, "slow": 30})
    assert result.metrics["total_trades"] == local.metrics["total_trades"] == len(result.trades)
    assert len(result.equity) == SAMPLE["bars"]  # the replay gives the whole curve
    assert run.widget.view.last_seq == stored["last_seq"]
    assert stats_to_wire(result.stats) == stored["result"]["stats"]


async def test_a_server_run_takes_the_broker_settings_of_a_kernel_run(server, jp_fetch):
    settings = {
        "conventions": "backtesting.py",
        "commission": (1.0, 0.001),
        "spread": 0.0005,
        "exclusive_orders": True,
        "finalize_trades": True,
    }
    params = {"fast": 5, "slow": 20}
    run = await asyncio.to_thread(
        qm.run_backtest, SAMPLE, "sma_crossover", params, display=False, **settings
    )
    assert run.where == "server"
    result = await run
    stored = await get_json(jp_fetch, "api", "v1", "backtest", run.backtest_id)
    request = stored["request"]
    assert request["commission"] == [1.0, 0.001]
    assert request["settings"] == {k: v for k, v in settings.items() if k != "commission"}
    expected = engine_run(SAMPLE, "sma_crossover", params, **settings)
    assert stored["result"]["final_balance"] == expected.metrics["final_balance"]
    assert stored["result"]["stats"] == stats_to_wire(expected.stats)
    assert result.trades.equals(expected.trades)  # the replay used the same settings
    kernel = qm.run_backtest(
        load_prices(SAMPLE), "sma_crossover", params, display=False, **settings
    )
    assert kernel.where == "kernel"
    in_kernel = await kernel
    assert in_kernel.metrics["final_balance"] == expected.metrics["final_balance"]
    assert stats_to_wire(in_kernel.stats) == stored["result"]["stats"]


async def test_a_server_run_the_kernel_cannot_replay_keeps_the_stats_it_sent(
    server, jp_fetch, monkeypatch
):
    def unreadable(*args, **kwargs):
        raise OSError("not readable from the kernel")

    monkeypatch.setattr(server_run, "run_backtest", unreadable)
    run = await asyncio.to_thread(qm.run_backtest, SAMPLE, "sma_crossover", display=False)
    result = await run
    stored = await get_json(jp_fetch, "api", "v1", "backtest", run.backtest_id)
    assert result.trades.empty  # no replay
    assert stats_to_wire(result.stats) == stored["result"]["stats"]
    assert result.stats["# Trades"] == stored["result"]["total_trades"] > 0


@pytest.mark.parametrize(("data", "strategy", "params", "settings", "error", "param"), MISTAKES)
async def test_a_refused_request_raises_the_engines_error_with_the_servers_words(
    server, jp_fetch, data, strategy, params, settings, error, param
):
    def start():
        try:
            qm.run_backtest(data, strategy, params, display=False, **settings)
        except ValueError as raised:
            return raised
        return None

    raised = await asyncio.to_thread(start)
    assert type(raised) is error and getattr(raised, "param", None) == param
    assert "HTTP" not in str(raised)
    assert library_frames(raised.__traceback__) == ["run_backtest"]
    assert raised.__suppress_context__
    request = {"strategy": strategy, "params": params or {}, "data": data, **settings}
    if isinstance(data, str):
        request["data"] = {"path": data}
    reply = await jp_fetch(
        "api", "v1", "backtest", "run", method="POST", body=json.dumps(request), raise_error=False
    )
    assert reply.code == 400 and json.loads(reply.body)["message"] == str(raised)
    assert (await get_json(jp_fetch, "api", "v1", "backtest"))["runs"] == []


async def test_a_notebook_strategy_runs_in_the_kernel_and_is_published(server, jp_fetch):
    run = qm.run_backtest(SAMPLE, momentum, {"lookback": 30}, display=False)
    assert run.where == "kernel"
    assert server.url in run.widget.header.value
    result = await run
    kernel_sink().flush()
    stored = await get_json(jp_fetch, "api", "v1", "backtest", run.backtest_id)
    assert stored["origin"] == "kernel" and stored["status"] == "completed"
    assert stored["request"]["strategy"] == "momentum"
    assert stored["request"]["params"] == {"lookback": 30}
    assert stored["result"]["total_trades"] == result.metrics["total_trades"]
    events = await get_json(jp_fetch, "api", "v1", "backtest", run.backtest_id, "events")
    assert [e["seq"] for e in events["events"]] == list(range(1, stored["last_seq"] + 1))
    assert stored["last_seq"] == run.widget.view.last_seq


async def test_a_cancel_asked_on_the_server_stops_a_kernel_run(server, jp_fetch):
    run = qm.run_backtest({"sample": "gbm", "bars": 200_000}, Slow, display=False)
    for _ in range(100):
        await asyncio.sleep(0.1)
        reply = await jp_fetch(
            "api", "v1", "backtest", run.backtest_id, raise_error=False, method="GET"
        )
        if reply.code == 200:
            break
    await jp_fetch("api", "v1", "backtest", run.backtest_id, "cancel", method="POST", body="")
    with pytest.raises(BacktestCancelled):
        await run
    kernel_sink().flush()
    stored = await get_json(jp_fetch, "api", "v1", "backtest", run.backtest_id)
    assert stored["status"] == "cancelled"


async def test_watch_follows_a_run_started_over_rest(server, jp_fetch):
    body = {"strategy": "rsi_reversion", "data": {"sample": "gbm", "bars": 50_000, "seed": 5}}
    reply = await jp_fetch("api", "v1", "backtest", "run", method="POST", body=json.dumps(body))
    backtest_id = json.loads(reply.body)["backtest_id"]
    run = await asyncio.to_thread(qm.watch, backtest_id, display=False)
    result = await run
    stored = await get_json(jp_fetch, "api", "v1", "backtest", backtest_id)
    assert (
        result.metrics == without_curve(stored["result"])
        and len(result.trades) == stored["result"]["total_trades"]
    )
    again = await asyncio.to_thread(qm.watch, backtest_id, display=False)
    await again
    assert again.widget.view.last_seq == stored["last_seq"]
    with pytest.raises(KeyError):
        await asyncio.to_thread(qm.watch, "no-such-run", display=False)


async def test_a_hand_written_loop_reaches_the_server_and_a_watcher(server, jp_fetch):
    logger, streamer = setup_backtest_logging("hand-loop-1", kernel_sink())
    await streamer.start(strategy="mine", params={}, total_bars=3)
    run = await asyncio.to_thread(qm.watch, "hand-loop-1", display=False)
    logger.info("bar 1")
    await streamer.update_progress(progress=100.0, bars_processed=3, total_bars=3, equity=1.0)
    await streamer.complete(final_balance=1.0, total_trades=0)
    result = await run
    assert result.metrics["final_balance"] == 1.0
    kernel_sink().flush()
    events = await get_json(jp_fetch, "api", "v1", "backtest", "hand-loop-1", "events")
    types = [e["type"] for e in events["events"]]
    assert types == ["backtest_start", "log_entry", "backtest_progress", "backtest_complete"]


async def test_the_follower_resumes_after_a_dropped_connection(server, jp_fetch):
    body = {"strategy": "sma_crossover_bars", "data": {"sample": "gbm", "bars": 300_000}}
    reply = await jp_fetch("api", "v1", "backtest", "run", method="POST", body=json.dumps(body))
    backtest_id = json.loads(reply.body)["backtest_id"]
    seen: list[Event] = []
    ended = asyncio.Event()
    loop = asyncio.get_running_loop()
    follower = ServerFollower(
        server,
        backtest_id,
        on_event=seen.append,
        on_end=lambda: loop.call_soon_threadsafe(ended.set),
        on_give_up=lambda error: loop.call_soon_threadsafe(ended.set),
    )
    follower.start()
    while len(seen) < 3:
        await asyncio.sleep(0.01)
    follower._loop.call_soon_threadsafe(follower._connection.close)  # the network drops
    await asyncio.wait_for(ended.wait(), 60)
    stored = await get_json(jp_fetch, "api", "v1", "backtest", backtest_id)
    assert [event.seq for event in seen] == list(range(1, stored["last_seq"] + 1))
    assert seen[-1].type == "backtest_complete"

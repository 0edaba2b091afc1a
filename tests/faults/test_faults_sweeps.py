"""Sweeps against a real multi-process Dask cluster started with the ``dask scheduler`` and
``dask worker`` commands, through a real ``jupyter server`` subprocess and real WebSockets:
a worker SIGKILLed mid-sweep, the scheduler lost, a strategy that raises, a server restart."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

import pytest
from dask_cli import DaskCLICluster

from qm_jupyter.sweep_spec import scalar_metrics

SWEEP_TERMINAL = {"sweep_complete", "sweep_error", "sweep_cancelled"}
SLOW_DATA = {"sample": "gbm", "bars": 40_000, "seed": 3, "freq": "1h"}
#: Trials of about a second: a worker is killed in the middle of one.
LONG_DATA = {**SLOW_DATA, "bars": 600_000}
SLOW_GRID = {"fast": [5, 10], "slow": [20, 30, 40]}
PICKY = '''
from qm_jupyter.engine import Param, VectorStrategy

class Picky(VectorStrategy):
    """Raises for odd n."""
    name = "picky"
    n = Param(5, min=1, max=100)

    def signals(self, data):
        if self.n % 2:
            raise ValueError(f"odd n {self.n}")
        close = data["close"]
        return (close > close.shift(self.n)).to_numpy(dtype=float)
'''


@pytest.fixture
def dask_cluster(tmp_path):
    cluster = DaskCLICluster(tmp_path)
    cluster.start()
    yield cluster
    cluster.stop()


def on_cluster(cluster: DaskCLICluster, *extra: str) -> tuple[str, ...]:
    return (f"--QuantMindExtension.dask_scheduler_address={cluster.address}", *extra)


async def sweep_stream(server, sweep_id: str, since: int = 0):
    client = await server.connect()
    await client.send({"type": "subscribe", "topic": "sweep", "sweep_id": sweep_id, "since": since})
    assert (await client.receive())["type"] == "subscribed"
    return client


async def until_terminal(client, events: list[dict[str, Any]] | None = None) -> list[dict]:
    events = [] if events is None else events
    while (event := await client.receive(90))["type"] not in SWEEP_TERMINAL:
        events.append(event)
    events.append(event)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    return events


def trials_of(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["data"] for e in events if e["type"] == "sweep_trial"]


async def test_a_worker_killed_mid_sweep_has_its_trial_retried_once(serve, dask_cluster):
    server = serve(*on_cluster(dask_cluster))
    accepted = server.post(
        "api/v1/sweep/run",
        {"strategy": "sma_crossover_bars", "data": LONG_DATA, "grid": SLOW_GRID},
    )
    client = await sweep_stream(server, accepted["sweep_id"])
    deadline = time.monotonic() + 60
    while (pid := dask_cluster.busy_worker_pid()) is None:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
    events = await until_terminal(client)
    assert events[-1]["type"] == "sweep_complete", events[-1]
    trials = trials_of(events)
    assert len(trials) == 6 and len({t["backtest_id"] for t in trials}) == 6
    assert all(t["status"] == "completed" for t in trials), trials
    retried = [t for t in trials if t["attempt"] == 2]
    assert len(retried) == 1, trials
    run = await server.wait_until_done(
        server.post(
            "api/v1/backtest/run",
            {"strategy": "sma_crossover_bars", "params": retried[0]["params"], "data": LONG_DATA},
        )["backtest_id"]
    )
    single = scalar_metrics(run["result"])
    assert {**retried[0]["metrics"], "duration": 0} == {**single, "duration": 0}
    trial_run = server.get(f"api/v1/backtest/{retried[0]['backtest_id']}/events")
    messages = [e["data"].get("message", "") for e in trial_run["events"]]
    assert any("attempt 2" in message for message in messages)


async def test_the_scheduler_lost_mid_sweep_ends_it_with_its_finished_trials(serve, dask_cluster):
    server = serve(*on_cluster(dask_cluster, "--QuantMindExtension.dask_connect_timeout=2"))
    accepted = server.post(
        "api/v1/sweep/run",
        {"strategy": "sma_crossover_bars", "data": SLOW_DATA,
         "grid": {"fast": [5, 10], "slow": [20, 30, 40, 50, 60, 70]}},
    )  # fmt: skip
    client = await sweep_stream(server, accepted["sweep_id"])
    events = []
    while len(trials_of(events)) < 2:
        events.append(await client.receive(90))
    dask_cluster.scheduler.send_signal(signal.SIGKILL)
    events = await until_terminal(client, events)
    end = events[-1]
    assert end["type"] == "sweep_error" and end["data"]["error_type"] == "SchedulerLost"
    assert dask_cluster.address in end["data"]["error"]
    sweep = server.get(f"api/v1/sweep/{accepted['sweep_id']}")
    assert sweep["status"] == "failed" and sweep["counts"]["completed"] >= 2
    assert len(sweep["trials"]) == len(trials_of(events))
    run = server.post("api/v1/backtest/run", {"strategy": "sma_crossover", "data": SLOW_DATA})
    assert (await server.wait_until_done(run["backtest_id"]))["status"] == "completed"


async def test_an_unreachable_scheduler_fails_the_sweep_and_single_runs_go_on(serve):
    address = "tcp://127.0.0.1:9"
    server = serve(
        f"--QuantMindExtension.dask_scheduler_address={address}",
        "--QuantMindExtension.dask_connect_timeout=1",
    )
    accepted = server.post(
        "api/v1/sweep/run",
        {"strategy": "sma_crossover", "data": SLOW_DATA, "grid": {"fast": [5, 10]}},
    )
    events = await until_terminal(await sweep_stream(server, accepted["sweep_id"]))
    end = events[-1]["data"]
    assert events[-1]["type"] == "sweep_error" and end["error_type"] == "SchedulerUnreachable"
    assert f"cannot reach the Dask scheduler at {address}" in end["error"]
    run = server.post("api/v1/backtest/run", {"strategy": "sma_crossover", "data": SLOW_DATA})
    assert (await server.wait_until_done(run["backtest_id"]))["status"] == "completed"


async def test_trials_whose_strategy_raises_fail_and_the_sweep_completes(serve, dask_cluster):
    server = serve(*on_cluster(dask_cluster), strategies={"picky.py": PICKY})
    accepted = server.post(
        "api/v1/sweep/run",
        {"strategy": "picky", "data": {**SLOW_DATA, "bars": 3000}, "grid": {"n": [2, 3, 4, 5]}},
    )
    events = await until_terminal(await sweep_stream(server, accepted["sweep_id"]))
    assert events[-1]["type"] == "sweep_complete"
    by_n = {t["params"]["n"]: t for t in trials_of(events)}
    assert {n: t["status"] for n, t in by_n.items()} == {
        2: "completed",
        3: "failed",
        4: "completed",
        5: "failed",
    }
    assert by_n[3]["error"] == "odd n 3" and by_n[3]["metrics"] is None
    assert events[-1]["data"]["counts"]["failed"] == 2


async def test_a_sweep_running_at_restart_ends_as_sweep_error_with_its_trials(serve, dask_cluster):
    server = serve(*on_cluster(dask_cluster))
    accepted = server.post(
        "api/v1/sweep/run",
        {"strategy": "sma_crossover_bars", "data": SLOW_DATA,
         "grid": {"fast": [5, 10], "slow": [20, 30, 40, 50, 60, 70]}},
    )  # fmt: skip
    client = await sweep_stream(server, accepted["sweep_id"])
    events = []
    while not trials_of(events):
        events.append(await client.receive(90))
    server.stop(signal.SIGKILL)
    server.start()
    sweep = server.get(f"api/v1/sweep/{accepted['sweep_id']}")
    assert sweep["status"] == "failed" and sweep["error"]["error_type"] == "ServerRestarted"
    assert sweep["counts"]["completed"] >= 1 and sweep["trials"][0] == trials_of(events)[0]
    replay = await until_terminal(await sweep_stream(server, accepted["sweep_id"]))
    assert replay[: len(events)] == events and replay[-1]["type"] == "sweep_error"

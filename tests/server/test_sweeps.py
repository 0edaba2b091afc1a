"""Sweeps through a real Jupyter server and real WebSockets, on the embedded local Dask
cluster (worker processes) started on first use."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import psutil
import pytest
from sweep_helpers import (
    SWEEP_TERMINAL,
    metrics_of_single_run,
    read_sweep,
    start_sweep,
    without_duration,
)

from qm_jupyter.jobs import SUMMARY_CURVE_COLUMNS

DATA = {"sample": "gbm", "bars": 3000, "seed": 11, "freq": "1h"}


@pytest.fixture
def qm_config() -> dict[str, Any]:
    return {"workers": 1, "cancel_grace": 1.0, "dask_workers": 2}


def embedded_cluster_workers() -> list[psutil.Process]:
    """The Dask worker processes of the embedded cluster this test's server started (the
    server runs in this process; a server of another test's, in a process of its own, may
    have a cluster too, a grandchild of this one)."""
    (cluster,) = [
        p
        for p in psutil.Process().children()
        if "qm_jupyter.server.sweeps.local_cluster" in p.cmdline()
    ]
    return [p for p in cluster.children(recursive=True) if "spawn_main" in " ".join(p.cmdline())]


async def test_a_grid_sweep_streams_every_trial_once_and_matches_single_runs(
    api, stream, start_run, wait_until_done
):
    body = {
        "strategy": "sma_crossover",
        "data": DATA,
        "grid": {"fast": [5, 10, 30], "slow": {"start": 20, "stop": 40, "step": 10}},
        "maximize": "sharpe_ratio",
        "commission": 0.001,
    }
    sweep_id, accepted = await start_sweep(api, body)
    assert accepted == {"sweep_id": sweep_id, "status": "running", "total_trials": 9}
    client = await stream()
    events = await read_sweep(client, sweep_id)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert {e["sweep_id"] for e in events} == {sweep_id}
    assert events[0]["type"] == "sweep_start" and events[0]["data"]["total_trials"] == 9
    end = events[-1]
    assert end["type"] == "sweep_complete", end
    trials = [e["data"] for e in events if e["type"] == "sweep_trial"]
    assert len(trials) == 9
    combos = sorted((t["params"]["fast"], t["params"]["slow"]) for t in trials)
    assert combos == sorted((f, s) for f in (5, 10, 30) for s in (20, 30, 40))
    skipped = [t for t in trials if t["status"] == "skipped"]
    assert sorted(t["params"]["slow"] for t in skipped) == [20, 30]  # fast 30 >= slow
    assert all(t["backtest_id"] is None and "fast" in t["error"] for t in skipped)
    done = [t for t in trials if t["status"] == "completed"]
    assert len(done) == 7
    assert end["data"]["counts"] == {
        "total": 9,
        "completed": 7,
        "failed": 0,
        "cancelled": 0,
        "skipped": 2,
    }
    assert all(t["attempt"] == 1 and t["worker"].startswith("tcp://127.0.0.1") for t in done)
    best = max(done, key=lambda t: t["metrics"]["sharpe_ratio"])
    assert end["data"]["best"]["backtest_id"] == best["backtest_id"]
    progress = [e["data"] for e in events if e["type"] == "sweep_progress"]
    assert progress and {p["workers"] for p in progress} == {2}  # the cluster's threads
    # The embedded cluster's workers take only CPU time nothing else wants (the idle class).
    workers = embedded_cluster_workers()
    assert len(workers) == 2
    for worker in workers:
        assert {os.sched_getscheduler(t.id) for t in worker.threads()} == {os.SCHED_IDLE}

    for trial in done:  # every trial's metrics equal a single run of the same params
        single = await metrics_of_single_run(
            start_run, wait_until_done, data=DATA, params=trial["params"], commission=0.001
        )
        assert without_duration(trial["metrics"]) == without_duration(single)

    # Runs listed apart from trials: ?sweep_id=none the single runs, ?sweep_id=<id> the trials.
    _, own = await api("GET", "api", "v1", "backtest", sweep_id="none")
    assert len(own["runs"]) == len(done) and all(r["sweep_id"] is None for r in own["runs"])
    _, listed = await api("GET", "api", "v1", "backtest", sweep_id=sweep_id)
    assert sorted(r["backtest_id"] for r in listed["runs"]) == sorted(
        t["backtest_id"] for t in done
    )

    status, described = await api("GET", "api", "v1", "sweep", sweep_id)
    assert status == 200 and described["status"] == "completed"
    assert described["trials"] == trials and described["best"] == end["data"]["best"]
    assert described["counts"] == end["data"]["counts"]
    assert described["grid"] == {"fast": [5, 10, 30], "slow": [20, 30, 40]}

    status, listing = await api("GET", "api", "v1", "sweep", limit="1")
    assert status == 200 and [s["sweep_id"] for s in listing["sweeps"]] == [sweep_id]

    # Each trial is a run of its own, listed with its sweep, and on /ws like any run.
    trial_id = done[0]["backtest_id"]
    _, run = await api("GET", "api", "v1", "backtest", trial_id)
    assert run["sweep_id"] == sweep_id and run["status"] == "completed"
    # A summary trial keeps its stats and a coarser curve, not its chart (hundreds of KB per
    # trial): a single run of the same params has up to 1,002 points of its 3,000 bars.
    assert run["result"]["stats"] and "chart" not in run["result"]
    assert 100 < len(run["result"]["equity_curve"]) <= 2 * SUMMARY_CURVE_COLUMNS + 4 < 1_000
    await client.send({"type": "subscribe", "topic": "backtest", "backtest_id": trial_id})
    assert (await client.receive())["type"] == "subscribed"
    run_events = await client.events_until_terminal()
    assert [e["type"] for e in run_events] == ["backtest_start", "backtest_complete"]

    # Lossless resume from any seq.
    resumed = await stream()
    await resumed.send({"type": "subscribe", "topic": "sweep", "sweep_id": sweep_id, "since": 5})
    assert (await resumed.receive())["type"] == "subscribed"
    tail = [await resumed.receive() for _ in range(len(events) - 5)]
    assert tail == events[5:]


async def test_tpe_and_random_are_reproducible_with_a_seed_and_cancel_stops_a_sweep(api, stream):
    grid = {
        "fast": {"start": 2, "stop": 20, "step": 2},
        "slow": {"start": 25, "stop": 60, "step": 5},
    }
    picked = []
    for method in ("random", "random", "tpe"):
        body = {
            "strategy": "sma_crossover",
            "data": DATA,
            "grid": grid,
            "method": method,
            "max_trials": 6,
            "seed": 5,
            "minimize": "max_drawdown",
        }
        sweep_id, accepted = await start_sweep(api, body)
        assert accepted["total_trials"] == 6
        events = await read_sweep(await stream(), sweep_id)
        assert events[-1]["type"] == "sweep_complete"
        trials = [e["data"] for e in events if e["type"] == "sweep_trial"]
        assert len(trials) == 6
        picked.append(sorted(tuple(t["params"].values()) for t in trials))
    assert picked[0] == picked[1]

    body = {
        "strategy": "sma_crossover_bars",
        "data": {**DATA, "bars": 20_000},
        "grid": grid,
        "method": "grid",
        "trial_events": "full",
    }
    sweep_id, _ = await start_sweep(api, body)
    client = await stream()
    await client.send({"type": "subscribe", "topic": "sweep", "sweep_id": sweep_id})
    assert (await client.receive())["type"] == "subscribed"
    while (await client.receive())["type"] != "sweep_trial":
        pass
    loop = asyncio.get_running_loop()
    asked = loop.time()
    status, reply = await api("POST", "api", "v1", "sweep", sweep_id, "cancel")
    assert status == 202 and reply["status"] == "cancelling"
    while (event := await client.receive())["type"] not in SWEEP_TERMINAL:
        pass
    assert event["type"] == "sweep_cancelled" and loop.time() - asked < 2.0
    counts = event["data"]["counts"]
    assert counts["completed"] >= 1 and counts["completed"] + counts["cancelled"] < 80
    status, _ = await api("POST", "api", "v1", "sweep", sweep_id, "cancel")
    assert status == 409


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"strategy": "nope"}, "strategy"),
        ({"grid": {}}, "grid"),
        ({"grid": {"fast": []}}, "grid.fast"),
        ({"grid": {"nope": [1]}}, "grid.nope"),
        ({"grid": {"fast": {"start": 2, "stop": 9, "step": 0}}}, "grid.fast.step"),
        ({"grid": {"fast": {"start": 2, "stop": 50_000, "step": 1}}}, "grid.fast"),
        ({"maximize": "beauty"}, "maximize"),
        ({"method": "tpe"}, "max_trials"),
        ({"max_trials": 1}, "max_trials"),
        ({"trial_events": "some"}, "trial_events"),
    ],
)
async def test_bad_sweep_requests_name_the_field(api, change, field):
    body = {"strategy": "sma_crossover", "data": DATA, "grid": {"fast": [5, 10]}, **change}
    status, reply = await api("POST", "api", "v1", "sweep", "run", body=body)
    assert status == 400 and reply["field"] == field, reply
    if field == "maximize":
        assert "sharpe_ratio" in reply["message"]

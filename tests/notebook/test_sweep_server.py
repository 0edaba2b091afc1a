"""qm.sweep against a real Jupyter server with the extension (pytest-jupyter): a built-in
strategy sweeps through the server's sweep API (its embedded Dask cluster, one worker
here); a notebook strategy is driven by the kernel, its trials published as kernel runs.

As in test_server_mode, the server runs on this test's loop: the kernel side's blocking
REST calls run in threads.
"""

from __future__ import annotations

import asyncio

import pytest
from nb_helpers import SAMPLE
from test_server_mode import get_json, momentum
from test_server_mode import server as server  # a fixture

import qm_jupyter as qm
from qm_jupyter.engine import DataError, ParamError, load_prices
from qm_jupyter.engine import run_backtest as engine_run
from qm_jupyter.notebook import sweep_kernel
from qm_jupyter.notebook.kernel_sink import kernel_sink

GRID = {"fast": [5, 10, 20], "slow": {"start": 10, "stop": 30, "step": 10}}


@pytest.fixture
def jp_server_config(tmp_path):
    return {
        "ServerApp": {"jpserver_extensions": {"qm_jupyter": True}},
        "QuantMindExtension": {
            "db_path": str(tmp_path / "runs.sqlite"),
            "workers": 1,
            "dask_workers": 1,
        },
    }


@pytest.fixture(autouse=True)
def one_worker(monkeypatch):
    """A kernel's own cluster, if it starts one: one worker process."""
    monkeypatch.setattr(sweep_kernel, "LOCAL_WORKERS", 1)


def assert_single_runs(result, strategy, data) -> None:
    completed = result.trials[result.trials["status"] == "completed"]
    assert len(completed) > 0
    for _, row in completed.iterrows():
        single = engine_run(data, strategy, {name: row[name] for name in result.grid}).metrics
        for key, value in single.items():
            if key != "duration":
                assert row[key] == pytest.approx(value, nan_ok=True), key


async def test_a_builtin_strategy_sweeps_on_the_server(server, jp_fetch):
    sweep = await asyncio.to_thread(
        qm.sweep, SAMPLE, "sma_crossover", GRID, maximize="total_return", display=False
    )
    assert sweep.where == "server"
    result = await sweep
    assert result.status == "completed" and result.sweep_id == sweep.sweep_id
    stored = await get_json(jp_fetch, "api", "v1", "sweep", sweep.sweep_id)
    assert stored["status"] == "completed"
    assert result.counts == stored["counts"] and result.counts["skipped"] == 3
    assert result.best == stored["best"]
    assert result.grid == {"fast": [5, 10, 20], "slow": [10, 20, 30]}
    assert sorted(result.trials["backtest_id"].dropna()) == sorted(
        t["backtest_id"] for t in stored["trials"] if t["backtest_id"]
    )
    assert_single_runs(result, "sma_crossover", SAMPLE)
    assert result.heatmap("fast", "slow").shape == (3, 3)
    assert len(result.heatmap_series()) == 6
    trial = await get_json(jp_fetch, "api", "v1", "backtest", result.best["backtest_id"])
    assert trial["sweep_id"] == sweep.sweep_id and trial["status"] == "completed"


@pytest.mark.parametrize(
    ("data", "grid", "options", "error", "field"),
    [
        (SAMPLE, {"speed": [1]}, {}, ParamError, "grid.speed"),
        (SAMPLE, GRID, {"maximize": "profit"}, ParamError, "maximize"),
        (SAMPLE, GRID, {"method": "tpe"}, ParamError, "max_trials"),
        ({"sample": "gbm", "bars": 0}, GRID, {}, DataError, None),
    ],
)
async def test_a_refusal_raises_the_engines_error_as_a_kernel_sweep_does(
    server, jp_fetch, data, grid, options, error, field
):
    def start():
        try:
            qm.sweep(data, "sma_crossover", grid, display=False, **options)
        except ValueError as raised:
            return raised
        return None

    raised = await asyncio.to_thread(start)
    assert type(raised) is error and getattr(raised, "param", None) == field
    assert "HTTP" not in str(raised)
    assert (await get_json(jp_fetch, "api", "v1", "sweep"))["sweeps"] == []


async def test_cancel_stops_a_server_sweep_and_keeps_its_finished_trials(server, jp_fetch):
    data = {"sample": "gbm", "bars": 20_000, "seed": 4}
    grid = {"fast": list(range(2, 22)), "slow": [50]}
    sweep = await asyncio.to_thread(qm.sweep, data, "sma_crossover_bars", grid, display=False)
    for _ in range(600):
        if sweep.state.counts.get("completed"):
            break
        await asyncio.sleep(0.05)
    assert await asyncio.to_thread(sweep.cancel)
    result = await asyncio.wait_for(asyncio.wrap_future(sweep._future), 10)
    assert result.status == "cancelled"
    assert 1 <= result.counts["completed"] < 20
    stored = await get_json(jp_fetch, "api", "v1", "sweep", sweep.sweep_id)
    assert stored["status"] == "cancelled"


async def test_a_notebook_strategy_sweeps_from_the_kernel_and_its_trials_are_published(
    server, jp_fetch
):
    sweep = qm.sweep(SAMPLE, momentum, {"lookback": [5, 20, 40]}, display=False)
    assert sweep.where == "kernel"
    result = await sweep
    assert result.status == "completed" and result.counts["completed"] == 3
    assert_single_runs(result, momentum, SAMPLE)
    kernel_sink().flush()
    for _, trial in result.trials.iterrows():
        stored = await get_json(jp_fetch, "api", "v1", "backtest", trial["backtest_id"])
        assert stored["origin"] == "kernel" and stored["status"] == "completed"
        assert stored["request"]["strategy"] == "momentum"
        assert stored["request"]["params"] == {"lookback": trial["lookback"]}
        assert stored["request"]["sweep_id"] == sweep.sweep_id
        assert stored["result"]["total_trades"] == trial["total_trades"]
        events = await get_json(jp_fetch, "api", "v1", "backtest", trial["backtest_id"], "events")
        types = [event["type"] for event in events["events"]]
        assert types[0] == "backtest_start" and types[-1] == "backtest_complete"


async def test_a_kernel_sweep_runs_on_the_servers_cluster_and_is_published_as_a_sweep(
    server, jp_fetch, jp_serverapp
):
    sweep = qm.sweep(SAMPLE, momentum, {"lookback": [5, 20, 40]}, display=False)
    result = await sweep
    assert result.status == "completed" and result.counts["completed"] == 3
    cluster = jp_serverapp.web_app.settings["qm_jupyter_service"].sweeps.cluster
    workers = set((await (await cluster.client()).scheduler.identity())["workers"])
    assert workers and set(result.trials["worker"]) <= workers  # the server's, not its own
    kernel_sink().flush()
    stored = await get_json(jp_fetch, "api", "v1", "sweep", sweep.sweep_id)
    assert stored["origin"] == "kernel" and stored["status"] == "completed"
    assert stored["counts"] == result.counts and stored["best"] == result.best
    trial_ids = set(result.trials["backtest_id"])
    assert {t["backtest_id"] for t in stored["trials"]} == trial_ids
    runs = (await get_json(jp_fetch, "api", "v1", "backtest"))["runs"]
    assert {r["sweep_id"] for r in runs if r["backtest_id"] in trial_ids} == {sweep.sweep_id}


async def test_a_kernel_sweep_cancelled_over_rest_stops_and_keeps_its_finished_trials(
    server, jp_fetch
):
    prices = load_prices({"sample": "gbm", "bars": 20_000, "seed": 4})
    grid = {"fast": list(range(2, 22)), "slow": [50]}
    sweep = qm.sweep(prices, "sma_crossover_bars", grid, display=False)
    assert sweep.where == "kernel"
    for _ in range(600):
        if sweep.state.counts.get("completed"):
            break
        await asyncio.sleep(0.05)
    reply = await jp_fetch("api", "v1", "sweep", sweep.sweep_id, "cancel", method="POST", body="{}")
    assert reply.code == 202
    result = await asyncio.wait_for(asyncio.wrap_future(sweep._future), 20)
    assert result.status == "cancelled"
    assert 1 <= result.counts["completed"] < 20
    stored = await get_json(jp_fetch, "api", "v1", "sweep", sweep.sweep_id)
    assert stored["status"] == "cancelled" and stored["origin"] == "kernel"

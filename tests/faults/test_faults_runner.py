"""Worker faults against a real server: killed workers, exiting and spinning strategies, a burst.

User strategies come from ``root_dir/strategies/*.py`` (``QuantMindExtension.strategies_dir``),
written before the server starts.
"""

from __future__ import annotations

import asyncio
import os
import signal

from qm_servers import SUB, TERMINAL, worker_pids

LONG_RUN = {
    "strategy": "sma_crossover_bars",
    "params": {"fast": 10, "slow": 20},
    "data": {"sample": "gbm", "bars": 3_000_000, "seed": 1, "freq": "1min"},
}
SMALL_RUN = {
    "strategy": "sma_crossover",
    "params": {"fast": 5, "slow": 20},
    "data": {"sample": "gbm", "bars": 2_000, "seed": 3, "freq": "1min"},
}
BAD_STRATEGIES = {
    "bad_strategies.py": """
        import os

        from qm_jupyter.engine import Strategy, VectorStrategy


        class ExitsTheProcess(VectorStrategy):
            '''Ends its worker process while computing signals.'''

            name = "exits_the_process"

            def signals(self, data):
                os._exit(3)


        class SpinsForever(Strategy):
            '''Never returns from its first bar and never checks for cancellation.'''

            name = "spins_forever"

            def next(self):
                while True:
                    pass
    """
}


async def _follow(server, backtest_id: str):
    client = await server.connect()
    await client.send({**SUB, "backtest_id": backtest_id})
    assert (await client.receive())["type"] == "subscribed"
    return client


async def _until(client, event_type: str) -> list[dict]:
    events = []
    while True:
        events.append(await client.receive())
        if events[-1]["type"] in (event_type, *TERMINAL):
            return events


async def _pool_recovers(server, old_pids: list[int]) -> None:
    """A new run completes on a worker that replaced the lost one."""
    run = server.post("api/v1/backtest/run", SMALL_RUN)
    finished = await server.wait_until_done(run["backtest_id"])
    assert finished["status"] == "completed", finished
    new_pids = worker_pids(server.process.pid)
    assert len(new_pids) == len(old_pids)
    assert set(new_pids) != set(old_pids)


async def test_a_worker_killed_mid_run_fails_the_run_and_is_replaced(serve):
    server = serve("--QuantMindExtension.workers=1")
    pids = worker_pids(server.process.pid)
    assert len(pids) == 1
    backtest_id = server.post("api/v1/backtest/run", LONG_RUN)["backtest_id"]
    client = await _follow(server, backtest_id)
    assert (await _until(client, "backtest_progress"))[-1]["type"] == "backtest_progress"

    os.kill(pids[0], signal.SIGKILL)
    events = await client.events_until_terminal()
    end = events[-1]
    assert end["type"] == "backtest_error"
    assert end["data"]["error_type"] == "WorkerDied"
    assert "worker process" in end["data"]["error"] and "-9" in end["data"]["error"]
    run = server.get(f"api/v1/backtest/{backtest_id}")
    assert run["status"] == "failed" and run["error"]["error_type"] == "WorkerDied"
    await _pool_recovers(server, pids)


async def test_a_strategy_that_exits_its_process_fails_the_run(serve):
    server = serve("--QuantMindExtension.workers=1", strategies=BAD_STRATEGIES)
    pids = worker_pids(server.process.pid)
    run = server.post(
        "api/v1/backtest/run", {**SMALL_RUN, "strategy": "exits_the_process", "params": {}}
    )
    client = await _follow(server, run["backtest_id"])
    events = await client.events_until_terminal()
    assert events[-1]["type"] == "backtest_error"
    assert events[-1]["data"]["error_type"] == "WorkerDied"
    assert "exit code 3" in events[-1]["data"]["error"]
    await _pool_recovers(server, pids)


async def test_a_strategy_that_spins_forever_is_cancelled(serve):
    server = serve(
        "--QuantMindExtension.workers=1",
        "--QuantMindExtension.cancel_grace=1",
        strategies=BAD_STRATEGIES,
    )
    pids = worker_pids(server.process.pid)
    run = server.post(
        "api/v1/backtest/run", {**SMALL_RUN, "strategy": "spins_forever", "params": {}}
    )
    client = await _follow(server, run["backtest_id"])
    assert (await _until(client, "backtest_start"))[-1]["type"] == "backtest_start"
    # A run waiting behind the stuck one must get its turn after the cancel.
    queued = server.post("api/v1/backtest/run", SMALL_RUN)
    assert queued["status"] == "queued"

    reply = server.post(f"api/v1/backtest/{run['backtest_id']}/cancel")
    assert reply == {"backtest_id": run["backtest_id"], "status": "cancelling"}
    events = await client.events_until_terminal()
    assert events[-1]["type"] == "backtest_cancelled"
    assert events[-1]["data"]["bars_processed"] == 0
    assert server.get(f"api/v1/backtest/{run['backtest_id']}")["status"] == "cancelled"
    assert (await server.wait_until_done(queued["backtest_id"]))["status"] == "completed"
    await _pool_recovers(server, pids)


async def test_twenty_runs_at_once_on_two_workers_all_complete_in_order(serve):
    server = serve("--QuantMindExtension.workers=2")
    watcher = await server.connect()
    await watcher.send(SUB)
    assert (await watcher.receive())["type"] == "subscribed"

    def submit_all() -> list[dict]:
        return [
            server.post(
                "api/v1/backtest/run",
                {**SMALL_RUN, "data": {**SMALL_RUN["data"], "seed": n, "bars": 2_000 + 100 * n}},
            )
            for n in range(20)
        ]

    replies = await asyncio.to_thread(submit_all)  # the watcher keeps reading meanwhile
    ids = [reply["backtest_id"] for reply in replies]
    assert len(set(ids)) == 20
    assert sum(reply["status"] == "queued" for reply in replies) >= 10

    ended: dict[str, dict] = {}
    starts: list[str] = []
    while len(ended) < 20:
        event = await watcher.receive()
        if event["type"] == "backtest_start":
            starts.append(event["backtest_id"])
        elif event["type"] in TERMINAL:
            ended[event["backtest_id"]] = event
    assert set(ended) == set(ids)
    assert {event["type"] for event in ended.values()} == {"backtest_complete"}
    runs = [server.get(f"api/v1/backtest/{backtest_id}") for backtest_id in ids]
    assert [run["status"] for run in runs] == ["completed"] * 20
    started_at = [run["started_at"] for run in runs]
    assert started_at == sorted(started_at), "runs were dispatched out of submission order"
    assert sorted(starts) == sorted(ids)  # each run started exactly once
    listed = server.get("api/v1/backtest?limit=20")["runs"]
    assert [run["backtest_id"] for run in listed] == ids[::-1]  # newest first, none lost


async def test_a_worker_that_cannot_start_is_replaced_with_growing_delays(
    tmp_path, monkeypatch, caplog
):
    """A broken environment (here: an interpreter that exits at once) must not make the
    server start workers in a busy loop; it says why, and stops cleanly."""
    from types import SimpleNamespace

    from qm_jupyter.server import worker_pool as runner_module
    from qm_jupyter.server.hub import EventHub
    from qm_jupyter.server.store import RunStore

    monkeypatch.setattr(runner_module, "sys", SimpleNamespace(executable="/bin/false"))
    store = RunStore(tmp_path / "runs.sqlite")
    runner = runner_module.BacktestRunner(EventHub(store), workers=1)
    runner.start()
    await asyncio.sleep(2.5)
    await runner.stop()
    store.close()
    # Replaced at once, /bin/false would have been started hundreds of times in 2.5 s; after
    # 0.5, 1 and 2 s (the delays double), at most four times.
    assert 2 <= runner._spawned <= 4
    assert "right after it started, with no run; starting another in 1s" in caplog.text

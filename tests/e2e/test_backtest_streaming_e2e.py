"""End to end: a real ``jupyter server`` process, real WebSockets, a restart, a kill."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import urllib.error
from pathlib import Path

import pytest
from server_process import worker_pids

SUB = {"type": "subscribe", "topic": "backtest"}
RUN = {
    "strategy": "sma_crossover",
    "params": {"fast": 10, "slow": 20},
    "data": {"sample": "gbm", "bars": 200_000, "seed": 11, "freq": "1min"},
    "initial_balance": 10_000,
    "commission": 0.0,
}


def contiguous(events: list[dict]) -> bool:
    return [e["seq"] for e in events] == list(range(1, len(events) + 1))


async def test_stream_resume_and_restart(jupyter_server):
    watcher = await jupyter_server.connect()
    await watcher.send(SUB)
    assert await watcher.receive() == {"type": "subscribed", "topic": "backtest"}

    reply = jupyter_server.post("api/v1/backtest/run", RUN)
    assert reply["status"] in ("running", "queued")
    backtest_id = reply["backtest_id"]

    # A second client follows the run, drops mid-run and resumes from its last seq.
    dropper = await jupyter_server.connect()
    await dropper.send({**SUB, "backtest_id": backtest_id, "since": 0})
    assert (await dropper.receive())["type"] == "subscribed"
    before_drop = [await dropper.receive() for _ in range(4)]
    dropper.close()
    resumed = await jupyter_server.connect()
    await resumed.send({**SUB, "backtest_id": backtest_id, "since": before_drop[-1]["seq"]})
    assert (await resumed.receive())["type"] == "subscribed"
    after_drop = await resumed.events_until_terminal()

    events = await watcher.events_until_terminal()
    assert contiguous(events)
    assert before_drop + after_drop == events
    types = [e["type"] for e in events]
    assert types[0] == "backtest_start" and types[-1] == "backtest_complete"
    assert {"backtest_progress", "log_entry"} <= set(types)
    progress = [e["data"]["progress"] for e in events if e["type"] == "backtest_progress"]
    assert progress == sorted(progress) and progress[-1] == 100.0
    metrics = events[-1]["data"]
    assert metrics["bars"] == 200_000
    assert metrics["total_trades"] > 0
    assert metrics["max_drawdown"] <= 0
    assert isinstance(metrics["sharpe_ratio"], float)
    assert abs(metrics["final_balance"] / 10_000 - 1 - metrics["total_return"]) < 1e-9

    run = jupyter_server.get(f"api/v1/backtest/{backtest_id}")
    stored = jupyter_server.get(f"api/v1/backtest/{backtest_id}/events?since=0")["events"]
    assert stored == events

    jupyter_server.stop()
    jupyter_server.start()
    assert jupyter_server.get(f"api/v1/backtest/{backtest_id}") == run
    assert jupyter_server.get(f"api/v1/backtest/{backtest_id}/events?since=0")["events"] == events
    replay = await jupyter_server.connect()
    await replay.send({**SUB, "backtest_id": backtest_id, "since": 0})
    await replay.receive()
    assert await replay.events_until_terminal() == events


async def test_a_run_in_flight_when_the_server_is_killed_is_marked_failed(jupyter_server):
    small = {**RUN, "data": {**RUN["data"], "bars": 2000}}
    done = jupyter_server.post("api/v1/backtest/run", small)
    finished = await jupyter_server.wait_until_done(done["backtest_id"])
    long_run = jupyter_server.post(
        "api/v1/backtest/run",
        {**RUN, "strategy": "sma_crossover_bars",
         "data": {"sample": "gbm", "bars": 3_000_000, "seed": 1, "freq": "1min"}},
    )["backtest_id"]  # fmt: skip
    client = await jupyter_server.connect()
    await client.send({**SUB, "backtest_id": long_run})
    await client.receive()
    while (await client.receive())["type"] != "backtest_progress":
        pass
    workers = worker_pids(jupyter_server.process.pid)
    assert workers
    jupyter_server.stop(signal.SIGKILL)
    for pid in workers:  # the orphaned workers notice and exit
        await _wait_for_exit(pid)

    with sqlite3.connect(jupyter_server.db_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    jupyter_server.start()
    assert jupyter_server.get(f"api/v1/backtest/{done['backtest_id']}") == finished
    run = jupyter_server.get(f"api/v1/backtest/{long_run}")
    assert run["status"] == "failed"
    assert "server stopped" in run["error"]["error"]
    events = jupyter_server.get(f"api/v1/backtest/{long_run}/events")["events"]
    assert contiguous(events)
    assert events[0]["type"] == "backtest_start" and events[-1]["type"] == "backtest_error"


async def _wait_for_exit(pid: int, timeout: float = 10) -> None:
    for _ in range(int(timeout / 0.05)):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
            return  # exited; its (dead) parent cannot reap it
        await asyncio.sleep(0.05)
    raise AssertionError(f"worker {pid} outlived the server")


def test_requests_without_the_token_are_refused(jupyter_server):
    for method, path in [("GET", "api/v1/backtest"), ("POST", "api/v1/backtest/run")]:
        with pytest.raises(urllib.error.HTTPError) as refused:
            jupyter_server.request(method, path, {} if method == "POST" else None, token="")
        assert refused.value.code == 403


def test_browser_login_cookie_posts_need_the_xsrf_token(jupyter_server):
    """A page served by Jupyter (the IDE) uses the login cookie; its POSTs carry X-XSRFToken."""
    import http.cookiejar
    import json
    import urllib.request

    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    browser.open(f"{jupyter_server.url}quantmind/?token={jupyter_server.token}", timeout=30).read()
    cookies = {cookie.name: cookie.value for cookie in jar}
    assert "_xsrf" in cookies and any(name.startswith("username-") for name in cookies)

    def post(headers: dict) -> int:
        request = urllib.request.Request(
            f"{jupyter_server.url}api/v1/backtest/run",
            data=json.dumps(RUN).encode(),
            method="POST",
            headers=headers,
        )
        try:
            return browser.open(request, timeout=30).status
        except urllib.error.HTTPError as error:
            return error.code

    assert post({}) == 403
    assert post({"X-XSRFToken": "forged"}) == 403
    assert post({"X-XSRFToken": cookies["_xsrf"]}) == 202


def test_the_extension_is_enabled_on_install(tmp_path):
    import subprocess
    import sys

    listing = subprocess.run(
        [sys.executable, "-m", "jupyter_server", "extension", "list"],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(
        line for line in (listing.stdout + listing.stderr).splitlines() if "qm_jupyter" in line
    )
    assert "enabled" in line

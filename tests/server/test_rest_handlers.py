"""The backtest REST API against a real Jupyter server with the extension."""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from qm_jupyter.engine import METRIC_KEYS, run_backtest
from qm_jupyter.engine.stats import stats_to_wire

RUN = ("api", "v1", "backtest", "run")
SAMPLE = {"sample": "gbm", "bars": 100, "seed": 1, "freq": "1min"}


async def test_run_completes_with_metrics_and_stored_events(api, start_run, wait_until_done):
    backtest_id = await start_run()
    run = await wait_until_done(backtest_id)
    assert run["status"] == "completed", run
    assert set(run["result"]) >= set(METRIC_KEYS)
    assert run["result"]["bars"] == 5000
    assert run["progress"]["progress"] == 100.0
    assert run["progress"]["status"] == "completed"  # not the "running" of its last report
    assert run["request"]["params"] == {"fast": 5, "slow": 20}
    assert run["started_at"] <= run["finished_at"]

    status, page = await api("GET", "api", "v1", "backtest", backtest_id, "events")
    assert status == 200
    events = page["events"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "backtest_start"
    assert events[-1]["type"] == "backtest_complete"
    assert page["last_seq"] == len(events) and page["has_more"] is False
    assert {"backtest_progress", "log_entry"} <= {e["type"] for e in events}
    stats = events[-1]["data"]["stats"]  # the stored backtest_complete: strict JSON, snake_case
    assert list(stats)[:3] == ["start", "end", "duration"] and stats["trades"] > 0
    assert all(re.fullmatch("[a-z0-9_]+", key) for key in stats)
    assert stats["short_win_rate_pct"] is None  # a long-only strategy: undefined, not NaN
    json.dumps(stats, allow_nan=False)
    assert run["result"]["stats"] == stats

    _, later = await api("GET", "api", "v1", "backtest", backtest_id, "events", since=3, limit=2)
    assert [e["seq"] for e in later["events"]] == [4, 5]
    assert later["has_more"] is True


async def test_broker_settings_and_conventions_give_the_engines_numbers(
    api, start_run, wait_until_done
):
    """A run with backtesting.py's conventions and broker settings equals the engine's run with
    the same settings: the metrics and the whole stats block."""
    settings = {
        "conventions": "backtesting.py",
        "commission": [1.0, 0.001],
        "spread": 0.0005,
        "margin": 0.5,
        "exclusive_orders": True,
        "finalize_trades": True,
    }
    data = {"sample": "gbm", "bars": 2000, "seed": 3, "freq": "1h"}
    params = {"fast": 5, "slow": 20}
    run = await wait_until_done(await start_run(data=data, params=params, **settings))
    assert run["status"] == "completed", run
    expected = run_backtest(data, "sma_crossover", params, **settings)
    assert run["result"]["stats"] == stats_to_wire(expected.stats)
    for key in ("final_balance", "total_trades", "sharpe_ratio", "max_drawdown"):
        assert run["result"][key] == expected.metrics[key], key
    default = run_backtest(data, "sma_crossover", params)
    assert run["result"]["final_balance"] != default.metrics["final_balance"]
    assert "open_trades" not in run["result"]["stats"]  # backtesting.py's keys only


async def test_list_is_newest_first(api, start_run, wait_until_done):
    first = await start_run()
    second = await start_run(data={"sample": "gbm", "bars": 300, "seed": 1, "freq": "1D"})
    await wait_until_done(first)
    await wait_until_done(second)
    status, reply = await api("GET", "api", "v1", "backtest")
    assert status == 200
    assert [run["backtest_id"] for run in reply["runs"]][:2] == [second, first]
    listed = reply["runs"][0]["result"]
    assert {"equity_curve", "stats", "chart"}.isdisjoint(listed)  # listings stay small
    assert listed["total_trades"] >= 0 and "sharpe_ratio" in listed
    _, one = await api("GET", "api", "v1", "backtest", second)
    assert len(one["result"]["equity_curve"]) == 300
    chart = one["result"]["chart"]  # the run's chart, reduced: 300 bars fit in 300 buckets
    assert len(chart["time"]) == len(chart["close"]) == 300
    assert min(chart["drawdown"]) == one["result"]["max_drawdown"]
    assert chart["trades_total"] == one["result"]["total_trades"]


def _listed(reply: dict) -> list[str]:
    return [run["backtest_id"] for run in reply["runs"]]


async def test_list_filters_sweep_trials_by_sweep_id(api, jp_serverapp):
    extension = jp_serverapp.extension_manager.extension_apps["qm_jupyter"]
    hub = next(iter(extension)).service.hub
    kinds = [None, "sweep-a", "sweep-b", None, "sweep-a"]
    ids = [
        hub.create_run({"strategy": "sma_crossover"}, sweep_id=kind).backtest_id for kind in kinds
    ]

    _, every = await api("GET", "api", "v1", "backtest")
    assert _listed(every) == ids[::-1]
    status, own = await api("GET", "api", "v1", "backtest", sweep_id="none")
    assert status == 200 and _listed(own) == [ids[3], ids[0]]
    assert all(run["sweep_id"] is None for run in own["runs"])
    _, trials = await api("GET", "api", "v1", "backtest", sweep_id="sweep-a")
    assert _listed(trials) == [ids[4], ids[1]]
    assert {run["sweep_id"] for run in trials["runs"]} == {"sweep-a"}
    _, page = await api("GET", "api", "v1", "backtest", sweep_id="sweep-a", limit="1", offset="1")
    assert _listed(page) == [ids[1]]
    status, unknown = await api("GET", "api", "v1", "backtest", sweep_id="no-such-sweep")
    assert status == 200 and unknown["runs"] == []


@pytest.mark.parametrize("bad", ["", "a b", "x" * 129, "sweep/1", "*", "é"])
async def test_list_refuses_a_bad_sweep_id_filter(api, bad):
    status, reply = await api("GET", "api", "v1", "backtest", sweep_id=bad)
    assert status == 400, reply
    assert reply["field"] == "sweep_id"
    assert reply["message"].startswith("sweep_id must be 'none' (runs that are not sweep trials)")


async def test_client_request_id_returns_the_same_run(api, start_run):
    first = await start_run(client_request_id="notebook-cell-7")
    second = await start_run(client_request_id="notebook-cell-7")
    assert first == second
    _, reply = await api("GET", "api", "v1", "backtest")
    assert [run["backtest_id"] for run in reply["runs"]] == [first]


async def test_csv_from_root_dir(api, start_run, wait_until_done, jp_root_dir):
    (jp_root_dir / "data").mkdir()
    rows = ["Date,Open,High,Low,Close,Volume"]
    for hour in range(60):
        price = 100 + (hour % 10) - (hour // 20)
        day, hh = 1 + hour // 24, hour % 24
        rows.append(
            f"2024-01-{day:02d}T{hh:02d}:00,{price},{price + 1},{price - 1},{price + 0.5},1000"
        )
    (jp_root_dir / "data" / "prices.csv").write_text("\n".join(rows))
    backtest_id = await start_run(data={"path": "data/prices.csv"}, params={"fast": 2, "slow": 5})
    run = await wait_until_done(backtest_id)
    assert run["status"] == "completed", run
    assert run["result"]["bars"] == 60


async def test_bad_data_ends_the_run_with_an_error_naming_the_problem(
    api, start_run, wait_until_done, jp_root_dir
):
    (jp_root_dir / "bad.csv").write_text("time,open,high,low\n2024-01-01,1,2,0.5\n")
    backtest_id = await start_run(data={"path": "bad.csv"})
    run = await wait_until_done(backtest_id)
    assert run["status"] == "failed"
    assert "close" in run["error"]["error"]
    assert run["error"]["error_type"] == "DataError"
    # the server keeps serving
    run = await wait_until_done(await start_run())
    assert run["status"] == "completed"


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ("{not json", None, "not valid JSON"),
        ([1, 2], None, "JSON object"),
        ({"strategy": "sma_crossover", "data": {"sample": "gbm", "bars": 10}, "x": 1}, "x", "x"),
        ({"strategy": "nope", "data": {"sample": "gbm", "bars": 10}}, "strategy", "nope"),
        (
            {
                "strategy": "sma_crossover",
                "params": {"fast": 30, "slow": 20},
                "data": {"sample": "gbm", "bars": 100},
            },
            "params.fast",
            "fast",
        ),
        (
            {"strategy": "sma_crossover", "params": {"fats": 3}, "data": {"sample": "gbm"}},
            "params.fats",
            "fats",
        ),
        ({"strategy": "sma_crossover", "data": {"path": "../../etc/passwd"}}, "data", "root"),
        ({"strategy": "sma_crossover", "data": {"path": "missing.csv"}}, "data", "missing.csv"),
        ({"strategy": "sma_crossover", "data": {"sample": "gbm", "bars": -5}}, "data", "bars"),
        ({"strategy": "sma_crossover", "data": "prices.csv"}, "data", "data"),
        (
            {"strategy": "sma_crossover", "data": SAMPLE, "initial_balance": -1},
            "initial_balance",
            "positive",
        ),
        (
            {"strategy": "sma_crossover", "data": SAMPLE, "commission": "1%"},
            "commission",
            "number",
        ),
        (
            {"strategy": "sma_crossover", "data": SAMPLE, "periods_per_year": 0},
            "periods_per_year",
            "positive",
        ),
        (
            {"strategy": "sma_crossover", "data": SAMPLE, "client_request_id": 5},
            "client_request_id",
            "string",
        ),
    ],
)
async def test_bad_requests_name_what_was_wrong(api, body, field, words):
    status, reply = await api("POST", *RUN, body=body)
    assert status == 400, reply
    assert words in reply["message"]
    assert reply.get("field") == field
    _, runs = await api("GET", "api", "v1", "backtest")
    assert runs["runs"] == []


async def test_a_data_file_over_the_size_limit_is_refused(api, jp_root_dir, jp_serverapp):
    (jp_root_dir / "big.csv").write_text("t,open,high,low,close\n" + "2024-01-01,1,1,1,1\n" * 10)
    extension = jp_serverapp.extension_manager.extension_apps["qm_jupyter"]
    app = next(iter(extension))
    app.service.limits = type(app.service.limits)(max_data_file_bytes=50)
    status, reply = await api(
        "POST", *RUN, body={"strategy": "sma_crossover", "data": {"path": "big.csv"}}
    )
    assert status == 400 and "over the limit" in reply["message"]
    assert reply["field"] == "data.path"


async def test_unknown_run_is_404(api):
    for path in [("x1",), ("x1", "events")]:
        status, reply = await api("GET", "api", "v1", "backtest", *path)
        assert status == 404 and "x1" in reply["message"]
    status, reply = await api("POST", "api", "v1", "backtest", "x1", "cancel")
    assert status == 404


async def test_events_arguments_are_checked(api, start_run):
    backtest_id = await start_run()
    status, reply = await api("GET", "api", "v1", "backtest", backtest_id, "events", since="x")
    assert status == 400 and "since" in reply["message"]
    status, reply = await api("GET", "api", "v1", "backtest", backtest_id, "events", since=-1)
    assert status == 400 and "since" in reply["message"]


@pytest.mark.parametrize("qm_config", [{"workers": 1, "cancel_grace": 1.0}])
async def test_cancel_a_running_and_a_queued_run(api, start_run, wait_until_done):
    slow = {"sample": "gbm", "bars": 20_000_000, "seed": 1, "freq": "1min"}
    running = await start_run(strategy="sma_crossover_bars", data=slow)
    status, queued_reply = await api(
        "POST",
        *RUN,
        body={"strategy": "buy_and_hold", "data": {"sample": "gbm", "bars": 100}},
    )
    assert queued_reply["status"] == "queued"
    queued = queued_reply["backtest_id"]

    status, reply = await api("POST", "api", "v1", "backtest", queued, "cancel")
    assert status == 202
    assert (await wait_until_done(queued))["status"] == "cancelled"

    while (await api("GET", "api", "v1", "backtest", running))[1]["progress"] is None:
        await asyncio.sleep(0.1)
    status, reply = await api("POST", "api", "v1", "backtest", running, "cancel")
    assert status == 202 and reply["status"] == "cancelling"
    run = await wait_until_done(running, timeout=10)
    assert run["status"] == "cancelled"
    assert 0 < run["error"]["bars_processed"] < 20_000_000

    status, reply = await api("POST", "api", "v1", "backtest", running, "cancel")
    assert status == 409 and "cancelled" in reply["message"]


async def test_strategies_list_their_parameters(api):
    status, reply = await api("GET", "api", "v1", "strategies")
    assert status == 200
    by_name = {s["name"]: s for s in reply["strategies"]}
    assert {"sma_crossover", "buy_and_hold", "rsi_reversion"} <= set(by_name)
    fast = by_name["sma_crossover"]["params"]["fast"]
    assert fast["type"] == "int" and fast["default"] == 10 and fast["min"] >= 1


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "api/v1/backtest"),
        ("GET", "api/v1/backtest/abc"),
        ("DELETE", "api/v1/backtest/abc"),
        ("GET", "api/v1/backtest/abc/events"),
        ("POST", "api/v1/backtest/run"),
        ("POST", "api/v1/backtest/abc/cancel"),
        ("POST", "api/v1/backtest/abc/events"),
        ("GET", "api/v1/strategies"),
    ],
)
async def test_every_route_refuses_requests_without_credentials(jp_fetch, method, path):
    response = await jp_fetch(
        *path.split("/"),
        method=method,
        body=b"{}" if method == "POST" else None,
        headers={"Authorization": ""},
        raise_error=False,
    )
    assert response.code == 403


async def test_a_wrong_token_is_refused(jp_fetch):
    response = await jp_fetch(
        "api", "v1", "strategies", headers={"Authorization": "token wrong"}, raise_error=False
    )
    assert response.code == 403


async def test_a_kernel_publishes_its_own_run(api, stream):
    path = ("api", "v1", "backtest", "kernel-run-1", "events")
    watcher = await stream()
    await watcher.send({"type": "subscribe", "topic": "backtest"})
    await watcher.receive()
    start = {"type": "backtest_start", "data": {"strategy": "my_notebook_strategy"}}
    status, reply = await api(
        "POST", *path, body={"events": [start], "request": {"strategy": "my_notebook_strategy"}}
    )
    assert status == 200
    assert reply == {"backtest_id": "kernel-run-1", "last_seq": 1, "cancel_requested": False}
    _, run = await api("GET", "api", "v1", "backtest", "kernel-run-1")
    assert run["origin"] == "kernel" and run["status"] == "running"
    assert run["request"] == {"strategy": "my_notebook_strategy"}

    status, reply = await api("POST", "api", "v1", "backtest", "kernel-run-1", "cancel")
    assert status == 202
    log = {"type": "log_entry", "data": {"message": "hi"}, "timestamp": "2026-01-01T00:00:00Z"}
    _, reply = await api("POST", *path, body={"events": [log]})
    assert reply["cancel_requested"] is True and reply["last_seq"] == 2
    _, reply = await api(
        "POST", *path, body={"events": [{"type": "backtest_cancelled", "data": {}}]}
    )
    assert reply["cancel_requested"] is False

    seen = [await watcher.receive() for _ in range(3)]
    assert [(e["seq"], e["type"]) for e in seen] == [
        (1, "backtest_start"),
        (2, "log_entry"),
        (3, "backtest_cancelled"),
    ]
    assert seen[1]["timestamp"] == "2026-01-01T00:00:00Z"

    status, reply = await api("POST", *path, body={"events": [log]})
    assert status == 409 and "already ended" in reply["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"events": []}, "events"),
        ({"nothing": 1}, "events"),
        ({"events": [5]}, "events[0]"),
        ({"events": [{"type": "party"}]}, "events[0].type"),
        ({"events": [{"type": "log_entry", "data": [1]}]}, "events[0].data"),
        ({"events": [{"type": "log_entry", "timestamp": 5}]}, "events[0].timestamp"),
        ({"events": [{"type": "log_entry"}], "request": "x"}, "request"),
        ({"events": [{"type": "log_entry"}], "kernel_id": 7}, "kernel_id"),
    ],
)
async def test_bad_published_events_are_refused(api, body, field):
    status, reply = await api("POST", "api", "v1", "backtest", "k2", "events", body=body)
    assert status == 400 and reply["field"] == field
    status, _ = await api("GET", "api", "v1", "backtest", "k2")
    assert status == 404


async def test_a_run_of_a_kernel_this_server_does_not_have_is_not_watched(api, jp_serverapp):
    """Any client may publish (a script, another server's kernel); only this server's own
    kernels are watched for stopping."""
    body = {"events": [{"type": "log_entry", "data": {}}], "kernel_id": "not-a-kernel-here"}
    status, _ = await api("POST", "api", "v1", "backtest", "k6", "events", body=body)
    assert status == 200
    service = jp_serverapp.web_app.settings["qm_jupyter_service"]
    assert service.end_runs_of_stopped_kernels() == []
    _, run = await api("GET", "api", "v1", "backtest", "k6")
    assert run["status"] == "queued"  # still active: nothing ended it


async def test_cancel_of_a_finished_kernel_run_is_409(api):
    path = ("api", "v1", "backtest", "k3", "events")
    await api("POST", *path, body={"events": [{"type": "backtest_complete", "data": {}}]})
    status, _ = await api("POST", "api", "v1", "backtest", "k3", "cancel")
    assert status == 409


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ('{"events": [{"type": "log_entry", "data": {"pnl": NaN}}]}', "not valid JSON"),
        ('{"events": [{"type": "log_entry", "data": {"pnl": 1e400}}]}', "infinity"),
        ('{"events": [{"type": "log_entry", "data": {"message": "\\ud800"}}]}', "surrogate"),
    ],
)
async def test_json_that_could_not_be_written_back_is_refused(api, raw, words):
    status, reply = await api("POST", "api", "v1", "backtest", "k4", "events", body=raw)
    assert status == 400 and words in reply["message"]
    status, reply = await api("POST", "api", "v1", "backtest", "run", body=raw)
    assert status == 400 and words in reply["message"]


async def test_integers_beyond_64_bits_are_kept_as_numbers(api, stream):
    raw = '{"events": [{"type": "log_entry", "data": {"big": -6799856279438376304640}}]}'
    status, reply = await api("POST", "api", "v1", "backtest", "k5", "events", body=raw)
    assert status == 200 and reply["last_seq"] == 1
    _, page = await api("GET", "api", "v1", "backtest", "k5", "events")
    assert page["events"][0]["data"]["big"] == pytest.approx(-6.799856279438376e21)

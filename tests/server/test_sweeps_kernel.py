"""Sweeps that a notebook kernel drives, published over ``POST /api/v1/sweep/{id}/events``
(the machinery of kernel runs: created by the first batch, numbered on the sweep's stream,
cancel asked in the reply, failed when the kernel dies); the cluster a kernel is pointed to;
deleting and pruning sweeps."""

from __future__ import annotations

from typing import Any

import pytest
from sweep_helpers import read_sweep

from qm_jupyter.events import EventDraft, utc_now_iso
from qm_jupyter.server.service import BacktestService, Retention
from qm_jupyter.server.store import sweep_key

REQUEST = {
    "strategy": "momentum",
    "method": "grid",
    "total_trials": 2,
    "grid": {"lookback": [5, 20]},
    "params": {},
    "objective": {"metric": "sharpe_ratio", "direction": "maximize"},
    "seed": 3,
    "data": {"dataframe": {"rows": 500}},
}
METRICS = {"sharpe_ratio": 1.5, "total_return": 0.1, "total_trades": 4}


@pytest.fixture
def qm_config() -> dict[str, Any]:
    return {"workers": 1, "dask_workers": 1}


def trial(backtest_id: str, lookback: int, sharpe: float) -> dict[str, Any]:
    return {
        "backtest_id": backtest_id,
        "params": {"lookback": lookback},
        "status": "completed",
        "metrics": {**METRICS, "sharpe_ratio": sharpe},
        "objective": sharpe,
        "error": None,
        "worker": "tcp://127.0.0.1:1234",
        "attempt": 1,
    }


def event(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"type": event_type, "data": data, "timestamp": "2026-01-01T00:00:00.000Z"}


def counts(completed: int) -> dict[str, int]:
    return {"total": 2, "completed": completed, "failed": 0, "cancelled": 0, "skipped": 0}


async def publish(api, sweep_id: str, *events: dict[str, Any], **extra: Any):
    body = {"events": list(events), **extra}
    return await api("POST", "api", "v1", "sweep", sweep_id, "events", body=body)


async def test_a_kernel_sweep_is_created_numbered_and_shown_like_a_servers(api, stream):
    status, reply = await publish(
        api, "ks1", event("sweep_start", REQUEST), request=REQUEST, kernel_id="nope"
    )
    assert status == 200 and reply == {"sweep_id": "ks1", "last_seq": 1, "cancel_requested": False}
    # Its trials are kernel runs that name the sweep in their request.
    run = {"strategy": "momentum", "params": {"lookback": 5}, "sweep_id": "ks1"}
    status, _ = await api(
        "POST", "api", "v1", "backtest", "kt1", "events",
        body={"events": [event("backtest_start", {})], "request": run},
    )  # fmt: skip
    assert status == 200
    _, listed = await api("GET", "api", "v1", "backtest")
    assert {r["backtest_id"]: r["sweep_id"] for r in listed["runs"]} == {"kt1": "ks1"}

    entries = [trial("kt1", 5, 0.5), trial("kt2", 20, 1.5)]
    best = {k: entries[1][k] for k in ("backtest_id", "params", "metrics", "objective")}
    status, reply = await publish(
        api,
        "ks1",
        *(event("sweep_trial", entry) for entry in entries),
        event("sweep_progress", {"counts": {**counts(2), "running": 0}, "best": best}),
        event("sweep_complete", {"counts": counts(2), "best": best, "duration": 1.0}),
    )
    assert status == 200 and reply["last_seq"] == 5
    events = await read_sweep(await stream(), "ks1")
    assert [(e["seq"], e["type"]) for e in events] == [
        (1, "sweep_start"),
        (2, "sweep_trial"),
        (3, "sweep_trial"),
        (4, "sweep_progress"),
        (5, "sweep_complete"),
    ]
    _, described = await api("GET", "api", "v1", "sweep", "ks1")
    assert described["origin"] == "kernel" and described["status"] == "completed"
    assert described["trials"] == entries and described["best"] == best
    assert described["counts"] == counts(2) and described["total_trials"] == 2
    assert described["objective"] == REQUEST["objective"]
    assert described["strategy"] == "momentum" and described["grid"] == REQUEST["grid"]
    _, listing = await api("GET", "api", "v1", "sweep")
    assert [(s["sweep_id"], s["origin"]) for s in listing["sweeps"]] == [("ks1", "kernel")]
    status, reply = await publish(api, "ks1", event("sweep_progress", {}))
    assert status == 409 and "already ended" in reply["message"]


async def test_a_cancel_from_rest_is_asked_of_the_kernel_in_its_next_reply(api):
    await publish(api, "ks2", event("sweep_start", REQUEST), request=REQUEST)
    status, reply = await api("POST", "api", "v1", "sweep", "ks2", "cancel")
    assert status == 202 and reply == {"sweep_id": "ks2", "status": "cancelling"}
    _, reply = await publish(api, "ks2", event("sweep_trial", trial("kt1", 5, 0.5)))
    assert reply["cancel_requested"] is True
    _, reply = await publish(api, "ks2", event("sweep_cancelled", {"counts": counts(1)}))
    assert reply["cancel_requested"] is False
    _, described = await api("GET", "api", "v1", "sweep", "ks2")
    assert described["status"] == "cancelled"
    status, _ = await api("POST", "api", "v1", "sweep", "ks2", "cancel")
    assert status == 409


async def test_a_kernel_sweep_whose_kernel_stopped_fails_keeping_its_trials(
    api, jp_serverapp, monkeypatch
):
    service = jp_serverapp.web_app.settings["qm_jupyter_service"]
    identity = {"k1": ("process", 1)}
    monkeypatch.setattr(service, "kernel_identity", identity.get)
    await publish(api, "ks3", event("sweep_start", REQUEST), request=REQUEST, kernel_id="k1")
    await publish(api, "ks3", event("sweep_trial", trial("kt1", 5, 0.5)))
    assert service.end_runs_of_stopped_kernels() == []
    identity["k1"] = ("process", 2)  # restarted
    assert service.end_runs_of_stopped_kernels() == [sweep_key("ks3")]
    _, described = await api("GET", "api", "v1", "sweep", "ks3")
    assert described["status"] == "failed"
    assert described["error"]["error_type"] == "KernelStopped"
    assert "k1" in described["error"]["error"]
    assert described["error"]["counts"] == {**counts(1), "total": 2}
    assert described["error"]["best"]["backtest_id"] == "kt1"
    assert [t["backtest_id"] for t in described["trials"]] == ["kt1"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"events": [event("sweep_start", REQUEST)]}, "request"),
        ({"events": [event("sweep_start", {})], "request": {**REQUEST, "grid": 5}}, "request.grid"),
        (
            {"events": [event("sweep_start", {})], "request": {**REQUEST, "objective": {}}},
            "request.objective.metric",
        ),
        ({"events": [event("backtest_start", {})], "request": REQUEST}, "events[0].type"),
        (
            {"events": [event("sweep_trial", {**trial("a", 1, 1), "status": "?"})]},
            "events[0].data.status",
        ),
        (
            {"events": [event("sweep_trial", {**trial("a", 1, 1), "metrics": {"x": "y"}})]},
            "events[0].data.metrics",
        ),
        (
            {"events": [event("sweep_progress", {"counts": {"total": -1}})]},
            "events[0].data.counts.total",
        ),
        ({"events": [event("sweep_complete", {"best": {"params": {}}})]}, "events[0].data.best"),
    ],
)
async def test_bad_published_sweep_events_are_refused_naming_the_field(api, body, field):
    status, reply = await api("POST", "api", "v1", "sweep", "ks4", "events", body=body)
    assert status == 400 and reply["field"].startswith(field), reply
    status, _ = await api("GET", "api", "v1", "sweep", "ks4")
    assert status == 404


async def test_a_trials_sweep_id_must_be_an_id(api):
    body = {"events": [event("backtest_start", {})], "request": {"sweep_id": "a b"}}
    status, reply = await api("POST", "api", "v1", "backtest", "kt9", "events", body=body)
    assert status == 400 and reply["field"] == "request.sweep_id"


async def test_delete_a_sweep_once_it_ended(api, stream):
    await publish(api, "ks5", event("sweep_start", REQUEST), request=REQUEST)
    follower = await stream()
    await follower.send({"type": "subscribe", "topic": "sweep", "sweep_id": "ks5"})
    assert (await follower.receive())["type"] == "subscribed"
    assert (await follower.receive())["type"] == "sweep_start"
    status, reply = await api("DELETE", "api", "v1", "sweep", "ks5")
    assert status == 409 and "running" in reply["message"]
    await publish(api, "ks5", event("sweep_complete", {"counts": counts(0)}))
    assert (await follower.receive())["type"] == "sweep_complete"
    status, _ = await api("DELETE", "api", "v1", "sweep", "ks5")
    assert status == 204
    assert await follower.receive() == {
        "type": "unsubscribed",
        "topic": "sweep",
        "sweep_id": "ks5",
        "reason": "deleted",
    }
    status, _ = await api("GET", "api", "v1", "sweep", "ks5")
    assert status == 404
    status, _ = await api("DELETE", "api", "v1", "sweep", "ks5")
    assert status == 404


async def test_the_cluster_a_kernel_is_pointed_to_is_the_servers(api, jp_serverapp):
    status, reply = await api("GET", "api", "v1", "sweep", "cluster")
    assert status == 200 and reply["scheduler_address"].startswith("tcp://127.0.0.1:")
    cluster = jp_serverapp.web_app.settings["qm_jupyter_service"].sweeps.cluster
    client = await cluster.client()
    assert client.scheduler.address == reply["scheduler_address"]
    # The embedded scheduler's HTTP routes are on a free port of 127.0.0.1, never 8787.

    def http_sockets(dask_scheduler):
        return [sock.getsockname()[:2] for sock in dask_scheduler.http_server._sockets.values()]

    sockets = await client.run_on_scheduler(http_sockets)
    ports = {port for _, port in sockets}
    hosts = {host for host, _ in sockets}
    assert 8787 not in ports and hosts == {"127.0.0.1"}


def test_ended_sweeps_are_pruned_like_runs_by_count_and_age(tmp_path):
    service = BacktestService(tmp_path / "runs.sqlite", tmp_path, retention=Retention(max_runs=2))
    try:
        for index in range(4):
            key = sweep_key(f"s{index}")
            service.publish_external(
                key, {"events": [event("sweep_start", REQUEST)], "request": REQUEST}
            )
            if index < 3:  # s3 still running; s2 ended long ago
                ended = "2020-01-01T00:00:00.000Z" if index == 2 else utc_now_iso()
                end = EventDraft("sweep_complete", {"counts": counts(0)}, ended)
                service.hub.publish(key, [end])  # s0 is pruned as s2 ends
        assert service.store.frames_since(sweep_key("s0"), 0) == []
        assert service.prune_runs() == [sweep_key("s1")]  # three stored, s3 still running
        assert [sweep.sweep_id for sweep in service.store.list_sweeps()] == ["s3", "s2"]
        service.retention = Retention(max_runs=0, max_age_days=1)
        assert service.prune_runs() == [sweep_key("s2")]
        assert [sweep.sweep_id for sweep in service.store.list_sweeps()] == ["s3"]
    finally:
        service.store.close()

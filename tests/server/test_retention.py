"""Retention and deletion: the store keeps the newest runs (and the young ones), never a run
still going; DELETE removes an ended run, its events and its followers' subscriptions."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import pytest

from qm_jupyter.events import EventDraft, backtest_error
from qm_jupyter.server.hub import EventHub, Subscriber
from qm_jupyter.server.service import BacktestService, Retention
from qm_jupyter.server.store import RunStore

SUB = {"type": "subscribe", "topic": "backtest"}
DONE = EventDraft("backtest_complete", {"final_balance": 1.0})


def make_runs(hub: EventHub, statuses: list[str], finished_at: str = "2026-01-01T00:00:00.000Z"):
    """Runs created in this order (oldest first) and left in these statuses."""
    ids = []
    for number, status in enumerate(statuses):
        run_id = hub.create_run({"n": number}, backtest_id=f"run{number}").backtest_id
        hub.store.update_run(run_id, created_at=f"2026-01-01T00:00:{number:02d}.000Z")
        if status != "queued":
            hub.publish(run_id, [EventDraft("backtest_start", {})])
        if status == "completed":
            hub.publish(run_id, [DONE])
            hub.store.update_run(run_id, finished_at=finished_at)
        ids.append(run_id)
    return ids


@pytest.fixture
def hub(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    yield EventHub(store)
    store.close()


def test_the_oldest_ended_runs_beyond_the_limit_go_first_and_never_a_run_still_going(hub):
    ids = make_runs(hub, ["running", "completed", "queued", "completed", "completed"])
    assert hub.store.runs_to_prune(keep=5) == []
    assert hub.store.runs_to_prune(keep=4) == ["run1"]  # run0 is older, but still going
    assert hub.store.runs_to_prune(keep=3) == ["run1", "run3"]
    assert hub.store.runs_to_prune(keep=1) == ["run1", "run3", "run4"]  # the active two stay
    assert hub.store.runs_to_prune(keep=0) == []  # no limit
    hub.delete_runs(hub.store.runs_to_prune(keep=3))
    assert [run.backtest_id for run in hub.store.list_runs()] == [ids[4], ids[2], ids[0]]


def test_runs_that_ended_before_the_age_limit_go_whatever_the_count(hub):
    make_runs(hub, ["completed", "completed", "running"], finished_at="2026-01-01T00:00:00.000Z")
    hub.store.update_run("run1", finished_at="2026-03-01T00:00:00.000Z")
    cutoff = "2026-02-01T00:00:00.000Z"
    assert hub.store.runs_to_prune(keep=0, ended_before=cutoff) == ["run0"]
    assert hub.store.runs_to_prune(keep=2, ended_before=cutoff) == ["run0"]
    assert hub.store.runs_to_prune(keep=1, ended_before=cutoff) == ["run0", "run1"]


def test_a_deleted_run_leaves_no_events_no_cache_and_its_followers_are_told(hub):
    kept, deleted = make_runs(hub, ["completed", "completed"])
    follower = Subscriber(hub, on_overflow=pytest.fail)
    follower.follow_run(deleted)
    everyone = Subscriber(hub, on_overflow=pytest.fail)
    everyone.follow_all()
    assert hub.stored_chunk(deleted, 0)  # cached now
    hub.delete_runs([deleted])
    assert hub.get_run(deleted) is None and hub.store.frames_since(deleted, 0) == []
    assert hub.stored_chunk(deleted, 0) == []  # not served from the cache either
    assert not any(key[0] == deleted for key in hub._chunks)
    assert deleted not in follower.followed_runs
    assert hub.store.frames_since(kept, 0)

    async def messages(subscriber):
        return [json.loads(f) for f in await subscriber.next_frames()]

    told = asyncio.run(messages(follower))
    assert told[-1] == {
        "type": "unsubscribed",
        "topic": "backtest",
        "backtest_id": deleted,
        "reason": "deleted",
    }
    assert everyone.buffered == 0  # it never asked for that run by name: nothing to say


def test_reclaim_space_gives_deleted_runs_pages_back(tmp_path):
    path = tmp_path / "runs.sqlite"
    store = RunStore(path)
    hub = EventHub(store)
    for run_id in make_runs(hub, ["completed"] * 4):
        lines = [EventDraft("log_entry", {"message": "x" * 500}) for _ in range(2000)]
        store.update_run(run_id, status="running")
        hub.publish(run_id, lines)
        store.update_run(run_id, status="completed")
    store.close()
    full = path.stat().st_size
    store = RunStore(path)
    EventHub(store).delete_runs(store.runs_to_prune(keep=1))
    assert store.reclaim_space() > 0
    store.close()
    assert path.stat().st_size < full / 2
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_an_ended_runs_progress_says_how_it_ended_also_in_an_older_store(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    hub = EventHub(store)
    progress = EventDraft("backtest_progress", {"progress": 40.0, "status": "running"})
    for run_id, end in (
        ("done", DONE),
        ("failed", backtest_error("boom", "ValueError")),
        ("cancelled", EventDraft("backtest_cancelled", {"bars_processed": 4})),
    ):
        hub.create_run({}, backtest_id=run_id)
        hub.publish(run_id, [EventDraft("backtest_start", {}), progress])
        hub.publish(run_id, [end])
        run = hub.get_run(run_id)
        assert run.progress == {"progress": 40.0, "status": run.status}
    # A store written before this fix: the next server settles its ended runs at start.
    hub.create_run({}, backtest_id="going")
    hub.publish("going", [progress])
    store.update_run("done", progress={"progress": 100.0, "status": "running"})
    store.close()
    store = RunStore(tmp_path / "runs.sqlite")
    assert store.get_run("done").progress == {"progress": 100.0, "status": "completed"}
    assert store.get_run("going").progress["status"] == "running"  # still going: untouched
    store.close()


def test_a_restarted_service_applies_new_limits_and_prunes_as_runs_end(tmp_path):
    db = tmp_path / "runs.sqlite"
    first = BacktestService(db, tmp_path)
    make_runs(first.hub, ["completed", "completed", "completed", "running"])
    first.store.close()

    service = BacktestService(db, tmp_path, retention=Retention(max_runs=2))
    service.recover()  # run3 was in flight: it ends (failed), then the limit applies
    assert [run.backtest_id for run in service.store.list_runs()] == ["run3", "run2"]
    service.hub.create_run({}, backtest_id="run4")
    service.store.update_run("run4", created_at="2026-01-01T00:00:04.000Z")
    service.hub.publish("run4", [DONE])  # a run ends: the oldest ended one goes
    assert [run.backtest_id for run in service.store.list_runs()] == ["run4", "run3"]
    service.store.close()

    aged = BacktestService(db, tmp_path, retention=Retention(max_runs=0, max_age_days=1))
    aged.store.update_run("run3", finished_at="2020-01-01T00:00:00.000Z")
    aged.recover()
    assert [run.backtest_id for run in aged.store.list_runs()] == ["run4"]
    assert not aged.delete_run("nope")
    aged.hub.create_run({}, backtest_id="run5")
    aged.store.update_run("run5", created_at="2026-01-01T00:00:05.000Z")
    assert not aged.delete_run("run5") and aged.store.get_run("run5")  # queued: kept
    assert aged.delete_run("run4") and aged.store.get_run("run4") is None
    aged.store.close()


# -- through the server ------------------------------------------------------------------------


async def kernel_run(api, run_id: str, *types: str) -> None:
    events = [{"type": t, "data": {}} for t in types]
    status, reply = await api(
        "POST", "api", "v1", "backtest", run_id, "events", body={"events": events}
    )
    assert status == 200, reply


async def test_delete_a_run(api, stream):
    await kernel_run(api, "k-done", "backtest_start", "log_entry", "backtest_complete")
    await kernel_run(api, "k-going", "backtest_start", "log_entry")
    follower = await stream()
    await follower.send({**SUB, "backtest_id": "k-done", "since": 0})
    replayed = [await follower.receive() for _ in range(4)]  # subscribed + 3 events
    assert replayed[-1]["type"] == "backtest_complete"

    status, body = await api("DELETE", "api", "v1", "backtest", "k-going")
    assert status == 409 and "running" in body["message"]
    assert (await api("DELETE", "api", "v1", "backtest", "nope"))[0] == 404
    assert await api("DELETE", "api", "v1", "backtest", "k-done") == (204, None)

    assert await follower.receive() == {
        "type": "unsubscribed",
        "topic": "backtest",
        "backtest_id": "k-done",
        "reason": "deleted",
    }
    assert (await api("GET", "api", "v1", "backtest", "k-done"))[0] == 404
    assert (await api("GET", "api", "v1", "backtest", "k-done", "events"))[0] == 404
    assert (await api("DELETE", "api", "v1", "backtest", "k-done"))[0] == 404
    await follower.send({**SUB, "backtest_id": "k-done"})
    assert (await follower.receive())["error"]["code"] == "unknown_run"
    _, listing = await api("GET", "api", "v1", "backtest")
    assert [run["backtest_id"] for run in listing["runs"]] == ["k-going"]


@pytest.mark.parametrize("qm_config", [{"workers": 1, "max_stored_runs": 2}])
async def test_the_server_keeps_at_most_max_stored_runs(api):
    await kernel_run(api, "going", "backtest_start")  # the oldest, still going: never pruned
    for number in range(4):
        await kernel_run(api, f"k{number}", "backtest_start", "backtest_complete")
    _, listing = await api("GET", "api", "v1", "backtest")
    assert [run["backtest_id"] for run in listing["runs"]] == ["k3", "going"]


@pytest.mark.parametrize(("setting", "value"), [("max_stored_runs", -1), ("max_run_age_days", 0.0)])
def test_bad_retention_settings_are_refused(setting, value):
    from qm_jupyter.server.app import QuantMindExtension

    with pytest.raises(ValueError, match=setting):
        QuantMindExtension(**{setting: value})

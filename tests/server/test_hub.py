"""EventHub and Subscriber: numbering, storage before fan-out, lossless bounded delivery."""

from __future__ import annotations

import asyncio
import json

import pytest

from qm_jupyter.events import EventDraft
from qm_jupyter.server.hub import (
    CHUNK,
    EventHub,
    RunClosedError,
    SharedChunk,
    Subscriber,
    UnknownRunError,
)
from qm_jupyter.server.store import RunStore


@pytest.fixture
def hub(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    yield EventHub(store)
    store.close()


def logs(*messages: str) -> list[EventDraft]:
    return [EventDraft("log_entry", {"message": m}) for m in messages]


async def drain(subscriber: Subscriber, count: int) -> list[dict]:
    frames = []
    for _ in range(count):
        (frame,) = await asyncio.wait_for(subscriber.next_frames(1), 1)
        frames.append(json.loads(frame))
    return frames


def test_seq_is_contiguous_per_run_and_stored(hub):
    a = hub.create_run({"strategy": "x"}).backtest_id
    b = hub.create_run({"strategy": "y"}).backtest_id
    assert hub.publish(a, logs("a1", "a2")) == 2
    assert hub.publish(b, logs("b1")) == 1
    assert hub.publish(a, logs("a3")) == 3
    stored = [json.loads(f) for f in hub.store.frames_since(a, 0)]
    assert [e["seq"] for e in stored] == [1, 2, 3]
    assert [e["data"]["message"] for e in stored] == ["a1", "a2", "a3"]
    assert set(stored[0]) == {"type", "topic", "backtest_id", "seq", "timestamp", "data"}
    assert hub.get_run(a).last_seq == 3


def test_events_change_the_run_state(hub):
    run_id = hub.create_run({}).backtest_id
    assert hub.get_run(run_id).status == "queued"
    hub.publish(run_id, [EventDraft("backtest_start", {"total_bars": 10})])
    assert hub.get_run(run_id).status == "running"
    hub.publish(run_id, [EventDraft("backtest_progress", {"progress": 50.0})])
    assert hub.get_run(run_id).progress == {"progress": 50.0}
    hub.publish(run_id, [EventDraft("backtest_complete", {"sharpe_ratio": float("nan")})])
    run = hub.get_run(run_id)
    assert run.status == "completed"
    assert run.result == {"sharpe_ratio": None}  # strict JSON: NaN became null
    assert run.finished_at is not None


def test_nothing_follows_a_terminal_event(hub):
    run_id = hub.create_run({}).backtest_id
    hub.publish(
        run_id,
        [EventDraft("backtest_error", {"error": "boom"}), EventDraft("log_entry", {})],
    )
    assert hub.get_run(run_id).last_seq == 1
    with pytest.raises(RunClosedError):
        hub.publish(run_id, logs("late"))


def test_unknown_runs_are_refused(hub):
    with pytest.raises(UnknownRunError):
        hub.publish("nope", logs("x"))


def test_a_new_hub_on_the_same_file_continues_numbering(tmp_path):
    first = EventHub(RunStore(tmp_path / "db.sqlite"))
    run_id = first.create_run({"strategy": "s"}).backtest_id
    first.publish(run_id, logs("before"))
    first.store.close()
    second = EventHub(RunStore(tmp_path / "db.sqlite"))
    assert second.publish(run_id, logs("after")) == 2
    assert second.get_run(run_id).request == {"strategy": "s"}


async def test_replay_then_live_without_gap_or_duplicate(hub):
    run_id = hub.create_run({}).backtest_id
    hub.publish(run_id, logs(*[f"m{i}" for i in range(1, 601)]))  # replayed in 3 chunks
    subscriber = Subscriber(hub, on_overflow=pytest.fail)
    subscriber.send({"type": "subscribed"})
    subscriber.follow_run(run_id, since=2)
    hub.publish(run_id, logs("m601"))  # arrives while the replay is pending
    frames = await drain(subscriber, 600)
    assert frames[0] == {"type": "subscribed"}
    assert [f["seq"] for f in frames[1:]] == list(range(3, 602))
    hub.publish(run_id, logs("m602"))
    assert [f["seq"] for f in await drain(subscriber, 1)] == [602]
    subscriber.close()


async def test_following_all_runs_sees_only_new_events(hub):
    old = hub.create_run({}).backtest_id
    hub.publish(old, logs("before subscribing"))
    subscriber = Subscriber(hub, on_overflow=pytest.fail)
    subscriber.follow_all()
    new = hub.create_run({}).backtest_id
    hub.publish(new, logs("n1"))
    hub.publish(old, logs("o2"))
    frames = await drain(subscriber, 2)
    assert [(f["backtest_id"], f["seq"]) for f in frames] == [(new, 1), (old, 2)]
    subscriber.unfollow_all()
    hub.publish(new, logs("n2"))
    assert subscriber.buffered == 0


async def test_a_full_buffer_falls_back_to_the_store_losslessly(hub):
    run_id = hub.create_run({}).backtest_id
    subscriber = Subscriber(hub, on_overflow=pytest.fail, max_buffer=5)
    subscriber.follow_run(run_id, 0)
    await asyncio.sleep(0)
    for i in range(40):  # the client reads nothing while 40 events go out
        hub.publish(run_id, logs(f"m{i}"))
    assert subscriber.buffered <= 5
    frames = await drain(subscriber, 40)
    assert [f["seq"] for f in frames] == list(range(1, 41))
    hub.publish(run_id, logs("live again"))
    assert [f["seq"] for f in await drain(subscriber, 1)] == [41]


def count_store_reads(hub, monkeypatch) -> list[int]:
    """The first seq of each chunk the hub reads from SQLite from now on."""
    reads = []
    frames_since = hub.store.frames_since
    monkeypatch.setattr(
        hub.store, "frames_since", lambda *args: reads.append(args[1]) or frames_since(*args)
    )
    return reads


async def test_subscribers_lagging_behind_a_live_run_read_it_from_memory(hub, monkeypatch):
    run_id = hub.create_run({}).backtest_id
    reads = count_store_reads(hub, monkeypatch)
    readers = [Subscriber(hub, on_overflow=pytest.fail, max_buffer=50) for _ in range(10)]
    for reader in readers:
        reader.follow_run(run_id, 0)
    for start in range(0, 1210, 110):  # far more than their buffers hold
        hub.publish(run_id, logs(*(f"m{i}" for i in range(start, start + 110))))
    for reader in readers:
        assert [f["seq"] for f in await drain_all(reader)] == list(range(1, 1211))
    assert reads == []  # publish wrote every chunk through to the cache
    hub.publish(run_id, logs("live"))  # the growing last chunk goes on from memory
    assert [f["seq"] for f in await drain_all(readers[0])] == [1211]
    assert list(hub.stored_chunk(run_id, 1100)) == hub.store.frames_since(run_id, 1100)


async def test_subscribers_replaying_a_run_share_its_stored_chunks(hub, monkeypatch):
    run_id = hub.create_run({}).backtest_id
    for start in range(0, 1210, 110):
        hub.publish(run_id, logs(*(f"m{i}" for i in range(start, start + 110))))
    restarted = EventHub(hub.store)  # a new server: nothing cached
    reads = count_store_reads(restarted, monkeypatch)
    readers = [Subscriber(restarted, on_overflow=pytest.fail) for _ in range(10)]
    for reader in readers:
        reader.follow_run(run_id, 0)
        assert [f["seq"] for f in await drain_all(reader)] == list(range(1, 1211))
    assert reads == [0, 256, 512, 768, 1024]  # each chunk read once for all ten
    restarted.publish(run_id, logs("live"))  # extends the cached last chunk
    last_chunk = restarted.stored_chunk(run_id, 1024)
    assert len(reads) == 5
    assert list(last_chunk) == hub.store.frames_since(run_id, 1024)


async def test_readers_of_a_stored_run_are_handed_its_cached_chunks(hub):
    run_id = hub.create_run({}).backtest_id
    hub.publish(run_id, logs(*(f"m{i}" for i in range(600))))
    readers = [Subscriber(hub, on_overflow=pytest.fail) for _ in range(2)]
    for reader in readers:
        reader.follow_run(run_id, 0)
    first, second = [[await r.next_frames(CHUNK) for _ in range(3)] for r in readers]
    assert [len(c) for c in first] == [CHUNK, CHUNK, 600 - 2 * CHUNK]
    assert first[0] is second[0] and first[1] is second[1]  # whole chunks: shared
    assert first[2] == second[2]  # the growing last chunk: a copy each


async def drain_all(subscriber: Subscriber) -> list[dict]:
    frames = []
    while subscriber.buffered or subscriber._lagging:
        frames += [json.loads(f) for f in await subscriber.next_frames(10_000)]
    return frames


async def test_followers_are_handed_the_same_chunks_of_a_publish(hub):
    run_id = hub.create_run({}).backtest_id
    followers = [Subscriber(hub, on_overflow=pytest.fail) for _ in range(3)]
    for follower in followers:
        follower.follow_all()
    hub.publish(run_id, logs(*(f"m{i}" for i in range(600))))
    handed = [[await f.next_frames(CHUNK) for _ in range(3)] for f in followers]
    assert [len(c) for c in handed[0]] == [CHUNK, CHUNK, 600 - 2 * CHUNK]
    assert all(isinstance(c, SharedChunk) for c in handed[0])
    for other in handed[1:]:  # the same objects: a transport encodes each once
        assert all(a is b for a, b in zip(handed[0], other, strict=True))


async def test_a_stalled_client_is_cut_off_with_a_reason(hub):
    reasons = []
    run_id = hub.create_run({}).backtest_id
    subscriber = Subscriber(hub, on_overflow=reasons.append, max_buffer=3, stall_timeout=0.05)
    subscriber.follow_run(run_id, 0)
    writer = asyncio.ensure_future(subscriber.next_frames(1))  # takes a frame, then hangs
    await asyncio.sleep(0)
    hub.publish(run_id, logs("a", "b", "c", "d"))
    assert json.loads((await writer)[0])["seq"] == 1
    await asyncio.sleep(0.1)  # the socket accepted nothing meanwhile
    hub.publish(run_id, logs("e"))
    assert not subscriber.closed  # the transport's writer decides, not a new event
    assert subscriber.cut_off_if_stalled() and subscriber.closed
    assert "resubscribe with since" in reasons[0]
    assert hub.subscriber_count == 0
    assert await subscriber.next_frames() == []


async def test_a_reading_client_is_never_cut_off(hub):
    run_id = hub.create_run({}).backtest_id
    subscriber = Subscriber(hub, on_overflow=pytest.fail, max_buffer=3, stall_timeout=0.05)
    subscriber.follow_run(run_id, 0)
    seqs = []
    for i in range(10):  # each write completes, however long the pauses between events
        hub.publish(run_id, logs(f"m{i}"))
        seqs.extend(json.loads(frame)["seq"] for frame in await subscriber.next_frames())
        subscriber.wrote()
        await asyncio.sleep(0.06)
    assert not subscriber.closed
    assert seqs == list(range(1, 11))


async def test_unfollowing_a_run_stops_its_events(hub):
    run_id = hub.create_run({}).backtest_id
    subscriber = Subscriber(hub, on_overflow=pytest.fail)
    subscriber.follow_run(run_id, 0)
    hub.publish(run_id, logs("a"))
    assert len(await drain(subscriber, 1)) == 1
    subscriber.unfollow_run(run_id)
    hub.publish(run_id, logs("b"))
    assert subscriber.buffered == 0


def test_a_client_flooding_requests_without_reading_is_cut_off(hub):
    reasons = []
    subscriber = Subscriber(hub, on_overflow=reasons.append, max_buffer=2)
    for _ in range(5):
        subscriber.send({"type": "pong"})
    assert subscriber.closed and reasons


async def test_hub_sink_publishes_from_other_threads_in_order(hub):
    import threading

    from qm_jupyter.sinks import HubSink
    from qm_jupyter.ws_logger import setup_backtest_logging, teardown_backtest_logging

    sink = HubSink(hub, asyncio.get_running_loop())
    logger, streamer = setup_backtest_logging("in-process-run", sink, max_rate=0)

    def run() -> None:
        streamer.on_start({"strategy": "hand_written_loop"})
        for i in range(50):
            logger.info("bar %d", i)
        streamer.on_complete({"final_balance": 1.0})

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    await asyncio.sleep(0.05)
    events = [json.loads(f) for f in hub.store.frames_since("in-process-run", 0)]
    assert [e["seq"] for e in events] == list(range(1, 53))
    assert events[0]["type"] == "backtest_start" and events[-1]["type"] == "backtest_complete"
    assert [e["data"]["message"] for e in events[1:-1]] == [f"bar {i}" for i in range(50)]
    assert hub.get_run("in-process-run").origin == "logger"
    teardown_backtest_logging(logger)


class CountingSubscriber(Subscriber):
    def __init__(self, hub):
        super().__init__(hub, on_overflow=pytest.fail)
        self.offers = 0

    def offer(self, backtest_id, first_seq, frames):
        self.offers += 1
        super().offer(backtest_id, first_seq, frames)


async def test_only_followers_of_a_run_are_offered_its_events(hub):
    """A thousand idle connections cost a busy run nothing: the hub offers them no event."""
    a, b = hub.create_run({}).backtest_id, hub.create_run({}).backtest_id
    idle = [CountingSubscriber(hub) for _ in range(1000)]
    of_a, of_all, gone = CountingSubscriber(hub), CountingSubscriber(hub), CountingSubscriber(hub)
    of_a.follow_run(a, 0)
    of_all.follow_all()
    gone.follow_run(a, 0)
    gone.close()
    hub.publish(a, logs("a1", "a2", "a3"))
    hub.publish(b, logs("b1"))
    assert sum(s.offers for s in idle) == 0 and gone.offers == 0
    assert (of_a.offers, of_all.offers) == (1, 2)  # one offer per published batch
    assert [f["seq"] for f in await drain(of_a, 3)] == [1, 2, 3]
    of_a.unfollow_run(a)
    of_all.unfollow_all()
    hub.publish(a, logs("a4"))
    assert (of_a.offers, of_all.offers) == (1, 2)
    assert hub.subscriber_count == 1002


async def test_a_client_is_cut_only_with_a_full_buffer_and_no_bytes_taken(hub):
    run_id = hub.create_run({}).backtest_id
    subscriber = Subscriber(hub, on_overflow=lambda reason: None, max_buffer=3, stall_timeout=0.05)
    subscriber.follow_run(run_id, 0)
    hub.publish(run_id, logs("a", "b"))
    assert len(await subscriber.next_frames(1)) == 1  # a write starts and hangs
    await asyncio.sleep(0.1)
    assert not subscriber.cut_off_if_stalled()  # stuck, but its buffer is not full
    hub.publish(run_id, logs("c", "d", "e"))  # now more wait than the buffer holds
    subscriber.progressed()  # the socket took part of the write: the client reads, slowly
    assert not subscriber.cut_off_if_stalled()
    await asyncio.sleep(0.1)  # and then nothing more
    assert subscriber.cut_off_if_stalled() and subscriber.closed


async def test_a_batch_commits_once_and_offers_only_after_its_commit(hub):
    subscriber = Subscriber(hub, on_overflow=pytest.fail)
    subscriber.follow_all()
    commits = []
    hub.store._db.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    with hub.batch():
        runs = [hub.create_run({}).backtest_id for _ in range(10)]
        for run_id in runs:
            hub.mark_running(run_id)
            with hub.batch():  # joins the outer one
                hub.publish(run_id, logs("started"))
            hub.publish(run_id, [EventDraft("backtest_complete", {"metrics": {}})])
        assert subscriber.buffered == 0  # nothing offered before the commit
        assert commits == []
    assert commits == ["COMMIT"]
    frames = await drain(subscriber, 20)
    assert [(f["backtest_id"], f["seq"]) for f in frames] == [
        (run_id, seq) for run_id in runs for seq in (1, 2)
    ]
    assert {hub.get_run(run_id).status for run_id in runs} == {"completed"}
    subscriber.close()


async def test_a_failed_batch_stores_and_offers_nothing_and_numbering_resumes(hub):
    run_id = hub.create_run({}).backtest_id
    hub.publish(run_id, logs("m1"))
    subscriber = Subscriber(hub, on_overflow=pytest.fail)
    subscriber.follow_all()
    with pytest.raises(RuntimeError, match="disk full"), hub.batch():
        hub.publish(run_id, logs("m2", "m3"))
        created = hub.create_run({}).backtest_id
        hub.publish(created, logs("c1"))
        raise RuntimeError("disk full")
    assert subscriber.buffered == 0
    assert hub.get_run(created) is None
    with pytest.raises(UnknownRunError):
        hub.publish(created, logs("c2"))
    assert hub.publish(run_id, logs("m2 again")) == 2  # numbered from what was stored
    frames = await drain(subscriber, 1)
    assert [(f["seq"], f["data"]["message"]) for f in frames] == [(2, "m2 again")]
    assert [json.loads(f)["seq"] for f in hub.store.frames_since(run_id, 0)] == [1, 2]
    subscriber.close()

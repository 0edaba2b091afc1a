"""RunStore: events stored a batch per row, read back by seq; older databases gathered."""

from __future__ import annotations

import json
import sqlite3
import time

from qm_jupyter.events import EventDraft
from qm_jupyter.server.hub import EventHub
from qm_jupyter.server.store import RunStore


def frame(backtest_id: str, seq: int, message: str = "") -> str:
    return json.dumps({"backtest_id": backtest_id, "seq": seq, "data": {"message": message}})


def test_reads_cross_batches_from_any_seq_with_a_limit(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    run_id = EventHub(store).create_run({}).backtest_id
    for first, count in ((1, 3), (4, 1), (5, 300), (305, 2)):
        frames = [frame(run_id, seq) for seq in range(first, first + count)]
        store.append_events(run_id, first, frames, {"last_seq": first + count - 1})
    assert store.get_run(run_id).last_seq == 306

    def seqs(since: int, limit: int | None = None) -> list[int]:
        return [json.loads(f)["seq"] for f in store.frames_since(run_id, since, limit)]

    assert seqs(0) == list(range(1, 307))
    assert seqs(2, 3) == [3, 4, 5]
    assert seqs(100, 250) == list(range(101, 307))[:250]
    assert seqs(304) == [305, 306]
    assert seqs(306) == [] and store.frames_since("other", 0) == []
    store.close()


def test_a_log_line_with_newlines_comes_back_whole(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    hub = EventHub(store)
    run_id = hub.create_run({}).backtest_id
    text = 'two\nlines, a "quote", a \\n that is not one, and \u2028'
    hub.publish(run_id, [EventDraft("log_entry", {"message": text}), EventDraft("log_entry", {})])
    stored = [json.loads(f) for f in store.frames_since(run_id, 0)]
    assert [e["seq"] for e in stored] == [1, 2]
    assert stored[0]["data"]["message"] == text
    store.close()


def test_a_database_with_a_row_per_event_is_gathered_into_batches(tmp_path):
    path = tmp_path / "runs.sqlite"
    RunStore(path).close()  # the runs table as it is
    with sqlite3.connect(path) as db:  # the events table of databases written before batches
        db.execute(
            "CREATE TABLE events (backtest_id TEXT NOT NULL, seq INTEGER NOT NULL, "
            "frame TEXT NOT NULL, PRIMARY KEY (backtest_id, seq)) WITHOUT ROWID"
        )
        rows = [("a", seq, frame("a", seq, f"line {seq}")) for seq in range(1, 2501)]
        rows += [("b", 1, frame("b", 1))]
        db.executemany("INSERT INTO events VALUES (?, ?, ?)", rows)
    store = RunStore(path)
    assert store.frames_since("a", 0) == [f for _, _, f in rows[:2500]]
    assert store.frames_since("a", 1999, 2) == [rows[1999][2], rows[2000][2]]
    assert store.frames_since("b", 0) == [rows[2500][2]]
    tables = {row[0] for row in store._db.execute("SELECT name FROM sqlite_master")}
    assert "events" not in tables and store.integrity_ok()
    store.close()
    assert RunStore(path).frames_since("a", 2499) == [rows[2499][2]]  # a second open: as is


def test_commits_never_checkpoint_a_thread_of_the_store_does(tmp_path):
    """The event loop's commits only append to the WAL; copying it into the database file
    (tens of MB and an fsync after a busy run) happens on the store's own thread."""
    path = tmp_path / "runs.sqlite"
    store = RunStore(path, checkpoint_interval=0.05)
    assert store._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    hub = EventHub(store)
    run_id = hub.create_run({}).backtest_id
    before = path.stat().st_size
    hub.publish(run_id, [EventDraft("log_entry", {"message": "x" * 200}) for _ in range(5000)])
    deadline = time.monotonic() + 30
    while path.stat().st_size < before + 1_000_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.stat().st_size >= before + 1_000_000  # the events reached the file itself
    assert len(store.frames_since(run_id, 4990)) == 10
    store.close()


def test_list_runs_filters_by_sweep_newest_first_with_limit_and_offset(tmp_path):
    from qm_jupyter.server.store import ANY_SWEEP

    store = RunStore(tmp_path / "runs.sqlite")
    hub = EventHub(store)
    kinds = [None, "s1", "s2", None, "s1", "s1", None]
    ids = [hub.create_run({}, sweep_id=kind).backtest_id for kind in kinds]
    newest_first = ids[::-1]

    def listed(sweep_id=ANY_SWEEP, limit=100, offset=0) -> list[str]:
        return [run.backtest_id for run in store.list_runs(limit, offset, sweep_id)]

    assert listed() == listed(ANY_SWEEP) == newest_first
    assert listed(None) == [ids[6], ids[3], ids[0]]
    assert listed("s1") == [ids[5], ids[4], ids[1]]
    assert listed("s2") == [ids[2]]
    assert listed("unknown") == []
    assert listed("s1", limit=1, offset=1) == [ids[4]]
    assert listed(None, limit=2, offset=2) == [ids[0]]
    assert all(run.sweep_id is None for run in store.list_runs(sweep_id=None))
    store.close()


def test_a_transaction_joins_an_outer_one_and_rolls_back_whole(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    hub = EventHub(store)
    kept = hub.create_run({}).backtest_id
    commits = []
    store._db.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    with store.transaction():
        store.update_run(kept, status="running")
        store.append_events(kept, 1, [frame(kept, 1)], {"last_seq": 1})  # joins: no commit
        assert commits == []
    assert commits == ["COMMIT"]
    try:
        with store.transaction():
            store.append_events(kept, 2, [frame(kept, 2)], {"last_seq": 2})
            store.update_run(kept, status="failed")
            raise RuntimeError("disk full")
    except RuntimeError:
        pass
    run = store.get_run(kept)
    assert (run.status, run.last_seq, len(store.frames_since(kept, 0))) == ("running", 1, 1)
    store.close()

"""SQLite persistence of runs and their events, so both survive a server restart.

One connection, used only from the server's event loop thread. WAL journaling with
``synchronous=NORMAL`` keeps the database consistent when the process is killed (a power
loss may lose the last transactions, never corrupt the file); each
batch of events is stored in one transaction together with the run's new state,
before anyone is told about it. A batch is one row (its frames joined by newlines),
found by the seq of its last event. Commits only append to the WAL; a thread of the
store copies it into the database file (checkpoints), off the server's event loop.

Deleted runs (retention, ``DELETE``) free their pages for the next runs' events, so a store
bounded in runs stays bounded in size; :meth:`RunStore.reclaim_space` gives freed pages back
to the file system (incremental vacuum, in a database created by this version).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..events import dumps, loads

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    backtest_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    origin TEXT NOT NULL,
    request TEXT NOT NULL,
    client_request_id TEXT UNIQUE,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    progress TEXT,
    result TEXT,
    error TEXT,
    last_seq INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS runs_by_created ON runs (created_at DESC);
CREATE INDEX IF NOT EXISTS runs_by_finished ON runs (finished_at);
CREATE TABLE IF NOT EXISTS sweeps (
    sweep_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    request TEXT NOT NULL,
    client_request_id TEXT UNIQUE,
    created_at TEXT NOT NULL,
    finished_at TEXT,
    total_trials INTEGER NOT NULL,
    progress TEXT,
    result TEXT,
    error TEXT,
    last_seq INTEGER NOT NULL DEFAULT 0,
    origin TEXT NOT NULL DEFAULT 'server'
);
CREATE INDEX IF NOT EXISTS sweeps_by_created ON sweeps (created_at DESC);
CREATE INDEX IF NOT EXISTS sweeps_by_finished ON sweeps (finished_at);
CREATE TABLE IF NOT EXISTS event_batches (
    backtest_id TEXT NOT NULL,
    last_seq INTEGER NOT NULL,
    first_seq INTEGER NOT NULL,
    frames TEXT NOT NULL,
    PRIMARY KEY (backtest_id, last_seq)
);
"""
#: The stream key of a sweep's own events in ``event_batches`` (whose ``backtest_id`` column
#: holds any stream's key): a run id never holds a colon, so the two can never collide.
SWEEP_KEY_PREFIX = "sweep:"
#: What joins the frames of a batch in ``event_batches.frames``: a frame is compact JSON,
#: in which a newline can only stand escaped.
_FRAME_SEPARATOR = "\n"
#: Frames per batch when an older database's event rows are gathered into batches.
_MIGRATED_BATCH = 1000

_JSON_FIELDS = ("request", "progress", "result", "error")
ACTIVE_STATUSES = ("queued", "running")
#: ``list_runs``'s ``sweep_id`` for runs of every kind, trials or not (no sweep id has a '*').
ANY_SWEEP = "*"
_ACTIVE = "('queued', 'running')"  # ACTIVE_STATUSES in SQL
#: An ended run's latest progress says how it ended, not the "running" of its last report.
_SETTLE_PROGRESS = (
    "UPDATE runs SET progress = json_set(progress, '$.status', status) "
    f"WHERE progress IS NOT NULL AND status NOT IN {_ACTIVE} "
    "AND json_extract(progress, '$.status') IS NOT status"
)


@dataclass
class RunRecord:
    """What the server knows about one run (the body of ``GET /api/v1/backtest/{id}``)."""

    backtest_id: str
    status: str
    origin: str
    request: dict[str, Any]
    created_at: str
    client_request_id: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    progress: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    last_seq: int = 0
    #: The sweep this run is a trial of (None: a run of its own).
    sweep_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "backtest_id": self.backtest_id,
            "status": self.status,
            "origin": self.origin,
            "request": self.request,
            "client_request_id": self.client_request_id,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "progress": self.progress,
            "result": self.result,
            "error": self.error,
            "last_seq": self.last_seq,
            "sweep_id": self.sweep_id,
        }

    def summary(self) -> dict[str, Any]:
        """``to_dict`` with the result's headline metrics only (no chart data, no stats),
        for listings."""
        summary = self.to_dict()
        if self.result:
            summary["result"] = {
                k: v for k, v in self.result.items() if k not in _DETAIL_ONLY_RESULT
            }
        return summary


#: What a run's result carries for its own page only: kilobytes a listing would repeat per run.
_DETAIL_ONLY_RESULT = frozenset({"equity_curve", "stats", "chart"})


_COLUMNS = (
    "backtest_id",
    "status",
    "origin",
    "request",
    "client_request_id",
    "created_at",
    "started_at",
    "finished_at",
    "progress",
    "result",
    "error",
    "last_seq",
    "sweep_id",
)


@dataclass
class SweepRecord:
    """What the server keeps of one sweep besides its stream (whose ``sweep_trial`` events
    are its trials)."""

    sweep_id: str
    status: str
    request: dict[str, Any]
    created_at: str
    total_trials: int
    client_request_id: str | None = None
    finished_at: str | None = None
    progress: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    last_seq: int = 0
    #: "server" (run on the server's Dask cluster), or "kernel" (driven by a notebook
    #: kernel, which publishes its events).
    origin: str = "server"


_SWEEP_COLUMNS = tuple(SweepRecord.__dataclass_fields__)


def sweep_key(sweep_id: str) -> str:
    """The stream key of a sweep's own events."""
    return SWEEP_KEY_PREFIX + sweep_id


def _row_to_sweep(row: sqlite3.Row) -> SweepRecord:
    values = {name: row[name] for name in _SWEEP_COLUMNS}
    for name in _JSON_FIELDS:
        if values[name] is not None:
            values[name] = loads(values[name])
    return SweepRecord(**values)


def _row_to_run(row: sqlite3.Row) -> RunRecord:
    values = {name: row[name] for name in _COLUMNS}
    for name in _JSON_FIELDS:
        if values[name] is not None:
            values[name] = loads(values[name])
    return RunRecord(**values)


class RunStore:
    """Runs and events in one SQLite file."""

    def __init__(self, path: str | Path, *, checkpoint_interval: float = 1.0):
        self.path = Path(path)
        in_memory = str(path) == ":memory:"
        if not in_memory:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        # 16 KiB pages (set before the first table; an existing file keeps its own): a run's
        # batch of events is written to the WAL in a quarter of the page writes of 4 KiB
        # ones, which roughly halved the cost of storing a log line on these machines.
        self._db.execute("PRAGMA page_size=16384")
        # Also only for a new file: lets reclaim_space return deleted runs' pages to the disk.
        self._db.execute("PRAGMA auto_vacuum=INCREMENTAL")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._add_sweep_column()
        self._gather_event_rows()
        self._db.execute(_SETTLE_PROGRESS)  # runs that ended before progress was settled
        # No commit checkpoints: the thread below does (a commit that crossed the WAL limit
        # copied it all into the file and fsynced, stalling the event loop for 100-300 ms).
        self._db.execute("PRAGMA wal_autocheckpoint=0")
        self._checkpointer = None if in_memory else _Checkpointer(self.path, checkpoint_interval)

    def _add_sweep_column(self) -> None:
        """Give the runs of a database written before sweeps their ``sweep_id`` column, and
        sweeps written before kernel sweeps their ``origin``."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(runs)")}
        if "sweep_id" not in columns:
            self._db.execute("ALTER TABLE runs ADD COLUMN sweep_id TEXT")
        self._db.execute("CREATE INDEX IF NOT EXISTS runs_by_sweep ON runs (sweep_id)")
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(sweeps)")}
        if "origin" not in columns:
            self._db.execute("ALTER TABLE sweeps ADD COLUMN origin TEXT NOT NULL DEFAULT 'server'")

    def _gather_event_rows(self) -> None:
        """Move the events of a database written before batches (a row per event, table
        ``events``) into ``event_batches``, once, in one transaction."""
        if not self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='events'"
        ).fetchone():
            return
        with self.transaction():
            runs = [row[0] for row in self._db.execute("SELECT DISTINCT backtest_id FROM events")]
            for backtest_id in runs:
                rows = self._db.execute(
                    "SELECT seq, frame FROM events WHERE backtest_id=? ORDER BY seq",
                    (backtest_id,),
                ).fetchall()
                for start in range(0, len(rows), _MIGRATED_BATCH):
                    batch = rows[start : start + _MIGRATED_BATCH]
                    self._insert_batch(backtest_id, batch[0][0], [frame for _, frame in batch])
            self._db.execute("DROP TABLE events")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything written inside commits at once, or not at all (a failed commit too);
        a transaction opened inside one joins it (:meth:`.EventHub.batch` stores a sweep
        task's trials so)."""
        if self._db.in_transaction:
            yield
            return
        self._db.execute("BEGIN")
        try:
            yield
            self._db.commit()
        except BaseException:
            self._db.rollback()
            raise

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self._db.close()  # the last connection to close checkpoints what is left

    def integrity_ok(self) -> bool:
        return self._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    # -- runs ---------------------------------------------------------------------------

    def create_run(self, run: RunRecord) -> None:
        self._insert("runs", run.to_dict(), _COLUMNS)

    def create_sweep(self, sweep: SweepRecord) -> None:
        self._insert("sweeps", asdict(sweep), _SWEEP_COLUMNS)

    def _insert(self, table: str, values: dict[str, Any], columns: tuple[str, ...]) -> None:
        for name in _JSON_FIELDS:
            values[name] = None if values[name] is None else dumps(values[name])
        names = ",".join(columns)
        marks = ",".join("?" for _ in columns)
        self._db.execute(
            f"INSERT INTO {table} ({names}) VALUES ({marks})", [values[n] for n in columns]
        )

    def update_run(self, backtest_id: str, **fields: Any) -> None:
        self._update("runs", "backtest_id", backtest_id, fields)

    def _update(self, table: str, id_column: str, key: str, fields: dict[str, Any]) -> None:
        if not fields:
            return
        assignments = ",".join(f"{name}=?" for name in fields)
        values = [
            dumps(v) if name in _JSON_FIELDS and v is not None else v for name, v in fields.items()
        ]
        self._db.execute(f"UPDATE {table} SET {assignments} WHERE {id_column}=?", [*values, key])

    def stream_state(self, key: str) -> tuple[str, int] | None:
        """The status and last seq of the run or sweep with stream ``key``, if it exists."""
        table, id_column, stream_id = _stream_table(key)
        return self._db.execute(
            f"SELECT status, last_seq FROM {table} WHERE {id_column}=?", (stream_id,)
        ).fetchone()

    # -- sweeps -------------------------------------------------------------------------

    def get_sweep(self, sweep_id: str) -> SweepRecord | None:
        row = self._db.execute("SELECT * FROM sweeps WHERE sweep_id=?", (sweep_id,)).fetchone()
        return None if row is None else _row_to_sweep(row)

    def find_sweep_by_client_request_id(self, client_request_id: str) -> SweepRecord | None:
        row = self._db.execute(
            "SELECT * FROM sweeps WHERE client_request_id=?", (client_request_id,)
        ).fetchone()
        return None if row is None else _row_to_sweep(row)

    def list_sweeps(self, limit: int = 100, offset: int = 0) -> list[SweepRecord]:
        rows = self._db.execute(
            "SELECT * FROM sweeps ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?",
            (limit, offset),
        ).fetchall()
        return [_row_to_sweep(row) for row in rows]

    def running_sweep_ids(self) -> list[str]:
        rows = self._db.execute(
            "SELECT sweep_id FROM sweeps WHERE status='running' ORDER BY created_at"
        ).fetchall()
        return [row[0] for row in rows]

    def get_run(self, backtest_id: str) -> RunRecord | None:
        row = self._db.execute("SELECT * FROM runs WHERE backtest_id=?", (backtest_id,)).fetchone()
        return None if row is None else _row_to_run(row)

    def find_by_client_request_id(self, client_request_id: str) -> RunRecord | None:
        row = self._db.execute(
            "SELECT * FROM runs WHERE client_request_id=?", (client_request_id,)
        ).fetchone()
        return None if row is None else _row_to_run(row)

    def list_runs(
        self, limit: int = 100, offset: int = 0, sweep_id: str | None = ANY_SWEEP
    ) -> list[RunRecord]:
        """Runs, newest first: all of them (``ANY_SWEEP``), those that are no sweep's trial
        (``sweep_id=None``), or the trials of sweep ``sweep_id``."""
        if sweep_id == ANY_SWEEP:
            where, args = "", ()
        elif sweep_id is None:
            where, args = "WHERE sweep_id IS NULL ", ()
        else:
            where, args = "WHERE sweep_id=? ", (sweep_id,)
        rows = self._db.execute(
            f"SELECT * FROM runs {where}ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?",
            (*args, limit, offset),
        ).fetchall()
        return [_row_to_run(row) for row in rows]

    def active_run_ids(self) -> list[str]:
        marks = ",".join("?" for _ in ACTIVE_STATUSES)
        rows = self._db.execute(
            f"SELECT backtest_id FROM runs WHERE status IN ({marks}) ORDER BY created_at",
            ACTIVE_STATUSES,
        ).fetchall()
        return [row[0] for row in rows]

    def runs_to_prune(self, keep: int, ended_before: str | None = None) -> list[str]:
        """Ended runs to delete, oldest first: those beyond the newest ``keep`` runs (0: no
        limit; runs still going count but are never chosen) and those that ended before the
        ISO time ``ended_before``."""
        return self._to_prune("runs", "backtest_id", keep, ended_before)

    def sweeps_to_prune(self, keep: int, ended_before: str | None = None) -> list[str]:
        """The stream keys (:func:`sweep_key`) of the ended sweeps to delete, chosen as
        :meth:`runs_to_prune` chooses runs (a sweep's trials are runs, pruned as runs)."""
        return [sweep_key(s) for s in self._to_prune("sweeps", "sweep_id", keep, ended_before)]

    def _to_prune(self, table: str, id_column: str, keep: int, ended_before: str | None) -> list:
        chosen: dict[str, None] = {}
        if ended_before is not None:
            rows = self._db.execute(
                f"SELECT {id_column} FROM {table} WHERE finished_at < ? "
                f"AND status NOT IN {_ACTIVE} ORDER BY created_at, rowid",
                (ended_before,),
            )
            chosen.update((row[0], None) for row in rows)
        if keep > 0:
            (stored,) = self._db.execute(f"SELECT count(*) FROM {table}").fetchone()
            excess = stored - len(chosen) - keep
            if excess > 0:
                rows = self._db.execute(
                    f"SELECT {id_column} FROM {table} WHERE status NOT IN {_ACTIVE} "
                    "ORDER BY created_at, rowid"
                )
                for (stream_id,) in rows:
                    if stream_id not in chosen:
                        chosen[stream_id] = None
                        excess -= 1
                        if not excess:
                            break
                rows.close()  # an unfinished statement would hold its read transaction
        return list(chosen)

    def delete_runs(self, keys: Sequence[str]) -> None:
        """Delete runs and sweeps (by stream key: a run's id, :func:`sweep_key`) and their
        events, in one transaction."""
        with self.transaction():
            for key in keys:
                table, id_column, stream_id = _stream_table(key)
                self._db.execute("DELETE FROM event_batches WHERE backtest_id=?", (key,))
                self._db.execute(f"DELETE FROM {table} WHERE {id_column}=?", (stream_id,))

    def reclaim_space(self) -> int:
        """Give the pages of deleted runs back to the file system; return how many (0 in a
        database created before incremental vacuum, whose free pages are reused instead)."""
        (free,) = self._db.execute("PRAGMA freelist_count").fetchone()
        (mode,) = self._db.execute("PRAGMA auto_vacuum").fetchone()
        if not free or mode != 2:  # 2: INCREMENTAL
            return 0
        # executescript steps the pragma to its end; execute would free a single page.
        self._db.executescript("PRAGMA incremental_vacuum")
        return free

    # -- events -------------------------------------------------------------------------

    def append_events(
        self, key: str, first_seq: int, frames: list[str], fields: dict[str, Any]
    ) -> None:
        """Store a batch of frames of stream ``key`` (a run's id, or :func:`sweep_key`)
        numbered from ``first_seq``, and its run's or sweep's new state, in one transaction.
        The batch is one row: a busy run's thousand log lines cost one insert, not a thousand
        (the cost of storing a line fell by about two thirds)."""
        table, id_column, stream_id = _stream_table(key)
        with self.transaction():
            self._insert_batch(key, first_seq, frames)
            self._update(table, id_column, stream_id, fields)
            if table == "runs" and fields.get("status") not in (None, *ACTIVE_STATUSES):
                self._db.execute(f"{_SETTLE_PROGRESS} AND backtest_id=?", (key,))

    def _insert_batch(self, backtest_id: str, first_seq: int, frames: list[str]) -> None:
        self._db.execute(
            "INSERT INTO event_batches (backtest_id, last_seq, first_seq, frames) "
            "VALUES (?, ?, ?, ?)",
            (backtest_id, first_seq + len(frames) - 1, first_seq, _FRAME_SEPARATOR.join(frames)),
        )

    def frames_since(self, backtest_id: str, since: int, limit: int | None = None) -> list[str]:
        """Wire frames of the run's events with ``seq > since``, in order (at most ``limit``)."""
        rows = self._db.execute(
            "SELECT first_seq, frames FROM event_batches WHERE backtest_id=? AND last_seq>? "
            "ORDER BY last_seq",
            (backtest_id, since),
        )
        frames: list[str] = []
        for first_seq, joined in rows:
            batch = joined.split(_FRAME_SEPARATOR)
            skip = max(since + 1 - first_seq, 0)
            frames += batch[skip : None if limit is None else skip + limit - len(frames)]
            if limit is not None and len(frames) >= limit:
                break
        return frames


def _stream_table(key: str) -> tuple[str, str, str]:
    """The table, id column and id of the run or sweep whose stream is ``key``."""
    if key.startswith(SWEEP_KEY_PREFIX):
        return "sweeps", "sweep_id", key[len(SWEEP_KEY_PREFIX) :]
    return "runs", "backtest_id", key


class _Checkpointer:
    """Copies new WAL frames into the database file from a thread and a connection of its
    own, about every ``interval`` seconds while the WAL changes. PASSIVE checkpoints never
    wait for the server's reads or writes, and SQLite releases the GIL while they copy."""

    def __init__(self, path: Path, interval: float):
        self._path = path
        self._wal = Path(f"{path}-wal")
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="qm-sqlite-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        db = sqlite3.connect(str(self._path), isolation_level=None)
        seen = None
        try:
            while not self._stopped.wait(self._interval):
                try:
                    stat = self._wal.stat()
                except FileNotFoundError:
                    continue
                if (stat.st_mtime_ns, stat.st_size) == seen:  # nothing committed since
                    continue
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.OperationalError:  # busy at the moment: the next round copies
                    continue
                seen = (stat.st_mtime_ns, stat.st_size)
        finally:
            db.close()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

"""The event hub: numbers, stores and fans out every run's events.

Everything here runs on the server's event loop thread. ``EventHub.publish`` gives a
batch of drafts contiguous sequence numbers, stores them (and the run's new state) in
one transaction, and only then offers the frames to subscribers, so a subscriber that
replays from the store and then follows live can never see a gap or a duplicate
(``EventHub.batch`` stores many publishes in one transaction, and offers after it).

A :class:`Subscriber` is one client's view of the stream, independent of transport:
a bounded outbox of wire frames plus a per-run cursor. When its outbox is full the
subscriber falls back to reading that run from the store at its own pace (through the
hub's cache of recent chunks, which publish writes through), so a client that keeps
reading is never dropped and never grows the server's memory. A client whose
buffer is full and whose socket has accepted nothing for ``stall_timeout`` seconds is cut
off with a reason, and can resume with ``since``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..events import (
    BACKTEST_PROGRESS,
    BACKTEST_START,
    EVENT_TYPES,
    SWEEP_PROGRESS,
    SWEEP_START,
    SWEEP_TERMINAL_STATUS,
    SWEEP_TOPIC,
    SWEEP_TRIAL,
    TERMINAL_STATUS,
    TOPIC,
    EventDraft,
    dumps,
    utc_now_iso,
)
from .store import SWEEP_KEY_PREFIX, RunRecord, RunStore, SweepRecord, sweep_key

#: Frames a writer is handed at most at once, and the unit of the hub's cache of stored
#: events: a run's frames are cut into chunks at multiples of this seq, one object shared
#: by the run's followers and the cache (see :class:`SharedChunk`).
CHUNK = 256
#: Chunks the cache keeps, over all runs (about 25 MiB: a frame is a few hundred bytes):
#: enough that ten clients lagging well behind one busy run read it from memory.
CACHED_CHUNKS = 256


class SharedChunk(tuple):
    """Consecutive frames of one run as published, offered to all its followers as this
    one object: what a transport builds of it (:meth:`encoded`) is built once for all.

    >>> chunk = SharedChunk(['{"seq":1}', '{"seq":2}'])
    >>> chunk.encoded("array", lambda frames: f"[{','.join(frames)}]".encode())
    b'[{"seq":1},{"seq":2}]'
    """

    def encoded(self, form: str, encode: Callable[[Sequence[str]], bytes]) -> bytes:
        """``encode(self)``, kept on the chunk under ``form`` for the next connection."""
        memo = self.__dict__
        if (wire := memo.get(form)) is None:
            wire = memo[form] = encode(self)
        return wire


@dataclass(frozen=True)
class StreamKind:
    """What differs between the streams the hub numbers, stores and fans out (a run's, a
    sweep's): the envelope's topic and id field, which events end the stream, and how an
    event changes the stream's stored state. Everything else is the same code."""

    topic: str
    id_field: str
    #: The event types the stream may hold (what a publisher elsewhere may send it).
    event_types: frozenset[str]
    terminal: Mapping[str, str]
    state_fields: Callable[[str, dict[str, Any], str], dict[str, Any]]


class UnknownRunError(KeyError):
    """No run has this id."""


class RunClosedError(ValueError):
    """The run already ended; nothing may follow its terminal event."""


class EventHub:
    """Numbers, stores and fans out the events of every run."""

    def __init__(
        self,
        store: RunStore,
        log: logging.Logger | None = None,
        *,
        on_run_end: Callable[[str], None] | None = None,
    ):
        self.store = store
        self.log = log or logging.getLogger(__name__)
        #: Called with a stream's key (a run's id, a sweep's key) once its terminal event is
        #: stored and offered (retention).
        self.on_run_end = on_run_end
        self._heads: dict[str, int] = {}  # open runs -> last seq
        self._subscribers: set[Subscriber] = set()
        # Who is offered a run's events: those following every run, and each run's own.
        # (Idle connections are offered nothing: a thousand of them cost nothing per event.)
        self._following_all: set[Subscriber] = set()
        self._following: dict[str, set[Subscriber]] = {}
        # Recent chunks of stored frames, shared by the subscribers that read a run from the
        # store: written through by publish (so clients lagging behind a live run read it
        # from memory) and filled by reads (ten clients replaying one run cost one SQLite
        # read per chunk, not ten). A cached chunk always equals the store's: publish is
        # the only writer of events, and it extends the (growing, list) chunk it stored into.
        self._chunks: OrderedDict[tuple[str, int], Sequence[str]] = OrderedDict()
        # Inside batch(): what it published, offered once it commits, and the streams it
        # created or wrote (read again from the store if it fails).
        self._batched: list[tuple[str, int, list[SharedChunk], bool]] | None = None
        self._touched: set[str] = set()

    # -- runs ---------------------------------------------------------------------------

    def create_run(
        self,
        request: dict[str, Any],
        *,
        origin: str = "server",
        client_request_id: str | None = None,
        backtest_id: str | None = None,
        sweep_id: str | None = None,
    ) -> RunRecord:
        run = RunRecord(
            backtest_id=backtest_id or uuid.uuid4().hex,
            status="queued",
            origin=origin,
            request=request,
            created_at=utc_now_iso(),
            client_request_id=client_request_id,
            sweep_id=sweep_id,
        )
        self.store.create_run(run)
        self._heads[run.backtest_id] = 0
        self._mark_touched(run.backtest_id)
        return run

    def create_sweep(self, sweep: SweepRecord) -> None:
        self.store.create_sweep(sweep)
        key = sweep_key(sweep.sweep_id)
        self._heads[key] = 0
        self._mark_touched(key)

    def _mark_touched(self, key: str) -> None:
        if self._batched is not None:
            self._touched.add(key)

    def ensure_run(self, backtest_id: str, *, origin: str) -> RunRecord:
        """The run with this id, created (as started elsewhere) if it does not exist yet."""
        run = self.store.get_run(backtest_id)
        return run or self.create_run({}, origin=origin, backtest_id=backtest_id)

    def get_run(self, backtest_id: str) -> RunRecord | None:
        return self.store.get_run(backtest_id)

    def mark_running(self, backtest_id: str) -> None:
        self.store.update_run(backtest_id, status="running", started_at=utc_now_iso())

    # -- events -------------------------------------------------------------------------

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Store everything published, created or marked inside in one transaction (a batch
        inside a batch joins it): a sweep's task that ends a dozen trials commits once, not
        a few times a trial. Subscribers are offered its frames once it committed; if it
        fails, nothing of it was stored or offered, and the streams it wrote are read again
        from the store. Nothing inside may await: the frames wait for the commit."""
        if self._batched is not None:
            yield
            return
        self._batched = []  # and _touched is empty: the last batch emptied it
        try:
            with self.store.transaction():
                yield
        except BaseException:
            for key in self._touched:
                self._heads.pop(key, None)
            for cached in [cached for cached in self._chunks if cached[0] in self._touched]:
                del self._chunks[cached]
            raise
        finally:
            offers, self._batched = self._batched, None
            self._touched = set()
        for offer in offers:
            self._offer(*offer)

    def publish(self, backtest_id: str, drafts: Sequence[EventDraft]) -> int:
        """Number, store and fan out a batch of one stream's events; return the last seq.

        The stream is a run's (its id) or a sweep's (:func:`~.store.sweep_key`).
        """
        kind, stream_id = stream_kind(backtest_id)
        seq = self._open_head(backtest_id)
        first = seq + 1
        frames: list[str] = []
        fields: dict[str, Any] = {}
        ending = kind.terminal.values()
        for draft in drafts:
            if "status" in fields and fields["status"] in ending:
                self.log.warning("Dropped %s after the end of %s", draft.type, backtest_id)
                break
            seq += 1
            frame = dumps(
                {
                    "type": draft.type,
                    "topic": kind.topic,
                    kind.id_field: stream_id,
                    "seq": seq,
                    "timestamp": draft.timestamp,
                    "data": draft.data,
                }
            )
            frames.append(frame)
            fields.update(kind.state_fields(draft.type, draft.data, draft.timestamp))
        if not frames:
            return seq
        fields["last_seq"] = seq
        self.store.append_events(backtest_id, first, frames, fields)
        ended = fields.get("status") in ending
        if ended:
            self._heads.pop(backtest_id, None)
        else:
            self._heads[backtest_id] = seq
        chunks = self._chunk_and_cache(backtest_id, first, frames)
        if self._batched is None:
            self._offer(backtest_id, first, chunks, ended)
        else:
            self._mark_touched(backtest_id)
            self._batched.append((backtest_id, first, chunks, ended))
        return seq

    def _offer(self, backtest_id: str, first: int, chunks: list[SharedChunk], ended: bool) -> None:
        """Hand stored frames to the stream's subscribers (then, at its end, retention)."""
        for subscriber in self._following_all | self._following.get(backtest_id, set()):
            subscriber.offer(backtest_id, first, chunks)
        if ended and self.on_run_end is not None:
            self.on_run_end(backtest_id)

    def delete_runs(self, backtest_ids: Sequence[str]) -> None:
        """Delete ended runs and their events; their followers are told (``unsubscribed``
        with ``"reason": "deleted"``), and nothing of them stays in memory."""
        if not backtest_ids:
            return
        self.store.delete_runs(backtest_ids)
        gone = set(backtest_ids)
        for key in [key for key in self._chunks if key[0] in gone]:
            del self._chunks[key]
        for backtest_id in backtest_ids:
            for subscriber in self._following_all | self._following.pop(backtest_id, set()):
                subscriber.forget_run(backtest_id)

    def stored_chunk(self, backtest_id: str, since: int) -> Sequence[str]:
        """The stored frames after ``since`` to the end of its chunk (fewer at the run's
        head); a whole chunk is the cache's shared object."""
        first = since - since % CHUNK
        chunk = self._cached_chunk(backtest_id, first)
        if since == first and isinstance(chunk, SharedChunk):
            return chunk
        return chunk[since - first :]  # a copy: a growing chunk is extended in place

    def _cached_chunk(self, backtest_id: str, first: int) -> Sequence[str]:
        """Frames ``first + 1 .. first + CHUNK`` (fewer at the run's head), cached."""
        key = (backtest_id, first)
        if (chunk := self._chunks.get(key)) is not None:
            self._chunks.move_to_end(key)
            return chunk
        frames = self.store.frames_since(backtest_id, first, CHUNK)
        chunk = SharedChunk(frames) if len(frames) == CHUNK else frames
        if chunk:  # a chunk still growing is cached too: publish extends it
            self._cache(key, chunk)
        return chunk

    def _chunk_and_cache(
        self, backtest_id: str, first: int, frames: list[str]
    ) -> list[SharedChunk]:
        """Cut just-stored frames (seq ``first`` on) at multiples of CHUNK; extend the
        cached chunks they continue, and cache those they begin."""
        chunks, done = [], 0
        while done < len(frames):
            before = first + done - 1  # the seq before the next frame
            start = before - before % CHUNK
            part = SharedChunk(frames[done : done + start + CHUNK - before])
            chunks.append(part)
            key = (backtest_id, start)
            if (growing := self._chunks.get(key)) is not None:
                growing.extend(part)
                self._chunks[key] = SharedChunk(growing) if len(growing) == CHUNK else growing
                self._chunks.move_to_end(key)
            elif before == start:
                self._cache(key, part if len(part) == CHUNK else list(part))
            done += len(part)
        return chunks

    def _cache(self, key: tuple[str, int], chunk: Sequence[str]) -> None:
        self._chunks[key] = chunk
        if len(self._chunks) > CACHED_CHUNKS:
            self._chunks.popitem(last=False)

    def _open_head(self, key: str) -> int:
        if key in self._heads:
            return self._heads[key]
        state = self.store.stream_state(key)
        if state is None:
            raise UnknownRunError(key)
        status, last_seq = state
        if status in stream_kind(key)[0].terminal.values():
            raise RunClosedError(f"{key} already ended ({status})")
        self._heads[key] = last_seq
        return last_seq

    # -- subscribers --------------------------------------------------------------------

    def add_subscriber(self, subscriber: Subscriber) -> None:
        self._subscribers.add(subscriber)

    def remove_subscriber(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)
        self._following_all.discard(subscriber)
        for backtest_id in subscriber.followed_runs:
            self.unfollow(subscriber, backtest_id)

    def follow(self, subscriber: Subscriber, backtest_id: str | None = None) -> None:
        """Offer ``subscriber`` the events of one run, or of every run (None)."""
        if backtest_id is None:
            self._following_all.add(subscriber)
        else:
            self._following.setdefault(backtest_id, set()).add(subscriber)

    def unfollow(self, subscriber: Subscriber, backtest_id: str | None = None) -> None:
        if backtest_id is None:
            self._following_all.discard(subscriber)
        elif followers := self._following.get(backtest_id):
            followers.discard(subscriber)
            if not followers:
                del self._following[backtest_id]

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def close_subscribers(self) -> None:
        """Close every subscriber (the server is stopping); each transport's writer then
        closes its connection."""
        for subscriber in list(self._subscribers):
            subscriber.close()


def _run_fields(event_type: str, data: dict[str, Any], timestamp: str) -> dict[str, Any]:
    """How an event changes its run's stored state."""
    if event_type == BACKTEST_START:
        return {"status": "running"}
    if event_type == BACKTEST_PROGRESS:
        return {"progress": data}
    status = TERMINAL_STATUS.get(event_type)
    if status is None:
        return {}
    fields: dict[str, Any] = {"status": status, "finished_at": timestamp}
    if status == "completed":
        fields["result"] = data
    else:
        fields["error"] = data
    return fields


def _sweep_fields(event_type: str, data: dict[str, Any], timestamp: str) -> dict[str, Any]:
    """How an event changes its sweep's stored state."""
    if event_type == SWEEP_START:
        return {"status": "running"}
    if event_type == SWEEP_PROGRESS:
        return {"progress": data}
    status = SWEEP_TERMINAL_STATUS.get(event_type)
    if status is None:
        return {}
    if status == "failed":
        return {"status": status, "finished_at": timestamp, "error": data}
    return {"status": status, "finished_at": timestamp, "result": data}


RUN_STREAM = StreamKind(TOPIC, "backtest_id", EVENT_TYPES, TERMINAL_STATUS, _run_fields)
SWEEP_STREAM = StreamKind(
    SWEEP_TOPIC,
    "sweep_id",
    frozenset({SWEEP_START, SWEEP_TRIAL, SWEEP_PROGRESS, *SWEEP_TERMINAL_STATUS}),
    SWEEP_TERMINAL_STATUS,
    _sweep_fields,
)


def stream_kind(key: str) -> tuple[StreamKind, str]:
    """The kind of the stream ``key`` names, and its run's or sweep's id."""
    if key.startswith(SWEEP_KEY_PREFIX):
        return SWEEP_STREAM, key[len(SWEEP_KEY_PREFIX) :]
    return RUN_STREAM, key


class Subscriber:
    """One client's bounded, lossless view of the stream (see the module docstring)."""

    def __init__(
        self,
        hub: EventHub,
        *,
        on_overflow: Callable[[str], None],
        max_buffer: int = 10_000,
        stall_timeout: float = 10.0,
    ):
        self.hub = hub
        self.max_buffer = max_buffer
        self.stall_timeout = stall_timeout
        self._on_overflow = on_overflow
        # Frames in chunks as they came (a publish, a stored chunk): a busy run costs each
        # subscriber one append per batch, not one per event. Chunks are never mutated.
        self._outbox: deque[Sequence[str]] = deque()
        self._buffered = 0  # frames in the outbox
        self._wakeup = asyncio.Event()
        self._follow_all = False
        self._followed: set[str] = set()
        self._cursors: dict[str, int] = {}
        self._lagging: dict[str, None] = {}  # ordered set: runs read from the store next
        self._write_started: float | None = None  # a frame handed out, not yet written
        self.closed = False
        hub.add_subscriber(self)

    # -- what the client asked for --------------------------------------------------------

    def send(self, message: dict[str, Any]) -> None:
        """Queue a control message (a reply to the client)."""
        if self.closed:
            return
        self._outbox.append((dumps(message),))
        self._buffered += 1
        self._wakeup.set()
        if self._buffered > 2 * self.max_buffer:
            self._overflow()

    def follow_all(self) -> None:
        self._follow_all = True
        self.hub.follow(self)

    def unfollow_all(self) -> None:
        self._follow_all = False
        self.hub.unfollow(self)

    @property
    def followed_runs(self) -> frozenset[str]:
        return frozenset(self._followed)

    def follow_run(self, backtest_id: str, since: int = 0) -> None:
        """Replay the run's stored events after ``since``, then follow it live."""
        self._followed.add(backtest_id)
        self.hub.follow(self, backtest_id)
        self._cursors[backtest_id] = since
        self._lagging[backtest_id] = None
        self._wakeup.set()

    def unfollow_run(self, backtest_id: str) -> None:
        self._followed.discard(backtest_id)
        self.hub.unfollow(self, backtest_id)
        self._lagging.pop(backtest_id, None)
        if not self._follow_all:
            self._cursors.pop(backtest_id, None)

    def forget_run(self, backtest_id: str) -> None:
        """The run (or sweep: its stream's key) was deleted: stop reading it, and tell the
        client if it followed it (what it already holds of it is still delivered first)."""
        self._cursors.pop(backtest_id, None)
        self._lagging.pop(backtest_id, None)
        if backtest_id in self._followed:
            self._followed.discard(backtest_id)
            kind, stream_id = stream_kind(backtest_id)
            self.send(
                {
                    "type": "unsubscribed",
                    "topic": kind.topic,
                    kind.id_field: stream_id,
                    "reason": "deleted",
                }
            )

    # -- what the hub delivers ------------------------------------------------------------

    def offer(self, backtest_id: str, first_seq: int, chunks: Sequence[Sequence[str]]) -> None:
        """A batch of one run's frames in chunks, numbered from ``first_seq``, just stored."""
        if self.closed or not (self._follow_all or backtest_id in self._followed):
            return
        if backtest_id in self._lagging:
            return  # the store has them; they are read when the outbox drains
        room = self.max_buffer - self._buffered
        cursor = self._cursors.get(backtest_id, first_seq - 1)
        skip = cursor + 1 - first_seq  # frames this subscriber already has
        if skip < 0:  # a gap (cannot happen while following): the store fills it
            self._lagging[backtest_id] = None
            return
        taken = 0
        for whole in chunks:
            chunk = whole[skip:] if skip else whole
            skip = max(skip - len(whole), 0)
            if len(chunk) > room:  # what does not fit is read from the store later
                self._lagging[backtest_id] = None
                chunk = chunk[: max(room, 0)]
            if chunk:
                self._outbox.append(chunk)
                room -= len(chunk)
                taken += len(chunk)
            if backtest_id in self._lagging:
                break
        if taken:
            self._buffered += taken
            self._cursors[backtest_id] = cursor + taken
            self._wakeup.set()

    # -- what the writer takes --------------------------------------------------------------

    async def next_frames(self, limit: int = CHUNK) -> Sequence[str]:
        """Up to ``limit`` frames to write now (at least one), or [] once closed.

        A shared chunk is handed out whole (its encoding is then shared with the other
        followers of the run); other pieces (replies, parts of chunks) are merged.
        """
        outbox = self._outbox
        while not self.closed:
            if outbox:
                self._write_started = time.monotonic()
                head = outbox[0]
                if isinstance(head, SharedChunk) and len(head) <= limit:
                    outbox.popleft()
                    self._buffered -= len(head)
                    return head
                frames: list[str] = []
                while outbox and len(frames) < limit:
                    chunk, room = outbox.popleft(), limit - len(frames)
                    if len(chunk) > room:
                        outbox.appendleft(chunk[room:])
                        chunk = chunk[:room]
                    frames.extend(chunk)
                self._buffered -= len(frames)
                return frames
            if self._lagging:
                self._read_from_store(next(iter(self._lagging)))
                continue
            self._wakeup.clear()
            await self._wakeup.wait()
        return []

    def wrote(self) -> None:
        """The transport accepted the frames it was given: the client is reading."""
        self._write_started = None

    def progressed(self) -> None:
        """The transport accepted part of its frames: the client is reading, if slowly."""
        if self._write_started is not None:
            self._write_started = time.monotonic()

    @property
    def stalled(self) -> bool:
        """Whether the transport has been stuck on its frames for over ``stall_timeout``."""
        started = self._write_started
        return started is not None and time.monotonic() - started > self.stall_timeout

    def cut_off_if_stalled(self) -> bool:
        """Close a client whose buffer is full (more events wait than it holds: they are read
        from the store) and whose socket is stalled; return whether it was closed.

        The transport's writer checks this while a write waits (also after a run's last
        event); a client that keeps reading, however slowly, is never cut off: its socket
        keeps accepting bytes (:meth:`progressed`).
        """
        full = self._buffered >= self.max_buffer or bool(self._lagging)
        if self.closed or not full or not self.stalled:
            return False
        self._overflow()
        return True

    def _read_from_store(self, backtest_id: str) -> None:
        cursor = self._cursors[backtest_id]
        chunk = self.hub.stored_chunk(backtest_id, cursor)
        if chunk:
            self._outbox.append(chunk)
            self._buffered += len(chunk)
        self._cursors[backtest_id] = cursor = cursor + len(chunk)
        if not chunk or cursor % CHUNK:  # short of its chunk's end: the run's head
            del self._lagging[backtest_id]

    @property
    def buffered(self) -> int:
        return self._buffered

    def _overflow(self) -> None:
        reason = (
            f"slow consumer: buffer full and nothing read for {self.stall_timeout:g}s; "
            "resubscribe with since"
        )
        self.close()
        self._on_overflow(reason)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._outbox.clear()
        self._buffered = 0
        self._wakeup.set()
        self.hub.remove_subscriber(self)

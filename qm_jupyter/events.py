"""The one event envelope that every backtest produces, wherever it runs.

A source (a worker process, a notebook kernel, the seed's logging API) emits
:class:`EventDraft` objects; the server's hub gives each a contiguous per-run ``seq``, and
clients read them back as :class:`Event` objects. Every frame on the wire is strict JSON:
non-finite floats become ``null`` before they leave.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson

PROTOCOL_VERSION = 1
TOPIC = "backtest"
#: The /ws subprotocol of batched framing: each message the server sends is a JSON array of
#: the protocol's messages, in order, so a client reading a busy run takes a few hundred
#: events per message instead of one.
BATCH_SUBPROTOCOL = "qm.batch"

BACKTEST_START = "backtest_start"
BACKTEST_PROGRESS = "backtest_progress"
LOG_ENTRY = "log_entry"
BACKTEST_COMPLETE = "backtest_complete"
BACKTEST_ERROR = "backtest_error"
BACKTEST_CANCELLED = "backtest_cancelled"

EVENT_TYPES = frozenset(
    {
        BACKTEST_START,
        BACKTEST_PROGRESS,
        LOG_ENTRY,
        BACKTEST_COMPLETE,
        BACKTEST_ERROR,
        BACKTEST_CANCELLED,
    }
)
#: Terminal event type -> the run status it leaves behind.
TERMINAL_STATUS = {
    BACKTEST_COMPLETE: "completed",
    BACKTEST_ERROR: "failed",
    BACKTEST_CANCELLED: "cancelled",
}

#: A parameter sweep has a stream of its own (its own contiguous seq), in the same envelope
#: with ``"topic": "sweep"`` and a ``sweep_id``; each of its trials is also a run above.
SWEEP_TOPIC = "sweep"
SWEEP_START = "sweep_start"
SWEEP_TRIAL = "sweep_trial"
SWEEP_PROGRESS = "sweep_progress"
SWEEP_COMPLETE = "sweep_complete"
SWEEP_ERROR = "sweep_error"
SWEEP_CANCELLED = "sweep_cancelled"
#: Terminal sweep event type -> the sweep status it leaves behind.
SWEEP_TERMINAL_STATUS = {
    SWEEP_COMPLETE: "completed",
    SWEEP_ERROR: "failed",
    SWEEP_CANCELLED: "cancelled",
}


def utc_now_iso(epoch_seconds: float | None = None) -> str:
    """A time (default: now) in ISO 8601 UTC with milliseconds: ``2026-01-02T03:04:05.678Z``.

    Called for every event (one per log line), so it avoids building datetime objects and
    formats each second once.
    """
    if epoch_seconds is None:
        epoch_seconds = time.time()
    seconds, millis = divmod(int(epoch_seconds * 1000), 1000)
    return f"{_utc_second(seconds)}.{millis:03d}Z"


@lru_cache(maxsize=8)
def _utc_second(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def json_safe(value: Any) -> Any:
    """Return ``value`` with non-finite floats as ``None`` and numpy scalars as Python ones."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return json_safe(value.item())
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def dumps(obj: Any) -> str:
    """Serialize to strict JSON: non-finite floats become ``null``, numpy values are numbers.

    One call per event on the server's hot path, hence orjson (which writes NaN and
    Infinity as ``null`` by construction); types it does not know go through
    :func:`json_safe`, then ``str``.
    """
    return encode(obj).decode()


def encode(obj: Any) -> bytes:
    """:func:`dumps` as UTF-8 bytes."""
    return orjson.dumps(obj, default=_fallback, option=_OPTIONS)


_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def loads(text: str | bytes) -> Any:
    """Parse a client's JSON strictly, so whatever it holds can be written back out.

    NaN/Infinity literals, numbers beyond a double and lone surrogates are refused with a
    ``ValueError`` that names the position; integers beyond 64 bits become floats (which
    ``json.loads`` would keep as Python ints that :func:`dumps` cannot write).
    """
    return orjson.loads(text)


def _fallback(value: Any) -> Any:
    safe = json_safe(value)
    return str(safe) if safe is value else safe


@dataclass(frozen=True, slots=True)
class EventDraft:
    """An event as its source emits it: no sequence number yet.

    ``data`` may come already encoded (an ``orjson.Fragment`` of :func:`encode`): a worker
    encodes its log lines, so the server frames them without decoding them.
    """

    type: str
    data: dict[str, Any] | orjson.Fragment
    timestamp: str = field(default_factory=utc_now_iso)


def backtest_error(message: str, error_type: str, traceback: str | None = None) -> EventDraft:
    """A run's ``backtest_error``: one shape for every place a run can fail (the engine, a
    dead worker, a stopped kernel or server), which clients read by its fields."""
    return EventDraft(
        BACKTEST_ERROR, {"error": message, "error_type": error_type, "traceback": traceback}
    )


def sweep_error(message: str, error_type: str, counts: dict[str, int]) -> EventDraft:
    """A sweep's ``sweep_error``: why it ended, and the counts of the trials it kept."""
    return EventDraft(SWEEP_ERROR, {"error": message, "error_type": error_type, "counts": counts})


@dataclass(frozen=True, slots=True)
class Event:
    """A stored, numbered event of one run, as a client reads it back."""

    backtest_id: str
    seq: int
    type: str
    timestamp: str
    data: dict[str, Any]

    @property
    def is_terminal(self) -> bool:
        return self.type in TERMINAL_STATUS

"""The one event envelope that every backtest produces, wherever it runs.

A source (a worker process, a notebook kernel, the seed's logging API) emits
:class:`EventDraft` objects; the :class:`~qm_jupyter.hub.EventHub` turns them into
:class:`Event` objects by giving each a contiguous per-run ``seq``. Every frame on
the wire is strict JSON: non-finite floats become ``null`` before they leave.
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


@dataclass(frozen=True, slots=True)
class Event:
    """A stored, numbered event of one run; ``frame`` is its wire form, built once."""

    backtest_id: str
    seq: int
    type: str
    timestamp: str
    data: dict[str, Any]

    @property
    def is_terminal(self) -> bool:
        return self.type in TERMINAL_STATUS

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "topic": TOPIC,
            "backtest_id": self.backtest_id,
            "seq": self.seq,
            "timestamp": self.timestamp,
            "data": self.data,
        }

    def frame(self) -> str:
        return dumps(self.to_dict())

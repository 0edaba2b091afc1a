"""BatchingSink: the first event after a quiet spell leaves at once, a busy stream in batches."""

from __future__ import annotations

import threading

from qm_jupyter.events import EventDraft
from qm_jupyter.sinks import BatchingSink


class RecordingSink(BatchingSink):
    flush_interval = 3600.0  # after a batch the flusher pauses for an hour...
    flush_size = 5  # ...unless this many events wait

    def __init__(self):
        self.batches: list[list[str]] = []
        self.delivered = threading.Semaphore(0)
        super().__init__()

    def deliver(self, batch):
        self.batches.append([draft.data["n"] for _, draft in batch])
        self.delivered.release()


def emit(sink: BatchingSink, *numbers: int) -> None:
    for n in numbers:
        sink.emit("run", EventDraft("log_entry", {"n": n}))


def test_first_event_after_quiet_leaves_alone_then_a_burst_waits_for_its_batch():
    sink = RecordingSink()
    emit(sink, 1)
    assert sink.delivered.acquire(timeout=30)  # no flush() called: the flusher sent it
    emit(sink, 2, 3)
    assert sink.batches == [[1]]  # the flusher is pausing: 2 and 3 wait to be batched
    emit(sink, 4, 5, 6)  # five waiting: the flusher wakes for them
    assert sink.delivered.acquire(timeout=30)
    assert sink.batches == [[1], [2, 3, 4, 5, 6]]
    emit(sink, 7)
    sink.close()  # delivers what is left
    assert sink.batches == [[1], [2, 3, 4, 5, 6], [7]]

"""A sweep's trials in batches: the messages a task's trials stream (jobs.TrialSink), how a
driver takes its trial's share of them (sweep_trials.TrialRun), and how many trials a task
runs (sweep_trials.BatchSizer)."""

from __future__ import annotations

from qm_jupyter.events import (
    BACKTEST_COMPLETE,
    BACKTEST_PROGRESS,
    BACKTEST_START,
    EventDraft,
    loads,
)
from qm_jupyter.jobs import TrialSink
from qm_jupyter.sweep_trials import MAX_BATCH, BatchSizer, TrialRun


def stream(sink: TrialSink, backtest_id: str, *drafts: EventDraft) -> None:
    for draft in drafts:
        sink.emit(backtest_id, draft)


def test_a_tasks_trials_share_its_messages_each_numbered_per_run():
    messages = []
    sink = TrialSink(messages.append, "attempt-1", "tcp://w1", full=False)
    sink.flush_interval = 3600.0  # only close() hands the rest on
    stream(sink, "a", EventDraft(BACKTEST_START, {"n": 1}))
    stream(
        sink, "a", EventDraft(BACKTEST_PROGRESS, {"n": 2}), EventDraft(BACKTEST_COMPLETE, {"n": 3})
    )
    stream(sink, "b", EventDraft(BACKTEST_START, {"n": 4}), EventDraft(BACKTEST_COMPLETE, {}))
    sink.close()
    segments = [
        (m["attempt"], m["worker"], s["run"], s["first"]) for m in messages for s in m["runs"]
    ]
    assert segments[-1] == ("attempt-1", "tcp://w1", "b", 1)
    starts = [loads(e[1]) for m in messages for s in m["runs"] for e in s["events"]]
    assert starts == [{"n": 1}, {"n": 4}]  # a summary trial streams no progress
    assert sink.sent == {"a": 1, "b": 1}
    assert sink.terminals["a"].data == {"n": 3} and sink.terminals["b"].type == BACKTEST_COMPLETE


def test_a_trial_takes_its_segment_and_a_new_attempt_says_it_was_retried():
    trial = TrialRun("a", {"fast": 5}, token=0)
    first = {"attempt": "x", "worker": "w1", "runs": []}
    segment = {"run": "a", "first": 1, "events": [["backtest_start", "{}", "t"]]}
    assert trial.take(first, segment) == ([], [["backtest_start", "{}", "t"]], 0)
    later = {"run": "a", "first": 3, "events": [["log_entry", "{}", "t"]]}
    assert trial.take(first, later) == ([], [["log_entry", "{}", "t"]], 1)  # one went missing
    rerun = {"attempt": "y", "worker": "w2", "runs": []}
    notices, events, lost = trial.take(rerun, segment)
    assert "retried on w2 (attempt 2)" in notices[0].data["message"]
    assert (len(events), lost) == (1, 0)
    assert trial.take(first, later) is None  # a late message of the lost attempt


def test_short_trials_go_in_batches_of_about_a_quarter_second_and_tpe_one_by_one():
    grid = BatchSizer("grid")
    assert grid.size(threads=2, left=100) == 1  # a trial's duration is not known yet
    grid.time({"duration": 0.03})
    grid.time({"duration": 0.05})
    assert grid.size(threads=2, left=100) == 6  # 0.25 s / 0.04 s
    assert grid.size(threads=2, left=12) == 3  # what is left still makes 2 tasks a thread
    assert grid.size(threads=2, left=2) == 1
    grid.time({"duration": 0.0})
    grid.seconds = 0.0
    assert grid.size(threads=1, left=1000) == MAX_BATCH
    grid.time(None)  # a failed trial teaches nothing
    slow = BatchSizer("random")
    slow.time({"duration": 2.0})
    assert slow.size(threads=2, left=100) == 1
    tpe = BatchSizer("tpe")
    tpe.time({"duration": 0.001})
    assert tpe.size(threads=2, left=100) == 1

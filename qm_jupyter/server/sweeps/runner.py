"""SweepRunner: runs parameter sweeps on Dask and puts every trial on the event stream.

Each sweep is one asyncio task on the server's loop, driving Dask's asynchronous client (no
Dask call blocks the loop; Optuna's run in a thread). It reads the data once, ships it to
the workers once, and keeps a few tasks in flight per worker thread, asking its search for
the next combinations as trials end; a task runs a batch of trials when they are short.

Every trial is a run of its own (a ``backtest_id`` with the sweep's id) whose events come
over Dask's connection only: the task streams them in messages on the sweep's event topic
(``Worker.log_event``), and returns each trial's terminal event, which the server publishes
once the events the task sent for it have arrived (or after a short wait: a lost message
never loses an end). A task that Dask reruns after its worker died announces a new attempt;
its trials' runs say so, and the sweep shows each trial once, with its attempt number.

Cancelling is cooperative, as Dask cannot stop a running task: queued trials are cancelled,
running ones see a flag set in every worker process at their next progress point, and any
still running after a grace period are dropped (their worker finishes them unseen).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
import uuid
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from ...engine import DataError, ParamError, get_strategy, load_prices, validate_params
from ...engine.registry import StrategyLike
from ...events import (
    BACKTEST_COMPLETE,
    LOG_ENTRY,
    SWEEP_CANCELLED,
    SWEEP_COMPLETE,
    SWEEP_PROGRESS,
    SWEEP_START,
    SWEEP_TRIAL,
    EventDraft,
    backtest_error,
    loads,
    sweep_error,
    utc_now_iso,
)
from ...jobs import Job, TrialBatch, TrialOutcome, cancel_sweep, run_trials, sweep_data
from ...sweep_spec import Search, Tally, TrialEntry, make_search
from ...sweep_trials import (
    CANCEL_GRACE,
    EVENT_WAIT,
    PROGRESS_INTERVAL,
    BatchSizer,
    TrialRun,
    ask_combinations,
    in_flight_limit,
    sweep_progress,
    task_failure,
    task_futures,
    waiting_futures,
)
from ..hub import EventHub, RunClosedError
from ..store import SweepRecord, sweep_key
from ..strategy_catalog import USER_MODULE_PREFIX
from .cluster import ClusterUnavailable, DaskCluster
from .request import SweepRequest, parse_sweep_request


@dataclass(frozen=True)
class SweepLimits:
    """What a sweep may ask for, and how its trials report."""

    max_trials: int = 10_000
    max_sample_bars: int = 50_000_000
    max_data_file_bytes: int = 4 * 1024**3
    progress_every: int = 100
    max_progress_rate: float = 20.0


@dataclass
class _Trial(TrialRun):
    """A trial in flight on the server's loop: set when a batch of it arrives, its entry
    once it ended, and whether it ended with the scheduler's connection."""

    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    entry: TrialEntry | None = None
    lost_scheduler: bool = False


@dataclass
class _Sweep:
    record: SweepRecord
    request: SweepRequest
    tally: Tally
    key: str
    topic: str
    started: float = field(default_factory=time.monotonic)
    trials: dict[str, _Trial] = field(default_factory=dict)
    ended: asyncio.Queue = field(default_factory=asyncio.Queue)
    cancelling: bool = False
    task: asyncio.Task | None = None
    threads: int = 1
    last_progress: float = float("-inf")
    progress_due: bool = False


def _shippable(name: str) -> StrategyLike:
    """What a Dask worker can run: a strategy's name, or, for one loaded from a strategy
    file of this server (which the cluster's workers may not see), its class, pickled by
    value with its module."""
    cls = get_strategy(name)
    if not cls.__module__.startswith(USER_MODULE_PREFIX):
        return name
    import cloudpickle  # distributed's own serializer

    cloudpickle.register_pickle_by_value(sys.modules[cls.__module__])
    return cls


class SchedulerLost(RuntimeError):
    """The client lost its scheduler while trials were in flight."""


class SweepRunner:
    """Starts, cancels, recovers and describes sweeps."""

    def __init__(
        self,
        hub: EventHub,
        cluster: DaskCluster,
        *,
        root_dir: str | Path,
        limits: SweepLimits | None = None,
        log: logging.Logger | None = None,
    ):
        self.hub = hub
        self.cluster = cluster
        self.root_dir = str(root_dir)
        self.limits = limits or SweepLimits()
        self.log = log or logging.getLogger(__name__)
        self._sweeps: dict[str, _Sweep] = {}

    # -- requests ------------------------------------------------------------------------

    def submit(self, body: Any) -> tuple[SweepRecord, bool]:
        """Start a sweep (its task runs on the loop); return it and whether it is new."""
        limits = self.limits
        request = parse_sweep_request(
            body,
            root_dir=self.root_dir,
            max_sample_bars=limits.max_sample_bars,
            max_file_bytes=limits.max_data_file_bytes,
            max_trials=limits.max_trials,
        )
        run, spec = request.run, request.spec
        if run.client_request_id:
            existing = self.hub.store.find_sweep_by_client_request_id(run.client_request_id)
            if existing is not None:
                return existing, False
        record = SweepRecord(
            sweep_id=uuid.uuid4().hex,
            status="running",
            request=request.to_dict(),
            created_at=utc_now_iso(),
            total_trials=spec.total_trials,
            client_request_id=run.client_request_id,
        )
        self.hub.create_sweep(record)
        sweep = _Sweep(
            record,
            request,
            Tally(spec.metric, spec.direction, spec.total_trials),
            sweep_key(record.sweep_id),
            f"qm-sweep-{record.sweep_id}",
        )
        self._publish(
            sweep,
            SWEEP_START,
            {
                "strategy": run.strategy,
                "method": spec.method,
                "total_trials": spec.total_trials,
                "grid": spec.grid,
                "params": spec.params,
                "objective": spec.objective,
                "seed": spec.seed,
                "data": run.data,
            },
        )
        self._sweeps[record.sweep_id] = sweep
        sweep.task = asyncio.ensure_future(self._run(sweep))
        return record, True

    def cancel(self, sweep_id: str) -> bool:
        """Ask a running sweep to stop; False if it is not running here."""
        sweep = self._sweeps.get(sweep_id)
        if sweep is None:
            return False
        sweep.cancelling = True
        sweep.ended.put_nowait(None)  # wakes the sweep's task
        return True

    def recover(self) -> None:
        """End the sweeps that a previous server left running: their finished trials are
        kept (the stream holds them); the rest can never run."""
        for sweep_id in self.hub.store.running_sweep_ids():
            record = self.hub.store.get_sweep(sweep_id)
            tally = self.tally(record)
            self.hub.publish(
                sweep_key(sweep_id),
                [
                    sweep_error(
                        "the server stopped while this sweep was running",
                        "ServerRestarted",
                        tally.counts,
                    )
                ],
            )

    async def stop(self) -> None:
        """End the sweeps still running (as ``sweep_error``) and disconnect from Dask."""
        for sweep in list(self._sweeps.values()):
            if sweep.task is not None:
                sweep.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweep.task
        await self.cluster.close()

    # -- what the REST API shows ----------------------------------------------------------

    def trials(self, sweep_id: str) -> list[dict[str, Any]]:
        """The sweep's trials as they ended: its stream's ``sweep_trial`` events."""
        frames = self.hub.store.frames_since(sweep_key(sweep_id), 0)
        events = (loads(frame) for frame in frames if f'"type":"{SWEEP_TRIAL}"' in frame)
        return [event["data"] for event in events]

    def tally(self, record: SweepRecord, trials: list[dict[str, Any]] | None = None) -> Tally:
        request = record.request
        metric, direction = request["metric"], request["direction"]
        tally = Tally(metric, direction, record.total_trials)
        for entry in self.trials(record.sweep_id) if trials is None else trials:
            tally.add(entry)
        return tally

    def describe(self, record: SweepRecord) -> dict[str, Any]:
        """``GET /api/v1/sweep/{id}``: the sweep, its counts, best trial and every trial."""
        trials = self.trials(record.sweep_id)
        tally = self.tally(record, trials)
        return {
            **self.summary(record),
            "counts": tally.counts,
            "best": tally.best,
            "trials": trials,
        }

    def summary(self, record: SweepRecord) -> dict[str, Any]:
        """A sweep without its trials, for listings (counts as of its latest progress)."""
        request = record.request
        reported = record.result or record.error or record.progress or {}
        return {
            "sweep_id": record.sweep_id,
            "status": record.status,
            "origin": record.origin,
            "strategy": request["strategy"],
            "data": request["data"],
            "grid": request["grid"],
            "params": request["params"],
            "method": request["method"],
            "seed": request["seed"],
            "objective": {"metric": request["metric"], "direction": request["direction"]},
            "total_trials": record.total_trials,
            "counts": reported.get("counts"),
            "best": reported.get("best"),
            "error": record.error,
            "client_request_id": record.client_request_id,
            "created_at": record.created_at,
            "finished_at": record.finished_at,
            "last_seq": record.last_seq,
        }

    # -- a sweep's task -------------------------------------------------------------------

    async def _run(self, sweep: _Sweep) -> None:
        client = data = None
        try:
            prices = await asyncio.to_thread(load_prices, sweep.request.run.data, self.root_dir)
            client = await self.cluster.client()
            search = await asyncio.to_thread(make_search, sweep.request.spec)
            data = client.submit(sweep_data, prices, key=f"qm-data-{sweep.record.sweep_id}")
            client.subscribe_topic(sweep.topic, partial(self._on_events, sweep))
            await self._drive(sweep, client, search, data)
            self._progress(sweep, force=True)
            ending = SWEEP_CANCELLED if sweep.cancelling else SWEEP_COMPLETE
            self._publish(sweep, ending, self._final(sweep))
        except asyncio.CancelledError:
            self._fail(sweep, "the server stopped while this sweep was running", "ServerStopped")
        except DataError as error:
            self._fail(sweep, f"cannot read the sweep's data: {error}", "DataError")
        except ClusterUnavailable as error:
            self._fail(sweep, str(error), "SchedulerUnreachable")
        except SchedulerLost as error:
            self._fail(sweep, str(error), "SchedulerLost")
        except Exception as error:
            self.log.exception("Sweep %s failed", sweep.record.sweep_id)
            self._fail(sweep, f"{type(error).__name__}: {error}", type(error).__name__)
        finally:
            self._sweeps.pop(sweep.record.sweep_id, None)
            if data is not None:
                data.release()
            if client is not None:
                with contextlib.suppress(Exception):
                    client.unsubscribe_topic(sweep.topic)

    async def _drive(self, sweep: _Sweep, client: Any, search: Search, data: Any) -> None:
        """Keep the cluster's threads busy with trials until the search is done (or the
        sweep is cancelled), handling each trial as it ends."""
        spec = sweep.request.spec
        loop = asyncio.get_running_loop()
        sizer = BatchSizer(spec.method)
        in_flight: dict[str, _Trial] = {}
        followers: set[asyncio.Task] = set()
        asked, done = 0, spec.total_trials == 0
        cancel_deadline: float | None = None
        try:
            while True:
                if not sweep.cancelling and not done:
                    sweep.threads = await self.cluster.threads()
                    window = in_flight_limit(sweep.threads, spec.method)
                    while len(task_futures(in_flight.values())) < window and not done:
                        size = sizer.size(sweep.threads, spec.total_trials - asked)
                        batch, exhausted = await self._next_batch(sweep, search, size)
                        asked += size
                        done = exhausted or asked >= spec.total_trials
                        if batch:
                            self._submit(sweep, client, data, batch)
                            in_flight.update((trial.backtest_id, trial) for trial in batch)
                            follower = asyncio.ensure_future(self._follow(sweep, batch))
                            followers.add(follower)
                            follower.add_done_callback(followers.discard)
                if not in_flight and (sweep.cancelling or done):
                    return
                if sweep.cancelling and cancel_deadline is None:
                    cancel_deadline = loop.time() + CANCEL_GRACE
                    await self._cancel_trials(sweep, client, in_flight.values())
                elif cancel_deadline is not None and loop.time() > cancel_deadline:
                    await client.cancel(task_futures(in_flight.values()), force=True)
                    cancel_deadline = float("inf")
                try:
                    trial = await asyncio.wait_for(sweep.ended.get(), PROGRESS_INTERVAL)
                except TimeoutError:
                    trial = None
                if trial is not None:
                    del in_flight[trial.backtest_id]
                    if trial.lost_scheduler:
                        raise SchedulerLost(
                            f"lost the connection to the Dask scheduler at {self.cluster.where}"
                        )
                    entry = trial.entry
                    sizer.time(entry.metrics if entry else None)
                    objective = entry.objective if entry else None
                    await asyncio.to_thread(search.tell, trial.token, objective)
                self._progress(sweep)
        finally:
            for follower in followers:
                follower.cancel()
            with self.hub.batch():
                for trial in in_flight.values():
                    if trial.entry is None:
                        self._end_trial_run(
                            trial,
                            backtest_error(
                                "the sweep ended while this trial was in flight", "SweepEnded"
                            ),
                        )

    async def _next_batch(
        self, sweep: _Sweep, search: Search, size: int
    ) -> tuple[list[_Trial], bool]:
        """The next ``size`` combinations' trials (those the strategy rejects are recorded
        as skipped), and whether the search ran out of combinations."""
        combos = await asyncio.to_thread(ask_combinations, search, size)
        batch, rejected = [], []
        with self.hub.batch():  # their runs created in one commit
            for token, combo in combos:
                trial = self._new_trial(sweep, token, combo)
                if trial is None:
                    rejected.append(token)
                else:
                    batch.append(trial)
        for token in rejected:
            await asyncio.to_thread(search.tell, token, None)
        return batch, len(combos) < size

    def _new_trial(self, sweep: _Sweep, token: Any, combo: dict[str, Any]) -> _Trial | None:
        """A combination's run, or None when the strategy's own checks reject it (recorded
        as skipped)."""
        try:
            params = validate_params(
                sweep.request.run.strategy, {**sweep.request.run.params, **combo}
            )
        except ParamError as error:
            self._record(sweep, TrialEntry(None, combo, "skipped", error=str(error)))
            return None
        run = self.hub.create_run(
            sweep.request.trial_request(params), origin="sweep", sweep_id=sweep.record.sweep_id
        )
        trial = _Trial(run.backtest_id, params, token)
        sweep.trials[run.backtest_id] = trial
        return trial

    def _submit(self, sweep: _Sweep, client: Any, data: Any, batch: list[_Trial]) -> None:
        """Submit a batch of trials as one task."""
        request = sweep.request.run
        strategy = _shippable(request.strategy)
        jobs = tuple(
            Job(
                backtest_id=trial.backtest_id,
                strategy=strategy,
                params=trial.params,
                data={},  # the shipped frame takes its place on the worker
                initial_balance=request.initial_balance,
                commission=request.commission,
                periods_per_year=request.periods_per_year,
                progress_every=self.limits.progress_every,
                max_progress_rate=self.limits.max_progress_rate,
                root_dir=None,
                settings=request.settings,
            )
            for trial in batch
        )
        full = sweep.request.spec.trial_events == "full"
        future = client.submit(
            run_trials,
            TrialBatch(sweep.record.sweep_id, sweep.topic, jobs, full),
            data,
            key=f"qm-trials-{batch[0].backtest_id}",
            pure=False,
        )
        for trial in batch:
            trial.future = future

    async def _follow(self, sweep: _Sweep, batch: list[_Trial]) -> None:
        """Await one task; publish each of its trials' ends on its run, and its entry on the
        sweep."""
        future = batch[0].future
        try:
            outcomes: list[TrialOutcome] = await future
            future.release()  # the results are in hand: the cluster may forget them
        except Exception as error:  # cancelled (by us, or with the lost scheduler), or a crash
            lost = not sweep.cancelling and getattr(future, "status", "") == "cancelled"
            with self.hub.batch():
                for trial in batch:
                    trial.lost_scheduler = lost
                    ending = (
                        backtest_error(
                            f"lost the connection to the Dask scheduler at {self.cluster.where}",
                            "SchedulerLost",
                        )
                        if lost
                        else task_failure(error, sweep.cancelling)
                    )
                    self._end_trial(sweep, trial, ending, None)
            return
        # Each trial in turn: its attempt settled, its events awaited, its end published;
        # each step for the whole task at once (a commit each, not a few per trial).
        with self.hub.batch():
            for trial, outcome in zip(batch, outcomes, strict=True):
                before = trial.attempts
                notice = trial.settle(outcome)  # no message of this attempt came first
                if before == 0:
                    self.hub.mark_running(trial.backtest_id)
                elif notice is not None:
                    self._publish_run(trial.backtest_id, [notice])
        for trial, outcome in zip(batch, outcomes, strict=True):
            await self._await_events(trial, outcome)
        with self.hub.batch():
            for trial, outcome in zip(batch, outcomes, strict=True):
                complete = outcome.terminal_type == BACKTEST_COMPLETE
                # A completed trial's result (its chart: hundreds of KB) is framed as it came.
                data = orjson.Fragment if complete else orjson.loads
                ending = EventDraft(outcome.terminal_type, data(outcome.terminal_data))
                self._end_trial(sweep, trial, ending, outcome.metrics if complete else None)

    def _end_trial(
        self, sweep: _Sweep, trial: _Trial, ending: EventDraft, metrics: dict[str, Any] | None
    ) -> None:
        """Publish a trial's end on its run and its entry on the sweep; hand it back to the
        sweep's task."""
        self._end_trial_run(trial, ending)
        trial.entry = trial.to_entry(ending, metrics, sweep.request.spec.metric)
        self._record(sweep, trial.entry)
        sweep.ended.put_nowait(trial)

    async def _await_events(self, trial: _Trial, outcome: TrialOutcome) -> None:
        """Wait (a little) for the batches the trial's task sent before it returned."""
        deadline = time.monotonic() + EVENT_WAIT
        while trial.missing_events(outcome):
            left = deadline - time.monotonic()
            if left <= 0:
                return
            trial.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(trial.arrived.wait(), left)

    async def _cancel_trials(self, sweep: _Sweep, client: Any, trials: Any) -> None:
        """Drop the tasks not started; flag the running ones to stop (their trials not
        started end as cancelled, the finished ones are kept)."""
        waiting = waiting_futures(trials)
        if waiting:
            await client.cancel(waiting)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.run(cancel_sweep, sweep.record.sweep_id), 1.0)

    def _on_events(self, sweep: _Sweep, event: tuple[float, dict[str, Any]]) -> None:
        """A message of a task's trials' events from the sweep's Dask topic (on the loop)."""
        message = event[1]
        with self.hub.batch():  # the message's trials' events in one commit
            for segment in message["runs"]:
                self._take_segment(sweep, message, segment)

    def _take_segment(self, sweep: _Sweep, message: dict[str, Any], segment: dict) -> None:
        """Publish one trial's part of a message."""
        trial = sweep.trials.get(segment["run"])
        if trial is None or trial.entry is not None:
            return
        before = trial.attempts
        taken = trial.take(message, segment)
        if taken is None:
            return  # a late message of an attempt whose worker was lost
        notices, events, lost = taken
        if before == 0:
            self.hub.mark_running(trial.backtest_id)
        if lost:
            self.log.warning("Trial %s: %d events lost on the way", trial.backtest_id, lost)
        drafts = [
            EventDraft(
                kind, orjson.Fragment(data) if kind == LOG_ENTRY else orjson.loads(data), stamp
            )
            for kind, data, stamp in events
        ]
        if notices or drafts:
            self._publish_run(trial.backtest_id, [*notices, *drafts])
        trial.arrived.set()

    # -- publishing -------------------------------------------------------------------------

    def _record(self, sweep: _Sweep, entry: TrialEntry) -> None:
        data = entry.to_dict()
        sweep.tally.add(data)
        sweep.progress_due = True
        self._publish(sweep, SWEEP_TRIAL, data)

    def _progress(self, sweep: _Sweep, *, force: bool = False) -> None:
        """A ``sweep_progress`` when trials ended since the last, at most every
        PROGRESS_INTERVAL seconds (and always at the end)."""
        now = time.monotonic()
        if not force and (not sweep.progress_due or now - sweep.last_progress < PROGRESS_INTERVAL):
            return
        sweep.progress_due, sweep.last_progress = False, now
        running = sum(1 for t in sweep.trials.values() if t.entry is None and t.attempt)
        total = sweep.request.spec.total_trials
        data = sweep_progress(sweep.tally, sweep.started, total, running, sweep.threads)
        self._publish(sweep, SWEEP_PROGRESS, data)

    def _final(self, sweep: _Sweep) -> dict[str, Any]:
        tally = sweep.tally
        return {
            "counts": tally.counts,
            "best": tally.best,
            "duration": time.monotonic() - sweep.started,
        }

    def _fail(self, sweep: _Sweep, message: str, error_type: str) -> None:
        self._progress(sweep, force=True)
        draft = sweep_error(message, error_type, sweep.tally.counts)
        draft.data["best"] = sweep.tally.best
        self.hub.publish(sweep.key, [draft])

    def _publish(self, sweep: _Sweep, event_type: str, data: dict[str, Any]) -> None:
        self.hub.publish(sweep.key, [EventDraft(event_type, data)])

    def _end_trial_run(self, trial: _Trial, ending: EventDraft) -> None:
        self._publish_run(trial.backtest_id, [ending])

    def _publish_run(self, backtest_id: str, drafts: list[EventDraft]) -> None:
        try:
            self.hub.publish(backtest_id, drafts)
        except RunClosedError:
            self.log.debug("Trial %s already ended; dropped %d events", backtest_id, len(drafts))

"""Sweeps of a strategy defined in the notebook (or on a DataFrame), driven by this kernel on
Dask.

The trials run where the server's sweeps run when a server says where its Dask scheduler is
(``GET api/v1/sweep/cluster``); otherwise on a local cluster of this kernel's own (worker
processes, started on the first sweep, closed when the kernel exits). The kernel reads the
data once and scatters it to every worker once; it keeps a few tasks in flight per worker
thread, asking its search for the next combinations as trials end; a task runs a batch of
trials when they are short.

Each trial is a run with a ``backtest_id`` of its own: its events come back over Dask's
connection (the sweep's event topic, see :func:`qm_jupyter.jobs.run_trials`) and its end in
the task's result; they go to this kernel's sink (the kernel's displays, and the server's
hub when one is reachable), like any kernel run's. The sweep's own ``sweep_*`` events fold
into its handle and, with a server, are published to ``api/v1/sweep/{id}/events``.
Cancelling is cooperative (Dask cannot stop a running task): queued trials are dropped,
running ones see a flag at their next progress point, stragglers are dropped after a grace.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..engine import (
    ParamError,
    load_prices,
    validate_data_spec,
    validate_params,
)
from ..engine.registry import StrategyLike, as_strategy
from ..events import (
    BACKTEST_COMPLETE,
    SWEEP_CANCELLED,
    SWEEP_COMPLETE,
    SWEEP_PROGRESS,
    SWEEP_START,
    SWEEP_TRIAL,
    EventDraft,
    loads,
    sweep_error,
)
from ..jobs import TrialBatch, TrialOutcome, cancel_sweep, run_trials
from ..sinks import BatchingSink
from ..sweep_spec import SweepSpec, Tally, TrialEntry, make_search, scalar_metrics
from ..sweep_trials import (
    CANCEL_GRACE,
    EVENT_WAIT,
    LOCAL_CLUSTER_OPTIONS,
    PROGRESS_INTERVAL,
    BatchSizer,
    TrialRun,
    ask_combinations,
    cluster_threads,
    in_flight_limit,
    sweep_progress,
    task_failure,
    task_futures,
    waiting_futures,
)
from .connection import ServerConnection, ServerError
from .kernel_sink import KernelSink
from .publisher import this_kernel_id
from .settings import RunSettings, describe_source
from .sweep import Sweep, SweepState

#: Worker processes (one thread each) of the kernel's own local cluster.
LOCAL_WORKERS = os.cpu_count() or 1
#: Seconds to reach a Dask scheduler.
CONNECT_TIMEOUT = 10.0
#: How long a shutting-down kernel waits for each of its sweeps to stop.
EXIT_GRACE = 3.0

log = logging.getLogger(__name__)


def start_kernel_sweep(
    sink: KernelSink,
    strategy: StrategyLike,
    data: pd.DataFrame | dict[str, Any],
    spec: SweepSpec,
    settings: RunSettings,
) -> Sweep:
    """Check the settings and read the data here (a mistake raises now), then drive the
    sweep from a thread; the returned handle follows it."""
    settings.check()
    root_dir = sink.server.root_dir if sink.server is not None else None
    source = data if isinstance(data, pd.DataFrame) else validate_data_spec(data, root_dir)
    prices = load_prices(source, root_dir)
    sweep_id = uuid.uuid4().hex
    description = {
        "strategy": as_strategy(strategy).name,
        "method": spec.method,
        "total_trials": spec.total_trials,
        "grid": spec.grid,
        "params": spec.params,
        "objective": spec.objective,
        "seed": spec.seed,
        "data": describe_source(data),
    }
    driver = _KernelSweep(sink, strategy, prices, spec, settings, sweep_id, description)
    driver.thread.start()
    return driver.sweep


@dataclass
class _Trial(TrialRun):
    """A trial in flight, and whether its end was taken (later batches are dropped)."""

    ended: bool = False


class _KernelSweep:
    """Drives one sweep: asks the search, submits trials, folds and publishes their ends."""

    def __init__(
        self,
        sink: KernelSink,
        strategy: StrategyLike,
        prices: pd.DataFrame,
        spec: SweepSpec,
        settings: RunSettings,
        sweep_id: str,
        description: dict[str, Any],
    ):
        self.sink = sink
        # Workers get the class itself: a name registered in this kernel means nothing there.
        self.strategy = as_strategy(strategy) if isinstance(strategy, str) else strategy
        self.prices = prices
        self.spec = spec
        self.settings = settings
        self.description = description
        self.sweep_id = sweep_id
        self.topic = f"qm-sweep-{self.sweep_id}"
        self.tally = Tally(spec.metric, spec.direction, spec.total_trials)
        self.server = sink.server
        self.publisher = (
            SweepPublisher(self.server, self.sweep_id, self.description)
            if self.server is not None
            else None
        )
        self.sweep = Sweep(SweepState(sweep_id, description), where="kernel", cancel=self.cancel)
        self.cancelling = False
        self.started = time.monotonic()
        self.threads = 1
        self._trials: dict[str, _Trial] = {}
        self._arrived = threading.Condition()
        #: Trials whose task ended (put there from Dask's thread), for the sweep's thread.
        self._ended: queue.Queue[_Trial] = queue.Queue()
        self._last_progress = float("-inf")
        self._progress_due = False
        self.thread = threading.Thread(
            target=self._run, name=f"qm-sweep-{self.sweep_id[:8]}", daemon=True
        )

    def cancel(self) -> None:
        self.cancelling = True

    # -- the sweep's thread ------------------------------------------------------------------

    def _run(self) -> None:
        _running[self.sweep_id] = self
        client = None
        try:
            self._emit(EventDraft(SWEEP_START, self.description))
            client = kernel_client(self.server)
            self._drive(client)
            self._progress(force=True)
            ending = SWEEP_CANCELLED if self.cancelling else SWEEP_COMPLETE
            duration = time.monotonic() - self.started
            counts, best = self.tally.counts, self.tally.best
            self._emit(EventDraft(ending, {"counts": counts, "best": best, "duration": duration}))
        except Exception as error:
            self._progress(force=True)
            draft = sweep_error(f"{error}", type(error).__name__, self.tally.counts)
            draft.data["best"] = self.tally.best
            self._emit(draft)
        finally:
            _running.pop(self.sweep_id, None)
            if client is not None:
                client.unsubscribe_topic(self.topic)
            self.sink.flush()  # the server holds the trials' ends before the handle resolves
            if self.publisher is not None:
                self.publisher.close()
            self.sweep._finish()

    def _drive(self, client: Any) -> None:
        """Keep the cluster's threads busy until the search is done or the sweep cancelled."""
        data = client.scatter(self.prices, broadcast=True, hash=False)
        client.subscribe_topic(self.topic, self._on_events)
        search = make_search(self.spec)
        sizer = BatchSizer(self.spec.method)
        self.threads = cluster_threads(client.scheduler_info())
        window = in_flight_limit(self.threads, self.spec.method)
        in_flight: dict[str, _Trial] = {}
        asked, total = 0, self.spec.total_trials
        done = total == 0
        cancel_deadline: float | None = None
        while True:
            while not (self._cancelled() or done) and (
                len(task_futures(in_flight.values())) < window
            ):
                size = sizer.size(self.threads, total - asked)
                batch, exhausted = self._start_batch(client, data, search, size)
                asked += size
                done = exhausted or asked >= total
                in_flight.update((trial.backtest_id, trial) for trial in batch)
            if not in_flight:
                return
            if self._cancelled() and cancel_deadline is None:
                cancel_deadline = time.monotonic() + CANCEL_GRACE
                with self._arrived:  # attempts change on Dask's thread
                    waiting = waiting_futures(in_flight.values())
                client.cancel(waiting)
                client.run(cancel_sweep, self.sweep_id)
            elif cancel_deadline is not None and time.monotonic() > cancel_deadline:
                client.cancel(task_futures(in_flight.values()), force=True)
                cancel_deadline = float("inf")
            try:
                ended = [self._ended.get(timeout=PROGRESS_INTERVAL)]
            except queue.Empty:
                ended = []
            while not self._ended.empty():
                ended.append(self._ended.get())
            for trial in ended:
                del in_flight[trial.backtest_id]
                entry = self._end(trial)
                sizer.time(entry.metrics)
                search.tell(trial.token, entry.objective)
            self._progress()

    def _cancelled(self) -> bool:
        """Cancelled here, or on the server (e.g. from the IDE)."""
        if not self.cancelling and self.publisher is not None:
            self.cancelling = self.publisher.cancel_requested
        return self.cancelling

    def _start_batch(
        self, client: Any, data: Any, search: Any, size: int
    ) -> tuple[list[_Trial], bool]:
        """Submit the next ``size`` combinations as one task (those the strategy rejects are
        recorded as skipped); return its trials and whether the search ran out."""
        combos = ask_combinations(search, size)
        batch = []
        for token, combo in combos:
            trial = self._new_trial(token, combo)
            if trial is None:
                search.tell(token, None)
            else:
                batch.append(trial)
        if batch:
            self._submit(client, data, batch)
        return batch, len(combos) < size

    def _new_trial(self, token: Any, combination: dict[str, Any]) -> _Trial | None:
        """A combination's run, or None when the strategy's own checks reject it (recorded
        as skipped)."""
        try:
            params = validate_params(self.strategy, {**self.spec.params, **combination})
        except ParamError as error:
            self._record(TrialEntry(None, combination, "skipped", error=str(error)))
            return None
        backtest_id = uuid.uuid4().hex
        request = self.settings.request(
            self.description["strategy"], params, self.description["data"]
        )
        self.sink.describe(backtest_id, {**request, "sweep_id": self.sweep_id})
        trial = _Trial(backtest_id, params, token)
        with self._arrived:
            self._trials[backtest_id] = trial
        return trial

    def _submit(self, client: Any, data: Any, batch: list[_Trial]) -> None:
        """Submit a batch of trials as one task; each trial ends in turn when it returns."""
        # The scattered frame takes the data's place on the worker.
        jobs = tuple(
            self.settings.job(t.backtest_id, self.strategy, t.params, {}, None) for t in batch
        )
        full = self.spec.trial_events == "full"
        future = client.submit(
            run_trials,
            TrialBatch(self.sweep_id, self.topic, jobs, full),
            data,
            key=f"qm-trials-{batch[0].backtest_id}",
            pure=False,
        )
        for trial in batch:
            trial.future = future

        def ended(_: Any) -> None:
            for trial in batch:
                self._ended.put(trial)

        future.add_done_callback(ended)

    def _end(self, trial: _Trial) -> TrialEntry:
        """The trial's end, on its run (after the events its task sent) and on the sweep."""
        try:
            outcomes: list[TrialOutcome] = trial.future.result()
        except Exception as error:  # cancelled by the sweep, or lost with the scheduler
            ending = task_failure(error, self.cancelling)
        else:
            outcome = next(o for o in outcomes if o.backtest_id == trial.backtest_id)
            with self._arrived:
                notice = trial.settle(outcome)  # no batch of this attempt came first
                if notice is not None:
                    self.sink.emit(trial.backtest_id, notice)
                self._arrived.wait_for(lambda: not trial.missing_events(outcome), EVENT_WAIT)
            ending = EventDraft(outcome.terminal_type, loads(outcome.terminal_data))
        with self._arrived:
            trial.ended = True
            del self._trials[trial.backtest_id]
        self.sink.emit(trial.backtest_id, ending)
        complete = ending.type == BACKTEST_COMPLETE
        entry = trial.to_entry(
            ending, scalar_metrics(ending.data) if complete else None, self.spec.metric
        )
        self._record(entry)
        return entry

    # -- a trial's events (on the Dask client's thread) --------------------------------------

    def _on_events(self, event: tuple[float, dict[str, Any]]) -> None:
        """A message of a task's trials' events from the sweep's Dask topic."""
        message = event[1]
        with self._arrived:
            for segment in message["runs"]:
                trial = self._trials.get(segment["run"])
                if trial is None or trial.ended:
                    continue
                taken = trial.take(message, segment)
                if taken is None:
                    continue  # a late message of an attempt whose worker was lost
                notices, events, _ = taken
                for notice in notices:
                    self.sink.emit(trial.backtest_id, notice)
                for kind, data, stamp in events:
                    self.sink.emit(trial.backtest_id, EventDraft(kind, loads(data), stamp))
            self._arrived.notify_all()

    # -- the sweep's own events --------------------------------------------------------------

    def _record(self, entry: TrialEntry) -> None:
        data = entry.to_dict()
        self.tally.add(data)
        self._progress_due = True
        self._emit(EventDraft(SWEEP_TRIAL, data))

    def _progress(self, *, force: bool = False) -> None:
        """A ``sweep_progress`` when trials ended since the last, at most every
        PROGRESS_INTERVAL seconds (and always at the end)."""
        now = time.monotonic()
        if not force and (not self._progress_due or now - self._last_progress < PROGRESS_INTERVAL):
            return
        self._progress_due, self._last_progress = False, now
        with self._arrived:
            running = sum(1 for t in self._trials.values() if t.attempt is not None)
        total = self.spec.total_trials
        data = sweep_progress(self.tally, self.started, total, running, self.threads)
        self._emit(EventDraft(SWEEP_PROGRESS, data))

    def _emit(self, draft: EventDraft) -> None:
        self.sweep.state.apply(draft.type, draft.data)
        if self.publisher is not None:
            self.publisher.emit(self.sweep_id, draft)
        self.sweep._changed()


class SweepPublisher(BatchingSink):
    """Publishes a kernel sweep's own events to the server (``POST api/v1/sweep/{id}/events``,
    the first batch with the sweep's description and this kernel's id); a reply may say that
    someone asked the server to cancel the sweep. A server that refuses them (one without the
    endpoint answers 404) is not asked again: the sweep's trials are still published as runs."""

    flush_interval = PROGRESS_INTERVAL

    def __init__(self, server: ServerConnection, sweep_id: str, description: dict[str, Any]):
        self.server = server
        self.path = f"api/v1/sweep/{sweep_id}/events"
        self._first: dict[str, Any] | None = {"request": description, "kernel_id": this_kernel_id()}
        self.cancel_requested = False
        self._detached = False
        super().__init__("qm-sweep-publisher")

    def deliver(self, batch: list[tuple[str, EventDraft]]) -> None:
        if self._detached:
            return
        events = [{"type": d.type, "data": d.data, "timestamp": d.timestamp} for _, d in batch]
        body, self._first = {"events": events, **(self._first or {})}, None
        try:
            reply = self.server.request("POST", self.path, body)
        except ServerError as error:
            self._detached = True
            level = logging.INFO if error.status == 404 else logging.WARNING
            log.log(
                level, "qm_jupyter: sweep events not published to %s: %s", self.server.url, error
            )
            return
        self.cancel_requested = bool(reply and reply.get("cancel_requested"))


# -- the kernel's Dask cluster ---------------------------------------------------------------

_lock = threading.Lock()
_clients: dict[str, Any] = {}
_cluster: Any = None
#: Sweeps of this kernel still going.
_running: dict[str, _KernelSweep] = {}


def kernel_client(server: ServerConnection | None) -> Any:
    """A ``distributed.Client`` to the server's scheduler when it names one, else to this
    kernel's local cluster (started now if it is not running)."""
    from distributed import Client, LocalCluster

    address = _server_scheduler(server) if server is not None else None
    global _cluster
    with _lock:
        client = _clients.get(address or "")
        if client is not None and client.status == "running":
            return client
        # Registered after distributed's own exit handlers, so that it runs before them.
        atexit.unregister(_shut_down)
        atexit.register(_shut_down)
        if address is None:
            if _cluster is None or _cluster.status.name != "running":
                _cluster = LocalCluster(n_workers=LOCAL_WORKERS, **LOCAL_CLUSTER_OPTIONS)
            scheduler = _cluster.scheduler_address
        else:
            scheduler = address
        client = Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
        _clients[address or ""] = client
        return client


def _server_scheduler(server: ServerConnection) -> str | None:
    """The address of the server's Dask scheduler, or None if it names none."""
    try:
        return server.request("GET", "api/v1/sweep/cluster")["scheduler_address"]
    except (ServerError, KeyError, TypeError):
        return None


def _shut_down() -> None:
    """At the kernel's exit: stop its sweeps (each ends with ``sweep_cancelled``), then
    disconnect and close the local cluster."""
    global _cluster
    for driver in list(_running.values()):
        driver.cancel()
    for driver in list(_running.values()):
        driver.thread.join(EXIT_GRACE)
    with _lock:
        for client in _clients.values():
            client.close()
        _clients.clear()
        if _cluster is not None:
            _cluster.close()
            _cluster = None

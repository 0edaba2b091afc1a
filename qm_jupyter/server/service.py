"""BacktestService: what the REST and WebSocket handlers ask of the server.

It ties the hub (numbering, storage, fan-out) to the runner (worker processes),
starts runs from validated requests (once per ``client_request_id``), cancels and
deletes them, on start-up ends the runs that a previous server left in flight, and
keeps the store within its retention (at start, and each time a run ends).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..engine import list_strategies
from ..events import EventDraft, backtest_error, sweep_error, utc_now_iso
from ..jobs import Job
from ..ws_logger import DEFAULT_PROGRESS_RATE
from .hub import SWEEP_STREAM, EventHub, RunClosedError, StreamKind, stream_kind
from .run_request import RequestError, parse_run_request
from .store import ACTIVE_STATUSES, RunRecord, RunStore, SweepRecord, sweep_key
from .strategy_catalog import StrategyCatalog
from .sweeps.cluster import DaskCluster
from .sweeps.request import kernel_sweep_event, kernel_sweep_request
from .sweeps.runner import SweepLimits, SweepRunner
from .worker_pool import BacktestRunner

MAX_PUBLISH_BATCH = 10_000
#: What a run's or sweep's id may be (the routes' pattern).
STREAM_ID = re.compile(r"[A-Za-z0-9_.\-]{1,128}")


@dataclass(frozen=True)
class ServiceLimits:
    """Limits that keep one request from taking the server down."""

    max_sample_bars: int = 50_000_000
    max_data_file_bytes: int = 4 * 1024**3
    max_queued_runs: int = 1000
    progress_every: int = 100
    max_progress_rate: float = DEFAULT_PROGRESS_RATE


@dataclass(frozen=True)
class Retention:
    """How much of the past the store keeps: ended runs beyond the newest ``max_runs``
    (0: no limit) or that ended over ``max_age_days`` ago (None: no limit) are deleted,
    oldest first; so are ended sweeps (counted apart from runs; their trials are runs).
    Runs and sweeps still going are never deleted."""

    max_runs: int = 1000
    max_age_days: float | None = None

    def ended_before(self) -> str | None:
        """The ISO time before which an ended run is too old, if there is a limit."""
        if self.max_age_days is None:
            return None
        return utc_now_iso(time.time() - self.max_age_days * 86_400)


class BacktestService:
    """Starts, cancels and describes runs; owns the hub and the runner."""

    def __init__(
        self,
        db_path: str | Path,
        root_dir: str | Path,
        *,
        workers: int = 2,
        cancel_grace: float = 1.5,
        strategies_dir: str | Path | None = None,
        limits: ServiceLimits | None = None,
        retention: Retention | None = None,
        kernel_identity: Callable[[str], Hashable | None] | None = None,
        cluster: DaskCluster | None = None,
        max_sweep_trials: int = 10_000,
        log: logging.Logger | None = None,
    ):
        self.log = log or logging.getLogger(__name__)
        self.root_dir = str(root_dir)
        self.limits = limits or ServiceLimits()
        self.retention = retention or Retention()
        self.strategies_dir = str(Path(root_dir, strategies_dir)) if strategies_dir else None
        self.catalog = StrategyCatalog(self.strategies_dir)
        self.store = RunStore(db_path)
        self.hub = EventHub(self.store, self.log, on_run_end=lambda _: self.prune_runs())
        self.runner = BacktestRunner(
            self.hub, workers=workers, cancel_grace=cancel_grace, log=self.log
        )
        # Sweeps run on Dask, not on the workers above: see SweepRunner.
        self.sweeps = SweepRunner(
            self.hub,
            cluster or DaskCluster(log=self.log),
            root_dir=self.root_dir,
            limits=SweepLimits(
                max_trials=max_sweep_trials,
                max_sample_bars=self.limits.max_sample_bars,
                max_data_file_bytes=self.limits.max_data_file_bytes,
                progress_every=self.limits.progress_every,
                max_progress_rate=self.limits.max_progress_rate,
            ),
            log=self.log,
        )
        self._cancel_requests: set[str] = set()
        # Runs and sweeps published by kernels of this server: stream key -> (kernel id, what
        # identified the kernel's process then). ``kernel_identity`` tells what identifies it
        # now (None: no such kernel); see end_runs_of_stopped_kernels.
        self.kernel_identity = kernel_identity
        self._kernel_runs: dict[str, tuple[str, Hashable]] = {}

    def recover(self) -> None:
        """End the runs that a previous server left in flight (they can never finish), then
        apply the retention settings, which may have changed since, and free the space."""
        ended = backtest_error(
            "the server stopped while this backtest was in flight", "ServerRestarted"
        )
        for backtest_id in self.store.active_run_ids():
            self.hub.publish(backtest_id, [ended])
        self.sweeps.recover()
        self.prune_runs()
        if pages := self.store.reclaim_space():
            self.log.info("qm_jupyter: gave %d free pages of the run store back", pages)

    def prune_runs(self) -> list[str]:
        """Delete the ended runs and sweeps that the retention settings no longer keep;
        return their stream keys (a run's id, a sweep's key).

        Cheap enough to run as each run ends: a count, and a range of an index for the age.
        """
        keep, before = self.retention.max_runs, self.retention.ended_before()
        store = self.store
        pruned = [*store.runs_to_prune(keep, before), *store.sweeps_to_prune(keep, before)]
        if pruned:
            self.hub.delete_runs(pruned)
            self.log.debug("qm_jupyter: deleted %d ended runs and sweeps (retention)", len(pruned))
        return pruned

    def delete_run(self, backtest_id: str) -> bool:
        """Delete an ended run and its events; False if it is still going (or unknown)."""
        run = self.store.get_run(backtest_id)
        if run is None or run.status in ACTIVE_STATUSES:
            return False
        self.hub.delete_runs([backtest_id])
        return True

    def delete_sweep(self, sweep_id: str) -> bool:
        """Delete an ended sweep and its events (its trials stay: they are runs); False if
        it is still running (or unknown)."""
        sweep = self.store.get_sweep(sweep_id)
        if sweep is None or sweep.status in ACTIVE_STATUSES:
            return False
        self.hub.delete_runs([sweep_key(sweep_id)])
        return True

    async def stop(self) -> None:
        """End the runs still going, stop the workers, close every /ws subscriber (their
        connections close, 1001) and the store; safe to call twice."""
        await self.sweeps.stop()
        await self.runner.stop()
        self.hub.close_subscribers()
        await asyncio.sleep(0)  # each connection's writer wakes up and closes its socket
        self.catalog.clear()
        self.store.close()

    def submit(self, body: Any) -> tuple[RunRecord, bool]:
        """Start (or queue) a run; return it and whether it is new.

        A request with a ``client_request_id`` seen before returns that run again.
        """
        self.catalog.refresh()
        request = parse_run_request(
            body,
            root_dir=self.root_dir,
            max_sample_bars=self.limits.max_sample_bars,
            max_file_bytes=self.limits.max_data_file_bytes,
        )
        if request.client_request_id:
            existing = self.store.find_by_client_request_id(request.client_request_id)
            if existing is not None:
                return existing, False
        if self.runner.queued >= self.limits.max_queued_runs:
            raise RequestError(
                f"{self.runner.queued} runs are already queued (max_queued_runs); try later",
                status=429,
            )
        run = self.hub.create_run(request.to_dict(), client_request_id=request.client_request_id)
        run.status = self.runner.submit(
            Job(
                backtest_id=run.backtest_id,
                strategy=request.strategy,
                params=request.params,
                data=request.data,
                initial_balance=request.initial_balance,
                commission=request.commission,
                periods_per_year=request.periods_per_year,
                progress_every=self.limits.progress_every,
                max_progress_rate=self.limits.max_progress_rate,
                root_dir=self.root_dir,
                strategies_dir=self.strategies_dir,
                settings=request.settings,
            )
        )
        return run, True

    def submit_sweep(self, body: Any) -> tuple[SweepRecord, bool]:
        """Start a sweep (see SweepRunner.submit) with the strategy files as they are now."""
        self.catalog.refresh()
        return self.sweeps.submit(body)

    def strategies(self) -> dict[str, Any]:
        """Every strategy a run may name, with its parameters and where it comes from."""
        self.catalog.refresh()
        listing = list_strategies()
        for strategy in listing:
            strategy["source"] = self.catalog.source_of(strategy["name"])
        return {"strategies": listing, "user_strategies": self.catalog.describe()}

    def cancel(self, backtest_id: str) -> bool:
        """Stop a run here, or ask the kernel running it to stop; False if it is not active."""
        if self.runner.cancel(backtest_id):
            return True
        run = self.store.get_run(backtest_id)
        return run is not None and self._ask_kernel_to_cancel(backtest_id, run.origin, run.status)

    def cancel_sweep(self, sweep_id: str) -> bool:
        """Stop a sweep here, or ask the kernel driving it to stop; False if it is not
        running."""
        if self.sweeps.cancel(sweep_id):
            return True
        sweep = self.store.get_sweep(sweep_id)
        return sweep is not None and self._ask_kernel_to_cancel(
            sweep_key(sweep_id), sweep.origin, sweep.status
        )

    def _ask_kernel_to_cancel(self, key: str, origin: str, status: str) -> bool:
        """The reply to the kernel's next batch of the stream ``key`` asks it to stop."""
        if origin != "kernel" or status not in ACTIVE_STATUSES:
            return False
        self._cancel_requests.add(key)
        return True

    def cancel_requested(self, key: str) -> bool:
        """Whether someone asked to cancel the kernel's run or sweep (its stream's key)."""
        return key in self._cancel_requests

    def publish_external(self, key: str, body: Any) -> int:
        """Publish a batch of events of a run, or a sweep (its stream's key), that executes
        elsewhere (a notebook kernel); the run or sweep is created by its first batch, from
        the batch's ``request``. Returns the stream's last seq."""
        kind, stream_id = stream_kind(key)
        if not isinstance(body, dict) or not isinstance(body.get("events"), list):
            raise RequestError('the body must be {"events": [...]}', "events")
        events = body["events"]
        if not 0 < len(events) <= MAX_PUBLISH_BATCH:
            raise RequestError(f"events must hold 1 to {MAX_PUBLISH_BATCH} events", "events")
        drafts = [_draft(kind, index, event) for index, event in enumerate(events)]
        kernel_id = body.get("kernel_id")
        if kernel_id is not None and not isinstance(kernel_id, str):
            raise RequestError("kernel_id must be a string", "kernel_id")
        if self.store.stream_state(key) is None:
            if kind is SWEEP_STREAM:
                self._create_kernel_sweep(stream_id, body.get("request"))
            else:
                self._create_kernel_run(stream_id, body.get("request") or {})
            self._track_kernel(key, kernel_id)
        try:
            last_seq = self.hub.publish(key, drafts)
        except RunClosedError as error:
            raise RequestError(str(error), "events", status=409) from None
        if any(draft.type in kind.terminal for draft in drafts):
            self._cancel_requests.discard(key)
        return last_seq

    def _create_kernel_run(self, backtest_id: str, request: Any) -> None:
        """A kernel's run; a trial of a kernel's sweep names it in ``request.sweep_id``."""
        if not isinstance(request, dict):
            raise RequestError("request must be a JSON object", "request")
        sweep_id = request.get("sweep_id")
        if sweep_id is not None and not (
            isinstance(sweep_id, str) and STREAM_ID.fullmatch(sweep_id)
        ):
            raise RequestError("request.sweep_id must be a sweep's id", "request.sweep_id")
        self.hub.create_run(request, origin="kernel", backtest_id=backtest_id, sweep_id=sweep_id)

    def _create_kernel_sweep(self, sweep_id: str, request: Any) -> None:
        checked = kernel_sweep_request(request)
        self.hub.create_sweep(
            SweepRecord(
                sweep_id=sweep_id,
                status="running",
                request=checked,
                created_at=utc_now_iso(),
                total_trials=checked["total_trials"],
                origin="kernel",
            )
        )

    def _track_kernel(self, key: str, kernel_id: str | None) -> None:
        if kernel_id is None or self.kernel_identity is None:
            return
        if (identity := self.kernel_identity(kernel_id)) is not None:  # a kernel of ours
            self._kernel_runs[key] = (kernel_id, identity)

    def end_runs_of_stopped_kernels(self) -> list[str]:
        """Fail the runs and sweeps whose kernel has stopped or restarted since it published
        them: their code is gone, so they can never end otherwise. Returns the stream keys
        of those it ended."""
        ended = []
        for key, (kernel_id, identity) in list(self._kernel_runs.items()):
            state = self.store.stream_state(key)
            if state is None or state[0] not in ACTIVE_STATUSES:
                del self._kernel_runs[key]
            elif self.kernel_identity(kernel_id) != identity:
                del self._kernel_runs[key]
                self._cancel_requests.discard(key)
                self.hub.publish(key, [self._kernel_stopped(key, kernel_id)])
                ended.append(key)
        return ended

    def _kernel_stopped(self, key: str, kernel_id: str) -> EventDraft:
        """The end of a run or sweep whose kernel stopped (a sweep keeps its trials)."""
        kind, stream_id = stream_kind(key)
        if kind is not SWEEP_STREAM:
            return backtest_error(
                f"the kernel running this backtest ({kernel_id}) stopped or restarted",
                "KernelStopped",
            )
        tally = self.sweeps.tally(self.store.get_sweep(stream_id))
        error = sweep_error(
            f"the kernel running this sweep ({kernel_id}) stopped or restarted",
            "KernelStopped",
            tally.counts,
        )
        error.data["best"] = tally.best
        return error


def _draft(kind: StreamKind, index: int, event: Any) -> EventDraft:
    where = f"events[{index}]"
    if not isinstance(event, dict):
        raise RequestError(f"{where} must be an object", where)
    event_type = event.get("type")
    if not isinstance(event_type, str) or event_type not in kind.event_types:  # {}: unhashable
        raise RequestError(
            f"{where}.type must be one of {', '.join(sorted(kind.event_types))}, "
            f"got {event_type!r}",
            f"{where}.type",
        )
    data = event.get("data", {})
    if not isinstance(data, dict):
        raise RequestError(f"{where}.data must be an object", f"{where}.data")
    if kind is SWEEP_STREAM:
        data = kernel_sweep_event(where, event_type, data)
    timestamp = event.get("timestamp")
    if timestamp is None:
        return EventDraft(event_type, data)
    if not isinstance(timestamp, str) or len(timestamp) > 40:
        raise RequestError(f"{where}.timestamp must be an ISO 8601 string", f"{where}.timestamp")
    return EventDraft(event_type, data, timestamp)

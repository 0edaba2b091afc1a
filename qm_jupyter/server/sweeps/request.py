"""The body of ``POST /api/v1/sweep/run``, validated before any work starts.

A sweep request is a run request (strategy, data, the run settings a backtest takes,
``client_request_id``) plus what the sweep tries (:data:`~qm_jupyter.sweep_spec.SWEEP_FIELDS`):
the run part is validated as a backtest's, the sweep part by the same code a kernel's sweep
uses (:func:`~qm_jupyter.sweep_spec.parse_sweep_spec`). Every refusal names the field.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ...engine import ParamError, get_strategy
from ...events import SWEEP_TRIAL
from ...sweep_spec import (
    SWEEP_FIELDS,
    SweepSpec,
    Tally,
    TrialEntry,
    parse_sweep_spec,
    scalar_metrics,
)
from ..run_request import FIELDS as RUN_FIELDS
from ..run_request import RequestError, RunRequest, parse_run_request


@dataclass(frozen=True)
class SweepRequest:
    """A validated request to sweep a strategy's parameters on the server: ``run`` is what
    every trial shares (its params are the fixed ones), ``spec`` what the sweep tries."""

    run: RunRequest
    spec: SweepSpec

    def trial_request(self, params: dict[str, Any]) -> dict[str, Any]:
        """The request a trial's run is stored with: the sweep's run with these params."""
        return replace(self.run, params=params, client_request_id=None).to_dict()

    def to_dict(self) -> dict[str, Any]:
        """The request as stored and shown (``grid`` as each parameter's value list)."""
        spec = self.spec
        return {
            **self.run.to_dict(),
            "params": spec.params,
            "grid": spec.grid,
            "method": spec.method,
            "total_trials": spec.total_trials,
            "metric": spec.metric,
            "direction": spec.direction,
            "seed": spec.seed,
            "trial_events": spec.trial_events,
        }


def parse_sweep_request(
    body: Any,
    *,
    root_dir: str | Path,
    max_sample_bars: int,
    max_file_bytes: int,
    max_trials: int,
) -> SweepRequest:
    """Validate a decoded JSON body; raise :class:`RequestError` naming the bad field."""
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    unknown = sorted(set(body) - {*RUN_FIELDS, *SWEEP_FIELDS})
    if unknown:
        raise RequestError(f"unknown field(s): {', '.join(unknown)}", unknown[0])
    run = parse_run_request(
        {name: value for name, value in body.items() if name not in (*SWEEP_FIELDS, "params")},
        root_dir=root_dir,
        max_sample_bars=max_sample_bars,
        max_file_bytes=max_file_bytes,
    )
    try:
        spec = parse_sweep_spec(
            get_strategy(run.strategy).params,
            body.get("grid"),
            params=body.get("params"),
            limit=max_trials,
            **{name: body[name] for name in SWEEP_FIELDS if name != "grid" and name in body},
        )
    except ParamError as error:
        raise RequestError(str(error), error.param) from None
    return SweepRequest(replace(run, params=spec.params), spec)


# -- sweeps that a kernel drives (POST /api/v1/sweep/{id}/events) ----------------------------


def kernel_sweep_request(raw: Any) -> dict[str, Any]:
    """The ``request`` of a kernel sweep's first batch of events (its ``sweep_start`` data:
    strategy, data, grid, params, method, seed, objective, total_trials), stored in the form
    of a server sweep's request; raise :class:`RequestError` naming the bad field."""
    if not isinstance(raw, dict):
        raise RequestError("the first batch of a sweep's events needs its request", "request")
    objective = raw.get("objective")
    if not isinstance(objective, dict):
        raise RequestError("request.objective must be {metric, direction}", "request.objective")
    checked = {
        "strategy": _typed(raw, "strategy", str),
        "data": _typed(raw, "data", dict),
        "grid": _typed(raw, "grid", dict),
        "params": _typed(raw, "params", dict),
        "method": _typed(raw, "method", str),
        "seed": _typed(raw, "seed", int, nullable=True),
        "total_trials": _count(raw, "total_trials", "request."),
        "metric": _typed(objective, "metric", str, "request.objective."),
        "direction": _typed(objective, "direction", str, "request.objective."),
    }
    if not all(isinstance(values, list) for values in checked["grid"].values()):
        raise RequestError("request.grid must hold a list of values a param", "request.grid")
    if checked["direction"] not in ("maximize", "minimize"):
        raise RequestError(
            "request.objective.direction must be maximize or minimize",
            "request.objective.direction",
        )
    return checked


def kernel_sweep_event(where: str, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """A kernel sweep's event data as the server shows it: a ``sweep_trial`` is a whole
    trial entry, ``counts`` and ``best`` (of progress and the end) have their shape."""
    if event_type == SWEEP_TRIAL:
        return _trial_entry(data, f"{where}.data.").to_dict()
    if data.get("counts") is not None:
        counts = _typed(data, "counts", dict, f"{where}.data.")
        for status in ("total", *Tally.STATUSES):
            _count(counts, status, f"{where}.data.counts.")
    if data.get("best") is not None:
        best = _typed(data, "best", dict, f"{where}.data.")
        entry = _trial_entry({**best, "status": "completed"}, f"{where}.data.best.")
        if entry.backtest_id is None or entry.objective is None:
            raise RequestError("best needs its backtest_id and objective", f"{where}.data.best")
    return data


def _trial_entry(data: dict[str, Any], prefix: str) -> TrialEntry:
    status = data.get("status")
    if status not in Tally.STATUSES:
        raise RequestError(f"status must be one of {', '.join(Tally.STATUSES)}", prefix + "status")
    metrics = _typed(data, "metrics", dict, prefix, nullable=True)
    if metrics is not None and metrics != scalar_metrics(metrics):
        raise RequestError("metrics must be numbers (or null)", prefix + "metrics")
    objective = _typed(data, "objective", (int, float), prefix, nullable=True)
    return TrialEntry(
        backtest_id=_typed(data, "backtest_id", str, prefix, nullable=True),
        params=_typed(data, "params", dict, prefix),
        status=status,
        metrics=metrics,
        objective=None if objective is None else float(objective),
        error=_typed(data, "error", str, prefix, nullable=True),
        worker=_typed(data, "worker", str, prefix, nullable=True),
        attempt=_count(data, "attempt", prefix, default=0),
    )


def _typed(
    data: dict[str, Any],
    name: str,
    kind: type | tuple[type, ...],
    prefix: str = "request.",
    *,
    nullable: bool = False,
) -> Any:
    value = data.get(name)
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, kind):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        names = " or ".join(_JSON_NAMES[k] for k in kinds)
        raise RequestError(f"{prefix}{name} must be {names}", prefix + name)
    return value


def _count(data: dict[str, Any], name: str, prefix: str, default: int | None = None) -> int:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RequestError(f"{prefix}{name} must be an integer >= 0", prefix + name)
    return value


_JSON_NAMES = {str: "a string", dict: "an object", int: "an integer", float: "a number"}

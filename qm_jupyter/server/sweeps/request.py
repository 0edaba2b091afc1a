"""The body of ``POST /api/v1/sweep/run``, validated before any work starts.

Like a run request, every refusal names the field. The grid's size is known by arithmetic
before anything is expanded, so a huge grid is refused (or sampled) without building it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ...engine import METRIC_KEYS, ParamError, get_strategy
from ..run_request import RequestError, parse_run_request

METHODS = ("grid", "random", "tpe")
TRIAL_EVENTS = ("summary", "full")
#: The run settings a sweep passes to every trial, validated as a backtest's are.
RUN_FIELDS = ("strategy", "params", "data", "initial_balance", "commission", "periods_per_year")
FIELDS = (
    *RUN_FIELDS,
    "grid",
    "method",
    "max_trials",
    "seed",
    "maximize",
    "minimize",
    "trial_events",
    "client_request_id",
)
DEFAULT_OBJECTIVE = "sharpe_ratio"


@dataclass(frozen=True)
class Axis:
    """One swept parameter: its values in order, and whether they are evenly spaced
    numbers (a ``{start, stop, step}`` range, which TPE may treat as ordered)."""

    name: str
    values: tuple[Any, ...]
    step: float | None = None


@dataclass(frozen=True)
class SweepRequest:
    """A validated request to sweep a strategy's parameters on the server."""

    strategy: str
    data: dict[str, Any]
    axes: tuple[Axis, ...]
    method: str
    total_trials: int
    metric: str
    direction: str
    seed: int
    params: dict[str, Any]
    initial_balance: float
    commission: float
    periods_per_year: float | None
    trial_events: str = "summary"
    client_request_id: str | None = None

    @property
    def grid_size(self) -> int:
        return math.prod(len(axis.values) for axis in self.axes)

    def to_dict(self) -> dict[str, Any]:
        """The request as stored and shown (``grid`` as each parameter's value list)."""
        shown = asdict(self)
        del shown["axes"]
        shown["grid"] = {axis.name: list(axis.values) for axis in self.axes}
        return shown


def parse_sweep_request(
    body: Any,
    *,
    root_dir: str | Path,
    max_sample_bars: int,
    max_file_bytes: int,
    max_trials: int,
    default_seed: int,
) -> SweepRequest:
    """Validate a decoded JSON body; raise :class:`RequestError` naming the bad field."""
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise RequestError(f"unknown field(s): {', '.join(unknown)}", unknown[0])
    run = parse_run_request(
        {name: body[name] for name in RUN_FIELDS if name in body and name != "params"},
        root_dir=root_dir,
        max_sample_bars=max_sample_bars,
        max_file_bytes=max_file_bytes,
    )
    declared = get_strategy(run.strategy).params
    fixed = body.get("params") or {}
    if not isinstance(fixed, dict):
        raise RequestError("params must be a JSON object", "params")
    params = {name: _checked(declared, name, value, "params") for name, value in fixed.items()}

    grid = body.get("grid")
    if not isinstance(grid, dict) or not grid:
        raise RequestError(
            'grid must be a non-empty object: {"param": [values] or {"start", "stop", "step"}}',
            "grid",
        )
    axes = []
    for name, spec in grid.items():
        if name in params:
            raise RequestError(f"param {name!r} is both fixed (params) and swept", f"grid.{name}")
        axes.append(_axis(declared, name, spec, max_trials))
    method = body.get("method", "grid")
    if method not in METHODS:
        raise RequestError(f"method must be one of {', '.join(METHODS)}, got {method!r}", "method")
    size = math.prod(len(axis.values) for axis in axes)
    total = _total_trials(body.get("max_trials"), method, size, max_trials)
    metric, direction = _objective(body)
    seed = body.get("seed", default_seed)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise RequestError(f"seed must be an integer from 0 to 2**32 - 1, got {seed!r}", "seed")
    trial_events = body.get("trial_events", "summary")
    if trial_events not in TRIAL_EVENTS:
        raise RequestError(
            f"trial_events must be one of {', '.join(TRIAL_EVENTS)}, got {trial_events!r}",
            "trial_events",
        )
    client_request_id = body.get("client_request_id")
    if client_request_id is not None and (
        not isinstance(client_request_id, str) or not 0 < len(client_request_id) <= 200
    ):
        raise RequestError(
            "client_request_id must be a string of 1 to 200 characters", "client_request_id"
        )
    return SweepRequest(
        strategy=run.strategy,
        data=run.data,
        axes=tuple(axes),
        method=method,
        total_trials=total,
        metric=metric,
        direction=direction,
        seed=seed,
        params=params,
        initial_balance=run.initial_balance,
        commission=run.commission,
        periods_per_year=run.periods_per_year,
        trial_events=trial_events,
        client_request_id=client_request_id,
    )


def _checked(declared: dict[str, Any], name: Any, value: Any, where: str) -> Any:
    if name not in declared:
        known = ", ".join(declared) or "none"
        raise RequestError(f"unknown param {name!r} (known: {known})", f"{where}.{name}")
    try:
        return declared[name].check(name, value)
    except ParamError as error:
        raise RequestError(str(error), f"{where}.{name}") from None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _axis(declared: dict[str, Any], name: str, spec: Any, max_trials: int) -> Axis:
    """A grid entry: a list of values, or a range whose stop is included when it lands on
    a step; each value is checked against the parameter's declaration."""
    field = f"grid.{name}"
    if name not in declared:
        known = ", ".join(declared) or "none"
        raise RequestError(f"unknown param {name!r} (known: {known})", field)
    if isinstance(spec, list):
        if not spec:
            raise RequestError(f"{field} is an empty list of values", field)
        values = tuple(dict.fromkeys(_checked(declared, name, v, "grid") for v in spec))
        return Axis(name, values)
    if not isinstance(spec, dict) or set(spec) != {"start", "stop", "step"}:
        raise RequestError(f'{field} must be a list or {{"start", "stop", "step"}}', field)
    start, stop, step = spec["start"], spec["stop"], spec["step"]
    for part in ("start", "stop", "step"):
        if not _number(spec[part]):
            raise RequestError(f"{field}.{part} must be a finite number", f"{field}.{part}")
    if step <= 0:
        raise RequestError(f"{field}.step must be positive, got {step!r}", f"{field}.step")
    if stop < start:
        raise RequestError(f"{field}.stop ({stop}) is below start ({start})", f"{field}.stop")
    count = math.floor((stop - start) / step * (1 + 1e-12)) + 1
    if count > max_trials:
        raise RequestError(
            f"{field} has {count} values, over the limit of {max_trials} trials "
            "(QuantMindExtension.max_sweep_trials)",
            field,
        )
    integral = isinstance(start, int) and isinstance(step, int)
    values = tuple(
        start + i * step if integral else round(start + i * step, 12) for i in range(count)
    )
    return Axis(name, tuple(_checked(declared, name, v, "grid") for v in values), float(step))


def _total_trials(raw: Any, method: str, size: int, limit: int) -> int:
    """How many trials the sweep runs: the whole grid, or ``max_trials`` of it."""
    if raw is not None and (isinstance(raw, bool) or not isinstance(raw, int) or raw < 1):
        raise RequestError(f"max_trials must be a positive integer, got {raw!r}", "max_trials")
    if method == "grid":
        if raw is not None and size > raw:
            raise RequestError(
                f"the grid has {size} combinations, more than max_trials ({raw})", "max_trials"
            )
        if size > limit:
            raise RequestError(
                f"the grid has {size} combinations, over the limit of {limit} trials "
                "(QuantMindExtension.max_sweep_trials); use method random or tpe",
                "grid",
            )
        return size
    if raw is None:
        raise RequestError(f"max_trials is required with method {method}", "max_trials")
    if raw > limit:
        raise RequestError(
            f"max_trials ({raw}) is over the limit of {limit} "
            "(QuantMindExtension.max_sweep_trials)",
            "max_trials",
        )
    if raw > size:
        raise RequestError(
            f"max_trials ({raw}) is more than the grid's {size} combinations", "max_trials"
        )
    return raw


def _objective(body: dict[str, Any]) -> tuple[str, str]:
    """The metric to optimize and its direction (``maximize`` or ``minimize``)."""
    given = [key for key in ("maximize", "minimize") if body.get(key) is not None]
    if len(given) > 1:
        raise RequestError("give maximize or minimize, not both", "minimize")
    direction = given[0] if given else "maximize"
    metric = body.get(direction, DEFAULT_OBJECTIVE)
    if metric not in METRIC_KEYS:
        raise RequestError(
            f"{direction} must be a metric of backtest_complete: {', '.join(METRIC_KEYS)}; "
            f"got {metric!r}",
            direction,
        )
    return metric, direction

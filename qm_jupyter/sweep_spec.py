"""What a parameter sweep tries, shared by the server's sweeps and a kernel's.

A grid gives each swept parameter a list of values or a ``{start, stop, step}`` range (stop
included when it lands on a step); the search picks combinations from it (the whole grid,
a seeded sample of it, or Optuna's TPE asked and told, one combination at a time); the
tally counts the trials and keeps the best. Both sides import this module, so a grid means
the same combinations, in the same order, wherever the sweep runs.

Every refusal is the engine's ``ParamError`` whose ``param`` names the field
(``grid.fast``, ``max_trials``, ``maximize``...): the server answers it as a 400 naming
that field, a kernel raises it as is.

Usage::

    spec = parse_sweep_spec(get_strategy("sma_crossover").params,
                            {"fast": [5, 10], "slow": {"start": 20, "stop": 60, "step": 20}})
    search = make_search(spec)
    while (asked := search.ask()) is not None:
        token, combination = asked          # {"fast": 5, "slow": 20}, ...
        search.tell(token, objective_of(combination))
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from .engine import METRIC_KEYS, Param, ParamError

#: What a sweep request has beyond a run's (strategy, params, data and settings).
SWEEP_FIELDS = ("grid", "method", "max_trials", "seed", "maximize", "minimize", "trial_events")
METHODS = ("grid", "random", "tpe")
TRIAL_EVENTS = ("summary", "full")
DEFAULT_OBJECTIVE = "sharpe_ratio"
#: Most trials one sweep may run unless the host sets its own limit.
DEFAULT_MAX_TRIALS = 10_000


@dataclass(frozen=True)
class Axis:
    """One swept parameter: its values in order, and the step when they are evenly spaced
    numbers (a range, which TPE may treat as ordered)."""

    name: str
    values: tuple[Any, ...]
    step: float | None = None


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: what to try (axes, fixed params), how (method, how many trials,
    seed) and what for (the metric and its direction)."""

    axes: tuple[Axis, ...]
    method: str
    total_trials: int
    metric: str
    direction: str
    seed: int
    params: dict[str, Any] = field(default_factory=dict)
    trial_events: str = "summary"

    @property
    def grid_size(self) -> int:
        return math.prod(len(axis.values) for axis in self.axes)

    @property
    def grid(self) -> dict[str, list[Any]]:
        """Each swept parameter's values (how the sweep is stored and shown)."""
        return {axis.name: list(axis.values) for axis in self.axes}

    @property
    def objective(self) -> dict[str, str]:
        return {"metric": self.metric, "direction": self.direction}


def parse_sweep_spec(
    declared: Mapping[str, Param],
    grid: Any,
    *,
    params: Any = None,
    method: Any = "grid",
    max_trials: Any = None,
    seed: Any = None,
    maximize: Any = None,
    minimize: Any = None,
    trial_events: Any = "summary",
    limit: int = DEFAULT_MAX_TRIALS,
) -> SweepSpec:
    """Validate a sweep against the strategy's declared params (``declared``); raise
    ``ParamError`` naming the field. ``limit`` caps the trials (and a range's values); the
    grid's size is known by arithmetic, so a huge grid is refused without being built.
    ``seed=None`` draws one (kept in the spec, so the sweep can be repeated)."""
    fixed = {} if params is None else params
    if not isinstance(fixed, Mapping):
        raise ParamError("params", "params must be an object of fixed values")
    fixed = {name: _checked(declared, name, value, "params") for name, value in fixed.items()}
    if not isinstance(grid, Mapping) or not grid:
        raise ParamError(
            "grid",
            'grid must be a non-empty object: {"param": [values] or {"start", "stop", "step"}}',
        )
    axes = []
    for name, values in grid.items():
        if name in fixed:
            raise ParamError(f"grid.{name}", f"param {name!r} is both fixed (params) and swept")
        axes.append(_axis(declared, name, values, limit))
    if method not in METHODS:
        raise ParamError("method", f"method must be one of {', '.join(METHODS)}, got {method!r}")
    total = _total_trials(max_trials, method, math.prod(len(a.values) for a in axes), limit)
    metric, direction = _objective(maximize, minimize)
    if seed is None:
        seed = random.SystemRandom().randrange(2**32)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ParamError("seed", f"seed must be an integer from 0 to 2**32 - 1, got {seed!r}")
    if trial_events not in TRIAL_EVENTS:
        raise ParamError(
            "trial_events",
            f"trial_events must be one of {', '.join(TRIAL_EVENTS)}, got {trial_events!r}",
        )
    return SweepSpec(tuple(axes), method, total, metric, direction, seed, fixed, trial_events)


def _checked(declared: Mapping[str, Param], name: Any, value: Any, where: str) -> Any:
    if name not in declared:
        known = ", ".join(declared) or "none"
        raise ParamError(f"{where}.{name}", f"unknown param {name!r} (known: {known})")
    try:
        return declared[name].check(name, value)
    except ParamError as error:
        raise ParamError(f"{where}.{name}", str(error)) from None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _axis(declared: Mapping[str, Param], name: str, values: Any, limit: int) -> Axis:
    """A grid entry: a list of values, or a range whose stop is included when it lands on
    a step; each value is checked against the parameter's declaration."""
    where = f"grid.{name}"
    if name not in declared:
        known = ", ".join(declared) or "none"
        raise ParamError(where, f"unknown param {name!r} (known: {known})")
    if isinstance(values, list | tuple):
        if not values:
            raise ParamError(where, f"{where} is an empty list of values")
        return Axis(name, tuple(dict.fromkeys(_checked(declared, name, v, "grid") for v in values)))
    if not isinstance(values, Mapping) or set(values) != {"start", "stop", "step"}:
        raise ParamError(where, f'{where} must be a list or {{"start", "stop", "step"}}')
    for part in ("start", "stop", "step"):
        if not _number(values[part]):
            raise ParamError(f"{where}.{part}", f"{where}.{part} must be a finite number")
    start, stop, step = values["start"], values["stop"], values["step"]
    if step <= 0:
        raise ParamError(f"{where}.step", f"{where}.step must be positive, got {step!r}")
    if stop < start:
        raise ParamError(f"{where}.stop", f"{where}.stop ({stop}) is below start ({start})")
    count = math.floor((stop - start) / step * (1 + 1e-12)) + 1
    if count > limit:
        raise ParamError(where, f"{where} has {count} values, over the limit of {limit} trials")
    integral = isinstance(start, int) and isinstance(step, int)
    points = (start + i * step if integral else round(start + i * step, 12) for i in range(count))
    return Axis(name, tuple(_checked(declared, name, v, "grid") for v in points), float(step))


def _total_trials(raw: Any, method: str, size: int, limit: int) -> int:
    """How many trials the sweep runs: the whole grid, or ``max_trials`` of it."""
    if raw is not None and (isinstance(raw, bool) or not isinstance(raw, int) or raw < 1):
        raise ParamError("max_trials", f"max_trials must be a positive integer, got {raw!r}")
    if method == "grid":
        if raw is not None and size > raw:
            raise ParamError(
                "max_trials", f"the grid has {size} combinations, more than max_trials ({raw})"
            )
        if size > limit:
            raise ParamError(
                "grid",
                f"the grid has {size} combinations, over the limit of {limit} trials; "
                "use method random or tpe",
            )
        return size
    if raw is None:
        raise ParamError("max_trials", f"max_trials is required with method {method}")
    if raw > limit:
        raise ParamError("max_trials", f"max_trials ({raw}) is over the limit of {limit}")
    if raw > size:
        raise ParamError(
            "max_trials", f"max_trials ({raw}) is more than the grid's {size} combinations"
        )
    return raw


def _objective(maximize: Any, minimize: Any) -> tuple[str, str]:
    """The metric to optimize and its direction."""
    if maximize is not None and minimize is not None:
        raise ParamError("minimize", "give maximize or minimize, not both")
    direction = "minimize" if minimize is not None else "maximize"
    metric = minimize if minimize is not None else maximize or DEFAULT_OBJECTIVE
    if metric not in METRIC_KEYS:
        raise ParamError(
            direction,
            f"{direction} must be a metric of backtest_complete: {', '.join(METRIC_KEYS)}; "
            f"got {metric!r}",
        )
    return metric, direction


# -- searches --------------------------------------------------------------------------------


class Search(Protocol):
    """Combinations to try; ``token`` identifies an asked one when it is told."""

    def ask(self) -> tuple[Any, dict[str, Any]] | None:
        """The next combination and its token, or None when there is none left."""

    def tell(self, token: Any, value: float | None) -> None:
        """The objective of an asked combination (None: the trial gave none)."""


class GridSearch:
    """Every combination (or the ``indices``-th ones, in that order), last axis fastest."""

    def __init__(self, axes: tuple[Axis, ...], indices: list[int] | None = None):
        self.axes = axes
        if indices is None:
            combos: Iterator[tuple[Any, ...]] = itertools.product(*(a.values for a in axes))
        else:
            combos = (_combination(axes, index) for index in indices)
        self._combos = combos

    def ask(self) -> tuple[Any, dict[str, Any]] | None:
        combo = next(self._combos, None)
        if combo is None:
            return None
        return None, {axis.name: value for axis, value in zip(self.axes, combo, strict=True)}

    def tell(self, token: Any, value: float | None) -> None:
        """A grid does not learn."""


def _combination(axes: tuple[Axis, ...], index: int) -> tuple[Any, ...]:
    """The ``index``-th combination of the grid's product, without building the product."""
    values = []
    for axis in reversed(axes):
        index, position = divmod(index, len(axis.values))
        values.append(axis.values[position])
    return tuple(reversed(values))


def random_search(spec: SweepSpec) -> GridSearch:
    """``total_trials`` distinct combinations drawn with ``seed`` (the grid never built)."""
    picked = random.Random(spec.seed).sample(range(spec.grid_size), spec.total_trials)
    return GridSearch(spec.axes, picked)


class TPESearch:
    """Optuna's TPE sampler over the grid's values (constant liar: trials in flight repel
    new suggestions), reproducible with ``seed`` when asked and told in the same order."""

    def __init__(self, spec: SweepSpec):
        import optuna  # only tpe sweeps load it

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(seed=spec.seed, constant_liar=True)
        self._study = optuna.create_study(direction=spec.direction, sampler=sampler)
        self._axes = spec.axes
        self._distributions = {axis.name: _distribution(axis) for axis in spec.axes}
        self._fail = optuna.trial.TrialState.FAIL

    def ask(self) -> tuple[Any, dict[str, Any]] | None:
        trial = self._study.ask(self._distributions)
        return trial, {axis.name: _on_grid(axis, trial.params[axis.name]) for axis in self._axes}

    def tell(self, token: Any, value: float | None) -> None:
        if value is None or not math.isfinite(value):
            self._study.tell(token, state=self._fail)
        else:
            self._study.tell(token, value)


def _distribution(axis: Axis) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    values = axis.values
    if axis.step is None or len(values) < 2:
        return CategoricalDistribution(values)
    if all(isinstance(v, int) for v in values) and float(axis.step).is_integer():
        return IntDistribution(values[0], values[-1], step=int(axis.step))
    return FloatDistribution(values[0], values[-1], step=axis.step)


def _on_grid(axis: Axis, value: Any) -> Any:
    """The grid value a suggestion stands for (a float step may drift in its last digits)."""
    if axis.step is None:
        return value
    return min(axis.values, key=lambda v: abs(v - value))


def make_search(spec: SweepSpec) -> Search:
    """The search of ``spec.method``; each call starts afresh (same seed, same picks)."""
    if spec.method == "tpe":
        return TPESearch(spec)
    if spec.method == "random":
        return random_search(spec)
    return GridSearch(spec.axes)


# -- trials ----------------------------------------------------------------------------------


def scalar_metrics(result: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's metrics as a sweep shows them: the numbers of its ``backtest_complete``
    (undefined ones null), without its chart data and nested tables."""
    return {k: v for k, v in result.items() if v is None or type(v) in (int, float)}


@dataclass(frozen=True)
class TrialEntry:
    """One ended trial as a sweep shows it (``sweep_trial``'s data, ``trials`` of
    ``GET /api/v1/sweep/{id}``); a skipped one has no ``backtest_id``."""

    backtest_id: str | None
    params: dict[str, Any]
    status: str
    metrics: dict[str, Any] | None = None
    objective: float | None = None
    error: str | None = None
    worker: str | None = None
    attempt: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Tally:
    """Counts and the best trial so far, from trial entries (dicts) in the order they ended."""

    STATUSES = ("completed", "failed", "cancelled", "skipped")

    def __init__(self, metric: str, direction: str, total: int):
        self.metric = metric
        self.sign = 1.0 if direction == "maximize" else -1.0
        self.counts = {"total": total, **dict.fromkeys(self.STATUSES, 0)}
        self.best: dict[str, Any] | None = None

    def add(self, entry: Mapping[str, Any]) -> None:
        self.counts[entry["status"]] += 1
        value = entry.get("objective")
        if value is None or entry["status"] != "completed":
            return
        if self.best is None or self.sign * value > self.sign * self.best["objective"]:
            self.best = {
                key: entry[key] for key in ("backtest_id", "params", "metrics", "objective")
            }

    @property
    def ended(self) -> int:
        return sum(self.counts[status] for status in self.STATUSES)

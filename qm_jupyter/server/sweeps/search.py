"""Which combinations a sweep tries, in what order: the grid, a seeded sample of it, or
Optuna's TPE asked and told on the server (Dask only runs backtests).

A search is asked for one combination at a time and told each one's objective, so the
sweep keeps as many trials in flight as the cluster has threads, with no batch barrier.
Optuna's calls take CPU: the sweep makes them in a thread, one at a time.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator
from typing import Any, Protocol

from .request import Axis, SweepRequest


class Search(Protocol):
    """Combinations to try; ``token`` identifies an asked one when it is told."""

    def ask(self) -> tuple[Any, dict[str, Any]] | None:
        """The next combination and its token, or None when there is none left."""

    def tell(self, token: Any, value: float | None) -> None:
        """The objective of an asked combination (None: the trial gave none)."""


class GridSearch:
    """Every combination (or the ``indices`` of them, in that order), last axis fastest."""

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


def random_search(request: SweepRequest) -> GridSearch:
    """``total_trials`` distinct combinations drawn with ``seed`` (the grid never built)."""
    picked = random.Random(request.seed).sample(range(request.grid_size), request.total_trials)
    return GridSearch(request.axes, picked)


class TPESearch:
    """Optuna's TPE sampler over the grid's values (constant liar: trials in flight repel
    new suggestions), reproducible with ``seed``."""

    def __init__(self, request: SweepRequest):
        import optuna  # the sweep's only user of it: a server without tpe sweeps never loads it

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(seed=request.seed, constant_liar=True)
        self._study = optuna.create_study(direction=request.direction, sampler=sampler)
        self._axes = request.axes
        self._distributions = {axis.name: _distribution(axis) for axis in request.axes}
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


def make_search(request: SweepRequest) -> Search:
    if request.method == "tpe":
        return TPESearch(request)
    if request.method == "random":
        return random_search(request)
    return GridSearch(request.axes)

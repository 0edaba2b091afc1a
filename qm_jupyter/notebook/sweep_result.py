"""What a finished sweep gives a notebook: every trial as a DataFrame, the best, heatmaps.

The trials are plain pandas, so anything pandas does works on them; ``heatmap_series`` is
shaped as backtesting.py's ``Backtest.optimize(return_heatmap=True)``, so its plotting
helpers (``backtesting.lib.plot_heatmaps``) take it unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..engine import METRIC_KEYS

#: The columns after the params and metrics, in this order.
TRIAL_COLUMNS = ("status", "backtest_id", "error", "worker", "attempt")


@dataclass(frozen=True)
class SweepResult:
    """A sweep's trials and best, from a sweep that completed, was cancelled or failed
    (its finished trials are kept either way).

    >>> result = await qm.sweep(data, "sma_crossover",                 # doctest: +SKIP
    ...                         grid={"fast": [5, 10, 20], "slow": [30, 60]})
    >>> result.trials            # one row per trial: params, metrics, status, backtest_id
    >>> result.best["params"]    # {"fast": 10, "slow": 60}
    >>> result.heatmap("fast", "slow")              # slow down, fast across
    >>> plot_heatmaps(result.heatmap_series())      # backtesting.lib's, unchanged
    """

    sweep_id: str
    #: completed, cancelled or failed.
    status: str
    strategy: str
    #: Each swept param's values, in the grid's order.
    grid: dict[str, list[Any]]
    metric: str
    direction: str
    #: One row per ended trial (skipped ones too), sorted by the swept params.
    trials: pd.DataFrame
    #: The best completed trial: ``params``, ``metrics``, ``objective``, ``backtest_id``.
    best: dict[str, Any] | None
    #: total, completed, failed, cancelled, skipped.
    counts: dict[str, int]

    def heatmap(self, x: str, y: str, metric: str | None = None, agg: str = "max") -> pd.DataFrame:
        """``metric`` (default: the objective) with ``y``'s values down and ``x``'s across,
        every grid value present (NaN where no trial completed); the other swept params are
        aggregated with ``agg`` (any pandas aggregation name), as ``plot_heatmaps`` does."""
        metric = self._metric(metric)
        for name in (x, y):
            if name not in self.grid:
                raise KeyError(f"{name!r} is not a swept param (swept: {', '.join(self.grid)})")
        completed = self.trials[self.trials["status"] == "completed"]
        table = completed.pivot_table(index=y, columns=x, values=metric, aggfunc=agg)
        return table.reindex(
            index=pd.Index(self.grid[y], name=y), columns=pd.Index(self.grid[x], name=x)
        )

    def heatmap_series(self, metric: str | None = None) -> pd.Series:
        """``metric`` (default: the objective) of every trial that ran, indexed by a
        MultiIndex of the swept params and named after the metric: the shape of
        backtesting.py's ``return_heatmap`` (NaN where a trial gave no value or failed;
        skipped combinations are absent, as its constraint leaves them out)."""
        metric = self._metric(metric)
        ran = self.trials[self.trials["status"].isin(["completed", "failed"])]
        index = pd.MultiIndex.from_frame(ran[list(self.grid)])
        return pd.Series(ran[metric].astype(float).to_numpy(), index=index, name=metric)

    def _metric(self, metric: str | None) -> str:
        metric = metric or self.metric
        if metric not in METRIC_KEYS:
            raise KeyError(f"{metric!r} is not a metric (metrics: {', '.join(METRIC_KEYS)})")
        return metric

    def __repr__(self) -> str:
        counts = ", ".join(f"{n} {k}" for k, n in self.counts.items() if k != "total" and n)
        best = ""
        if self.best is not None:
            best = f"; best {self.metric} {self.best['objective']:.4g} at {_params(self.best)}"
        return (
            f"<SweepResult {self.strategy} {self.status}: {self.counts.get('total', 0)} trials"
            f" ({counts or 'none ended'}){best}>"
        )


def _params(best: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in best["params"].items())


def trials_frame(entries: Sequence[dict[str, Any]], grid: dict[str, list[Any]]) -> pd.DataFrame:
    """The trials (``sweep_trial`` entries) as rows: params (swept ones first), metrics, then
    status, backtest_id, error, worker and attempt; sorted by the swept params."""
    rows = [
        {
            **entry["params"],
            **{key: (entry.get("metrics") or {}).get(key) for key in METRIC_KEYS},
            **{key: entry.get(key) for key in TRIAL_COLUMNS},
        }
        for entry in entries
    ]
    params = dict.fromkeys([*grid, *(name for entry in entries for name in entry["params"])])
    frame = pd.DataFrame(rows, columns=[*params, *METRIC_KEYS, *TRIAL_COLUMNS])
    for key in METRIC_KEYS:  # None (undefined, or no metrics) is missing; counts stay integers
        given = [row[key] for row in rows if row[key] is not None]
        counted = given and all(isinstance(value, int) for value in given)
        frame[key] = frame[key].astype("Int64") if counted else pd.to_numeric(frame[key])
    return frame.sort_values(list(grid), kind="stable", ignore_index=True)

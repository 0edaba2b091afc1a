"""A sweep's heatmap and top trials, shaped from its trial entries as they arrive.

Each cell is one (x, y) pair of grid values; with more swept params than the two shown,
the cell shows the best of its trials (max, or min for an objective to minimize) and
which trial that is, so hovering or clicking a cell reads that trial. Cells whose trials
have not ended, were skipped or failed stay empty (None). Shaping is pure and cheap
(one pass over the entries), so the live widget re-shapes on every redraw.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: The metrics a hover and the top-trials table read: key -> (label, format).
KEY_METRICS = {
    "sharpe_ratio": ("Sharpe", "{:.2f}"),
    "total_return": ("Return", "{:+.2%}"),
    "max_drawdown": ("Max DD", "{:.2%}"),
    "win_rate": ("Win rate", "{:.1%}"),
    "total_trades": ("Trades", "{:,d}"),
}
TOP_TRIALS = 10


@dataclass
class HeatmapData:
    """``z[i][j]`` is ``metric`` at ``y_values[i]``, ``x_values[j]`` (None: no value yet)."""

    x: str
    y: str | None
    metric: str
    x_values: list[Any]
    y_values: list[Any]
    z: list[list[float | None]]
    #: The trial each cell shows (its backtest_id), for a click.
    ids: list[list[str | None]]
    hover: list[list[str]]
    #: (row, column) of the sweep's best trial, if it is on this map.
    best: tuple[int, int] | None
    #: The swept params folded into each cell, and how.
    aggregated: list[str]
    aggregation: str

    def note(self) -> str:
        """What a cell is, said on the chart."""
        if not self.aggregated:
            return f"{self.metric} of each trial"
        return f"{self.metric}: {self.aggregation} over {', '.join(self.aggregated)}"


def heatmap_data(
    entries: Sequence[dict[str, Any]],
    grid: dict[str, list[Any]],
    x: str,
    y: str | None,
    metric: str,
    *,
    objective: str,
    direction: str,
    best: dict[str, Any] | None = None,
) -> HeatmapData:
    """The map of ``metric`` over ``x`` (across) and ``y`` (down; None for a single row)."""
    minimize = metric == objective and direction == "minimize"
    sign = -1.0 if minimize else 1.0
    x_values = list(grid[x])
    y_values = list(grid[y]) if y is not None else [""]
    columns = {_key(v): j for j, v in enumerate(x_values)}
    rows = {_key(v): i for i, v in enumerate(y_values)}
    z: list[list[float | None]] = [[None] * len(x_values) for _ in y_values]
    ids: list[list[str | None]] = [[None] * len(x_values) for _ in y_values]
    hover = [["not run yet"] * len(x_values) for _ in y_values]
    for entry in entries:
        params = entry["params"]
        j = columns.get(_key(params.get(x)))
        i = rows.get(_key(params.get(y))) if y is not None else 0
        if i is None or j is None:
            continue
        value = _number((entry.get("metrics") or {}).get(metric))
        if entry["status"] != "completed" or value is None:
            if z[i][j] is None:
                hover[i][j] = f"{_params(params)}<br>{entry['status']}"
            continue
        if z[i][j] is None or sign * value > sign * z[i][j]:
            z[i][j], ids[i][j] = value, entry.get("backtest_id")
            hover[i][j] = f"{_params(params)}<br>{_metrics(entry.get('metrics') or {})}"
    return HeatmapData(
        x,
        y,
        metric,
        x_values,
        y_values,
        z,
        ids,
        hover,
        _best_cell(best, x, y, columns, rows),
        [name for name in grid if name not in (x, y)],
        "min" if minimize else "max",
    )


def top_trials(
    entries: Sequence[dict[str, Any]], direction: str, count: int = TOP_TRIALS
) -> list[dict[str, Any]]:
    """The completed trials of best objective, best first."""
    scored = [e for e in entries if e["status"] == "completed" and _number(e.get("objective"))]
    scored.sort(key=lambda e: e["objective"], reverse=direction == "maximize")
    return scored[:count]


def describe_trial(entry: dict[str, Any]) -> str:
    """``fast=10, slow=60 · Sharpe 1.23 · Return +4.00% ...``: one trial on one line."""
    return f"{_params(entry['params'], ', ')} · {_metrics(entry.get('metrics') or {}, ' · ')}"


def _best_cell(
    best: dict[str, Any] | None,
    x: str,
    y: str | None,
    columns: dict[Any, int],
    rows: dict[Any, int],
) -> tuple[int, int] | None:
    if best is None:
        return None
    j = columns.get(_key(best["params"].get(x)))
    i = rows.get(_key(best["params"].get(y))) if y is not None else 0
    return None if i is None or j is None else (i, j)


def _key(value: Any) -> Any:
    """Grid values compare as numbers (10 == 10.0) or as themselves."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _params(params: dict[str, Any], separator: str = "<br>") -> str:
    return separator.join(
        f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
    )


def _metrics(metrics: dict[str, Any], separator: str = "<br>") -> str:
    parts = []
    for key, (label, pattern) in KEY_METRICS.items():
        value = metrics.get(key)
        parts.append(f"{label} {'n/a' if value is None else pattern.format(value)}")
    return separator.join(parts)

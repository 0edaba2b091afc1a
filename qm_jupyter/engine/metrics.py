"""Run metrics, the same keys as the wire event `backtest_complete`.

- sharpe_ratio: mean / sample std (ddof=1) of the per-bar simple returns of the equity curve,
  times sqrt(periods_per_year), risk-free rate 0. The returns are equity[t] / equity[t-1] - 1 for
  t = 1..n-1 (`equity.pct_change()` without its leading NaN). Bar 0's equity always equals the
  initial balance (nothing can fill before bar 1's open), so prepending the initial balance would
  only add a zero return.
- periods_per_year, unless given, from the median bar spacing: about a day (20 h to 4 days) -> 252,
  about a week (4 to 10 days) -> 52, about a month (20 to 40 days) -> 12, other spacings of a day or
  more -> 365.25 days / spacing; intraday -> 252 * the median number of bars per calendar date.
- max_drawdown: min(equity / running max of equity - 1), a negative fraction, 0.0 if never under
  water.
- win_rate: share of trades with a positive return; total_return: final / initial - 1.
- Undefined values (Sharpe with < 2 returns or zero std, win_rate without trades) are None; every
  value is a plain Python float, int or None, never NaN or inf.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from numpy.typing import NDArray

METRIC_KEYS = (
    "final_balance",
    "total_return",
    "total_trades",
    "win_rate",
    "sharpe_ratio",
    "max_drawdown",
    "bars",
    "duration",
)


def _finite(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def infer_periods_per_year(index: pd.DatetimeIndex) -> float | None:
    """Bars per year from the median spacing of `index` (None with fewer than 2 bars)."""
    if len(index) < 2:
        return None
    if index.tz is not None and str(index.tz) != "UTC":  # dates in the index's own time zone
        index = index.tz_localize(None)
    ticks = index.asi8  # in the index's unit (pandas 3 defaults to us), not always ns
    day = int(np.timedelta64(1, "D") // np.timedelta64(1, index.unit))
    steps = np.diff(ticks)
    days = float(np.median(steps, overwrite_input=True)) / day
    del steps
    if days < 20 / 24:
        dates = ticks // day
        starts = np.flatnonzero(dates[1:] != dates[:-1]) + 1
        per_date = np.diff(starts, prepend=0, append=len(dates))
        return 252.0 * float(np.median(per_date))
    if days <= 4:
        return 252.0
    if days <= 10:
        return 52.0
    if 20 <= days <= 40:
        return 12.0
    return 365.25 / days


def bar_returns(
    values: NDArray[np.float64], out: NDArray[np.float64] | None = None
) -> NDArray[np.float64]:
    """values[t] / values[t-1] - 1 for t = 1..n-1, in one array (`out`, n-1 long, if given)."""
    with np.errstate(divide="ignore", invalid="ignore"):  # equity 0 after a liquidation
        returns = np.divide(values[1:], values[:-1], out=out)
    returns -= 1.0
    return returns


def return_moments(returns: NDArray[np.float64]) -> tuple[float, float]:
    """Mean and sample std (ddof=1) of `returns` (>= 2 of them), which it demeans in place:
    a two-pass variance without another n-sized temporary."""
    mean = float(returns.mean())
    returns -= mean
    return mean, math.sqrt(float(np.dot(returns, returns)) / (len(returns) - 1))


def sharpe_from_moments(
    mean: float, std: float, periods_per_year: float, risk_free: float = 0.0
) -> float | None:
    """The Sharpe ratio of per-bar returns of this mean and std (None when std is not > 0)."""
    if not std > 0:
        return None
    return _finite((mean - risk_free) / std * math.sqrt(periods_per_year))


def sharpe_ratio(
    equity: NDArray[np.float64], periods_per_year: float | None, risk_free: float = 0.0
) -> float | None:
    """Per-bar Sharpe of `equity`; `risk_free` is a per-bar rate taken off the mean return."""
    if periods_per_year is None or len(equity) < 3:
        return None
    return sharpe_from_moments(*return_moments(bar_returns(equity)), periods_per_year, risk_free)


def max_drawdown(equity: NDArray[np.float64]) -> float:
    return min(float(underwater(equity).min()) - 1.0, 0.0)


def underwater(equity: NDArray[np.float64]) -> NDArray[np.float64]:
    """equity / its running peak (1 at a new peak, NaN where the peak is 0), in one array."""
    ratio = np.maximum.accumulate(equity)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.divide(equity, ratio, out=ratio)


class CurveFigures(NamedTuple):
    """The metrics of an equity curve that `stats.stats_and_curve` computes on its way."""

    max_drawdown: float
    sharpe_ratio: float | None


def compute_metrics(
    equity: NDArray[np.float64],
    trade_returns: NDArray[np.float64],
    initial_balance: float,
    periods_per_year: float | None,
    duration: float,
    curve: CurveFigures | None = None,
) -> dict[str, Any]:
    """The `backtest_complete` metrics of a finished run, from its equity and the return of
    each closed trade; `curve`, when the run's stats computed it, saves two passes over the
    equity (its Sharpe must be of these periods_per_year)."""
    final = float(equity[-1])
    trades = len(trade_returns)
    if curve is None:
        curve = CurveFigures(max_drawdown(equity), sharpe_ratio(equity, periods_per_year))
    return {
        "final_balance": final,
        "total_return": _finite(final / initial_balance - 1.0),
        "total_trades": trades,
        "win_rate": float((trade_returns > 0).mean()) if trades else None,
        "sharpe_ratio": curve.sharpe_ratio,
        "max_drawdown": curve.max_drawdown,
        "bars": len(equity),
        "duration": float(duration),
    }

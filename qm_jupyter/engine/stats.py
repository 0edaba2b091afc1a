"""Run statistics under two conventions: backtesting.py 0.6.6's, and ours ("qm", the default).

`compute_stats` reads only the equity curve, the trades frame and the prices, so the numbers do
not depend on how the order model produced them. Under `conventions="backtesting.py"` it returns
exactly the keys, order and numbers of backtesting.py 0.6.6's `Backtest.run()` (Start ... Kelly
Criterion, `Commissions [$]` only when non-zero), formulas re-derived from its documented
behaviour. Under `conventions="qm"` the same keys carry the definitions below, then the extras.

Where the conventions differ ("bt" = backtesting.py 0.6.6; r = per-bar simple returns of the
equity, P = periods per year, `periods_per_year` or inferred as in `metrics`):

- Exposure Time [%]: bt = bars inside [entry_bar, exit_bar] of some closed trade; qm = bars whose
  close is carried with a position ([entry_bar, exit_bar), to the last bar for trades still open
  or closed by the end of the run), open trades included.
- Commissions [$]: bt only when non-zero, closed trades; qm always, open trades' fees included.
- Buy & Hold Return [%]: bt from the close of bar `warmup`; qm from bar 0, the window of Return.
- Return (Ann.), Volatility (Ann.), Sharpe, Sortino, Calmar: bt from calendar-day (or week, month,
  year) returns, geometric, annualised by 252 or 365 (weekend bars); qm from r with P, as
  empyrical: (E[-1]/E[0])^(P/len(r)) - 1, std(r, ddof=1)·√P, mean(r - rf)/std(r)·√P (the
  `sharpe_ratio` of `metrics`), mean(r - rf)/√mean(min(r - rf, 0)²)·√P, Return (Ann.)/max dd.
  The annual risk-free rate becomes a per-bar rf = (1 + rate)^(1/P) - 1.
- Alpha [%], Beta: bt = total return - β·B&H return, β from per-bar log returns; qm = CAPM on r
  and the close's per-bar returns: β = cov/var (ddof 1), alpha = (1 + mean(r - rf - β(m - rf)))^P
  - 1, annualised as empyrical.
- Drawdown and trade durations: bt rounded up to the data's resolution; qm exact.
- Profit Factor: bt = Σ positive / |Σ negative| trade *returns*; qm the same in cash (P&L).
- Undefined ratios (no losers, zero deviation) are NaN in both; `stats_to_wire` makes them None.

qm extras: Open Trades, Open Trade P&L [$] (trades closed by the end of the run, exit_reason
"finalize", or passed as `open_trades`), Max. Consecutive Wins / Losses (P&L > 0 / < 0, in row
order; break-even ends both), long and short counts, win rates and P&L, Avg. / Worst MAE [%] and
Avg. / Best MFE [%] (see `trade_excursions`), and the Periods per Year used.

>>> import pandas as pd
>>> index = pd.date_range("2024-01-01", periods=4, freq="D")
>>> data = pd.DataFrame({"high": [11., 12., 13., 12.], "low": [9., 10., 11., 10.],
...                      "close": [10., 11., 12., 11.]}, index=index)
>>> equity = pd.Series([100., 100., 110., 100.], index=index)
>>> trades = pd.DataFrame({"size": [10.], "entry_bar": [1], "exit_bar": [3],
...     "entry_time": [index[1]], "exit_time": [index[3]], "entry_price": [10.],
...     "exit_price": [10.], "pnl": [0.], "commission": [0.], "return": [0.],
...     "exit_reason": ["signal"]})
>>> stats = compute_stats(equity, trades, data)
>>> float(stats["Exposure Time [%]"]), float(stats["Max. Drawdown [%]"])
(50.0, -9.090909090909093)
>>> float(compute_stats(equity, trades, data, conventions="backtesting.py")["Exposure Time [%]"])
75.0
>>> stats_to_wire(stats)["max_consecutive_wins"], stats_to_wire(stats)["profit_factor"]
(0, None)
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from .errors import ParamError
from .metrics import (
    CurveFigures,
    bar_returns,
    infer_periods_per_year,
    return_moments,
    sharpe_from_moments,
    underwater,
)

CONVENTIONS = ("qm", "backtesting.py")
#: Every statistic's name in the order `compute_stats` gives them (backtesting.py's keys, then
#: qm's extras): a run's stats are a subsequence of it.
STAT_NAMES = (
    "Start",
    "End",
    "Duration",
    "Exposure Time [%]",
    "Equity Final [$]",
    "Equity Peak [$]",
    "Commissions [$]",
    "Return [%]",
    "Buy & Hold Return [%]",
    "Return (Ann.) [%]",
    "Volatility (Ann.) [%]",
    "CAGR [%]",
    "Sharpe Ratio",
    "Sortino Ratio",
    "Calmar Ratio",
    "Alpha [%]",
    "Beta",
    "Max. Drawdown [%]",
    "Avg. Drawdown [%]",
    "Max. Drawdown Duration",
    "Avg. Drawdown Duration",
    "# Trades",
    "Win Rate [%]",
    "Best Trade [%]",
    "Worst Trade [%]",
    "Avg. Trade [%]",
    "Max. Trade Duration",
    "Avg. Trade Duration",
    "Profit Factor",
    "Expectancy [%]",
    "SQN",
    "Kelly Criterion",
    "Open Trades",
    "Open Trade P&L [$]",
    "Max. Consecutive Wins",
    "Max. Consecutive Losses",
    "# Long Trades",
    "Long Win Rate [%]",
    "Long P&L [$]",
    "# Short Trades",
    "Short Win Rate [%]",
    "Short P&L [$]",
    "Avg. MAE [%]",
    "Worst MAE [%]",
    "Avg. MFE [%]",
    "Best MFE [%]",
    "Periods per Year",
)

# Weekend share above which backtesting.py annualises by 365 days instead of 252.
_WEEKEND_SHARE = 2 / 7 * 0.6
# The keys between Buy & Hold Return and Max. Drawdown, in backtesting.py's order.
_RISK_KEYS = (
    "Return (Ann.) [%]",
    "Volatility (Ann.) [%]",
    "CAGR [%]",
    "Sharpe Ratio",
    "Sortino Ratio",
    "Calmar Ratio",
    "Alpha [%]",
    "Beta",
)
# backtesting.py's resample rule and periods per year by the data period in whole days.
_BT_PERIODS = {7: ("W", 52), 31: ("ME", 12), 365: ("YE", 1)}


def compute_stats(
    equity: pd.Series,
    trades: pd.DataFrame,
    data: pd.DataFrame,
    *,
    conventions: str = "qm",
    warmup: int = 0,
    open_trades: pd.DataFrame | None = None,
    risk_free_rate: float = 0.0,
    periods_per_year: float | None = None,
) -> pd.Series:
    """The statistics of a run, as a Series keyed like backtesting.py's (see the module doc).

    equity: the equity at every close, indexed by bar time (a DatetimeIndex, as `data`'s).
    trades: closed trades, one row each (size signed, entry_bar, exit_bar, entry_time,
      exit_time, entry_price, exit_price, pnl, commission, return; exit_reason under qm).
    data: the prices (close; high and low for MAE/MFE under qm).
    warmup: bars before every indicator is defined (backtesting.py's next() starts at
      warmup + 1); its Buy & Hold starts there. Ignored under qm.
    open_trades: trades still open at the end, marked at the last close (qm only: backtesting.py
      leaves them out of every statistic).
    risk_free_rate: annual, as a fraction. periods_per_year: qm's annualisation (inferred from
      the bar spacing when None; backtesting.py infers its own).
    """
    return stats_and_curve(
        equity,
        trades,
        data,
        conventions=conventions,
        warmup=warmup,
        open_trades=open_trades,
        risk_free_rate=risk_free_rate,
        periods_per_year=periods_per_year,
    )[0]


def stats_and_curve(
    equity: pd.Series,
    trades: pd.DataFrame,
    data: pd.DataFrame,
    *,
    conventions: str = "qm",
    warmup: int = 0,
    open_trades: pd.DataFrame | None = None,
    risk_free_rate: float = 0.0,
    periods_per_year: float | None = None,
) -> tuple[pd.Series, CurveFigures | None]:
    """`compute_stats`, and the figures of the equity curve `compute_metrics` reports, from the
    same arrays (None unless qm without a risk-free rate, whose Sharpe is the metrics' one)."""
    if conventions not in CONVENTIONS:
        raise ParamError("conventions", f"conventions must be one of {CONVENTIONS}")
    if len(equity) != len(data) or len(equity) == 0:
        raise ValueError("equity and data must have the same, non-zero number of bars")
    if not -1 < risk_free_rate < 1:
        raise ParamError("risk_free_rate", "risk_free_rate must be a fraction in (-1, 1)")
    bt = conventions == "backtesting.py"
    index = pd.DatetimeIndex(equity.index)
    e = equity.to_numpy(dtype=float)
    close = data["close"].to_numpy(dtype=float)
    pnl = trades["pnl"].to_numpy(dtype=float)
    returns = trades["return"].to_numpy(dtype=float)
    durations = pd.Series(
        pd.to_datetime(trades["exit_time"]) - pd.to_datetime(trades["entry_time"]),
        dtype="timedelta64[ns]",
    )
    opened = _open_rows(trades, open_trades)
    rounding = _resolution(index) if bt else None
    ratio = underwater(e)  # 1 - drawdown, the one n-sized array every drawdown figure reads
    lowest = ratio.min()
    max_dd = np.nan_to_num(1 - lowest)
    episode_durations, episode_peaks = _drawdown_episodes(ratio, index)

    s: dict[str, Any] = {"Start": index[0], "End": index[-1], "Duration": index[-1] - index[0]}
    s["Exposure Time [%]"] = _exposure(trades, opened, len(e), bt) * 100
    s["Equity Final [$]"] = e[-1]
    s["Equity Peak [$]"] = e.max()
    commissions = float(trades["commission"].sum())
    if not bt and open_trades is not None:
        commissions += float(open_trades["commission"].sum())
    if commissions or not bt:
        s["Commissions [$]"] = commissions
    s["Return [%]"] = (e[-1] - e[0]) / e[0] * 100
    first = warmup if bt else 0
    s["Buy & Hold Return [%]"] = (close[-1] - close[first]) / close[first] * 100
    ppy = periods_per_year
    if ppy is None and not bt:  # backtesting.py infers its own
        ppy = infer_periods_per_year(index)
    if bt:
        s.update(_bt_risk(equity, e, close, index, max_dd, s, risk_free_rate))
    else:
        with np.errstate(divide="ignore", invalid="ignore"):  # equity 0 after a wipe-out
            s.update(_qm_risk(e, close, max_dd, s, ppy, risk_free_rate, scratch=ratio))
    del ratio
    s["Max. Drawdown [%]"] = -max_dd * 100
    s["Avg. Drawdown [%]"] = -episode_peaks.mean() * 100 if len(episode_peaks) else np.nan
    s["Max. Drawdown Duration"] = _rounded(episode_durations.max(), rounding)
    s["Avg. Drawdown Duration"] = _rounded(episode_durations.mean(), rounding)
    s["# Trades"] = n = len(trades)
    win_rate = np.mean(pnl > 0) if n else np.nan
    s["Win Rate [%]"] = win_rate * 100
    s["Best Trade [%]"] = returns.max() * 100 if n else np.nan
    s["Worst Trade [%]"] = returns.min() * 100 if n else np.nan
    s["Avg. Trade [%]"] = _geometric_mean(returns) * 100
    s["Max. Trade Duration"] = _rounded(durations.max(), rounding)
    s["Avg. Trade Duration"] = _rounded(durations.mean(), rounding)
    s["Profit Factor"] = _profit_factor(returns if bt else pnl)
    s["Expectancy [%]"] = returns.mean() * 100 if n else np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        s["SQN"] = math.sqrt(n) * _mean(pnl) / (_std(pnl) or np.nan)
        s["Kelly Criterion"] = win_rate - (1 - win_rate) / (
            _mean(pnl[pnl > 0]) / -_mean(pnl[pnl < 0])
        )
    curve = None
    if not bt:
        s.update(_qm_extras(trades, opened, data, ppy))
        if not risk_free_rate:
            sharpe = s["Sharpe Ratio"]
            curve = CurveFigures(
                min(float(lowest) - 1.0, 0.0), None if math.isnan(sharpe) else sharpe
            )
    return pd.Series(s, dtype=object), curve


def trade_excursions(trades: pd.DataFrame, data: pd.DataFrame) -> pd.DataFrame:
    """Per-trade MAE (<= 0) and MFE (>= 0), fractions of the entry price, signed for the side.

    From the highs and lows of the bars entry_bar .. exit_bar - 1 and the entry and exit prices:
    the exit bar's range after the exit is not the trade's, and bars carry no intrabar order.
    """
    high = data["high"].to_numpy(dtype=float)
    low = data["low"].to_numpy(dtype=float)
    entry = trades["entry_price"].to_numpy(dtype=float)
    exit_ = trades["exit_price"].to_numpy(dtype=float)
    lo = np.minimum(entry, exit_)
    hi = np.maximum(entry, exit_)
    start = trades["entry_bar"].to_numpy(dtype=np.int64)
    stop = trades["exit_bar"].to_numpy(dtype=np.int64)
    spans = stop > start
    if spans.any():
        # One reduceat over interleaved [entry_bar, exit_bar) bounds: the even slots are the
        # trades' windows. A window to exit_bar == len(data) stops one bar short (reduceat's
        # bounds are bars), then takes in the last bar: no copy of the n-sized high and low.
        last = len(low) - 1
        stop = stop[spans]
        bounds = np.column_stack((start[spans], np.minimum(stop, last))).ravel()
        lows = np.minimum.reduceat(low, bounds)[::2]
        highs = np.maximum.reduceat(high, bounds)[::2]
        to_end = stop > last
        lows[to_end] = np.minimum(lows[to_end], low[last])
        highs[to_end] = np.maximum(highs[to_end], high[last])
        lo[spans] = np.minimum(lo[spans], lows)
        hi[spans] = np.maximum(hi[spans], highs)
    long = trades["size"].to_numpy(dtype=float) > 0
    down, up = lo / entry - 1, hi / entry - 1
    return pd.DataFrame(
        {"mae": np.where(long, down, -up), "mfe": np.where(long, up, -down)}, index=trades.index
    )


def wire_key(key: str) -> str:
    """snake_case of a statistic's name: 'Return (Ann.) [%]' -> 'return_ann_pct'."""
    key = key.replace("P&L", "PnL").replace("[%]", "pct").replace("[$]", "").replace("#", "")
    return re.sub(r"[^0-9a-zA-Z]+", "_", key).strip("_").lower()


#: The name of each wire key of `STAT_NAMES`.
WIRE_NAMES = {wire_key(name): name for name in STAT_NAMES}


def stats_to_wire(stats: pd.Series) -> dict[str, Any]:
    """The stats as strict-JSON values under snake_case keys, for `backtest_complete`.

    Undefined (NaN, NaT, ±inf) -> None; timestamps -> ISO 8601 strings; durations -> seconds
    (float), which sort and subtract without parsing; numpy numbers -> Python int/float.
    """
    return {wire_key(k): _wire_value(v) for k, v in stats.items()}


def stats_from_wire(wire: Mapping[str, Any]) -> pd.Series:
    """`stats_to_wire`'s inverse (a `backtest_complete`'s `stats`): the names of `STAT_NAMES`,
    Start/End as timestamps, durations as Timedelta, None as NaN (NaT for times)."""
    out: dict[str, Any] = {}
    for key, value in wire.items():
        name = WIRE_NAMES.get(key, key)
        if name in ("Start", "End"):
            value = pd.NaT if value is None else pd.Timestamp(value)
        elif name.endswith("Duration"):
            value = pd.NaT if value is None else pd.Timedelta(seconds=value)
        elif value is None:
            value = np.nan
        out[name] = value
    return pd.Series(out, dtype=object)


def _wire_value(value: Any) -> Any:
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, pd.Timedelta):
        return value.total_seconds()
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value


def _mean(x: NDArray[np.float64]) -> float:
    return float(x.mean()) if len(x) else math.nan


def _std(x: NDArray[np.float64]) -> float:
    return float(x.std(ddof=1)) if len(x) > 1 else math.nan


def _geometric_mean(r: NDArray[np.float64] | pd.Series) -> float:
    """exp(mean log(1 + r)) - 1, NaN as 0, and 0 when some r <= -100 % (backtesting.py's)."""
    growth = np.nan_to_num(np.asarray(r, dtype=float), nan=0.0) + 1
    if np.any(growth <= 0):
        return 0.0
    return math.exp(np.log(growth).sum() / len(growth)) - 1 if len(growth) else math.nan


def _profit_factor(x: NDArray[np.float64]) -> float:
    gross_loss = abs(x[x < 0].sum())
    return float(x[x > 0].sum() / gross_loss) if gross_loss else math.nan


def _resolution(index: pd.DatetimeIndex) -> str:
    """backtesting.py's duration rounding: the unit of the median spacing of the last 100 bars."""
    period = pd.Series(index[-100:]).diff().dropna().median()
    return period.resolution_string if isinstance(period, pd.Timedelta) else "ns"


def _rounded(value: Any, rounding: str | None) -> Any:
    if not isinstance(value, pd.Timedelta):
        return pd.NaT
    return value.ceil(rounding) if rounding else value


def _drawdown_episodes(
    ratio: NDArray[np.float64], index: pd.DatetimeIndex
) -> tuple[pd.Series, NDArray[np.float64]]:
    """Durations and peak drawdowns of the runs under water between two bars at their peak.

    `ratio` is `underwater(equity)`: a bar is at its peak where it is 1 (drawdown 0). An episode
    starts at the last bar at the peak before a run under water and ends at the next bar at the
    peak, or at the last bar (a run under water at the last bar alone is none); its duration is
    index time, its peak the largest drawdown from its start to the next episode's. Found from
    the changes between at and under the peak, not from every bar at the peak.
    """
    n = len(ratio)
    at_peak = ratio == 1
    changes = np.flatnonzero(at_peak[1:] != at_peak[:-1])
    starts = changes[at_peak[changes]]
    stops = changes[~at_peak[changes]] + 1
    if n and not at_peak[0]:  # a run under water from bar 0 has no peak before it
        stops = stops[1:]
    if len(starts) > len(stops):  # under water at the last bar
        if starts[-1] < n - 2:
            stops = np.append(stops, n - 1)
        else:
            starts = starts[:-1]
    durations = pd.Series(index[stops] - index[starts])
    # Between one episode's end and the next one's start the ratio is 1, so the lowest to the
    # next start is the episode's (1 - x is monotone: the same numbers as a max of drawdowns).
    peaks = 1 - np.minimum.reduceat(ratio, starts) if len(starts) else np.empty(0)
    return durations, peaks


def _open_rows(trades: pd.DataFrame, open_trades: pd.DataFrame | None) -> pd.DataFrame:
    """Closed and open trades in one frame with an `open` flag (closed by the run's end too)."""
    frames = [trades.assign(open=_finalized(trades))]
    if open_trades is not None and len(open_trades):
        frames.append(open_trades.assign(open=True))
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _finalized(trades: pd.DataFrame) -> NDArray[np.bool_]:
    if "exit_reason" not in trades:
        return np.zeros(len(trades), dtype=bool)
    return (trades["exit_reason"] == "finalize").to_numpy(dtype=bool)


def _exposure(trades: pd.DataFrame, rows: pd.DataFrame, n: int, bt: bool) -> float:
    """Share of bars with a position: see the module doc for the two definitions."""
    if bt:
        entry, stop = trades["entry_bar"].to_numpy(int), trades["exit_bar"].to_numpy(int) + 1
    else:
        entry, stop = rows["entry_bar"].to_numpy(int), rows["exit_bar"].to_numpy(int)
        stop = np.where(rows["open"].to_numpy(bool), n, stop)
    return _covered(entry, stop) / n


def _covered(start: NDArray[np.int64], stop: NDArray[np.int64]) -> int:
    """The number of bars in the union of the windows [start, stop), from the trades alone.

    In start order, a window adds the part beyond the furthest stop before it: every bar from
    its start to that stop is already covered (the earlier windows start no later).
    """
    order = np.argsort(start, kind="stable")
    start, stop = start[order], stop[order]
    reach = np.maximum.accumulate(np.r_[0, stop])[:-1]  # the furthest stop before each window
    return int(np.maximum(stop - np.maximum(start, reach), 0).sum())


def _bt_risk(
    equity: pd.Series,
    e: NDArray[np.float64],
    close: NDArray[np.float64],
    index: pd.DatetimeIndex,
    max_dd: float,
    s: dict[str, Any],
    rf: float,
) -> dict[str, Any]:
    """backtesting.py's annualised figures, CAGR, ratios, Alpha and Beta (see the module doc)."""
    period_days = pd.Series(index[-100:]).diff().dropna().median().days
    weekend = float(np.mean(index.day_of_week >= 5)) > _WEEKEND_SHARE
    rule, per_year = _BT_PERIODS.get(period_days, ("D", 365 if weekend else 252))
    r = equity.set_axis(index).resample(rule).last().dropna().pct_change().dropna()
    g = _geometric_mean(r)
    annual = (1 + g) ** per_year - 1
    out: dict[str, Any] = {"Return (Ann.) [%]": annual * 100}
    with np.errstate(divide="ignore", invalid="ignore"):
        variance = r.var(ddof=1)
        volatility = np.sqrt((variance + (1 + g) ** 2) ** per_year - (1 + g) ** (2 * per_year))
        out["Volatility (Ann.) [%]"] = volatility * 100
        out["CAGR [%]"] = _cagr(e, s["Duration"])
        out["Sharpe Ratio"] = (annual * 100 - rf * 100) / (volatility * 100 or np.nan)
        downside = math.sqrt(_mean(np.minimum(r.to_numpy(), 0) ** 2)) * math.sqrt(per_year)
        out["Sortino Ratio"] = (annual - rf) / np.float64(downside)
        out["Calmar Ratio"] = annual / (max_dd or np.nan)
        beta = np.nan
        if len(e) > 2:  # cov / var of per-bar log returns, in two n-sized arrays
            log_r, log_m = _demeaned_log_returns(e), _demeaned_log_returns(close)
            beta = np.dot(log_r, log_m) / np.dot(log_m, log_m)
    out["Alpha [%]"] = s["Return [%]"] - rf * 100 - beta * (s["Buy & Hold Return [%]"] - rf * 100)
    out["Beta"] = beta
    return out


def _qm_risk(
    e: NDArray[np.float64],
    close: NDArray[np.float64],
    max_dd: float,
    s: dict[str, Any],
    ppy: float | None,
    rate: float,
    scratch: NDArray[np.float64],
) -> dict[str, Any]:
    """Per-bar (empyrical) annualised figures, ratios and CAPM alpha/beta (see the module doc).

    Two n-sized arrays, reused: the returns r (demeaned once their mean is taken) in `scratch`,
    an n-sized array the caller is done with (a fresh one costs its page faults), and a work
    array for r - rf, then the market's returns; the ratios are sums over them.
    """
    out: dict[str, Any] = dict.fromkeys(_RISK_KEYS, np.nan)
    out["CAGR [%]"] = _cagr(e, s["Duration"])
    if ppy is None or len(e) < 3:
        return out
    rf = (1 + rate) ** (1 / ppy) - 1
    r = bar_returns(e, out=scratch[1:])
    n = len(r)
    annual = (e[-1] / e[0]) ** (ppy / n) - 1
    out["Return (Ann.) [%]"] = annual * 100
    work = np.subtract(r, rf)
    excess = work.mean()
    np.minimum(work, 0, out=work)
    downside = math.sqrt(np.dot(work, work) / n)
    mean, std = return_moments(r)  # r is demeaned from here on
    out["Volatility (Ann.) [%]"] = std * math.sqrt(ppy) * 100
    sharpe = sharpe_from_moments(mean, std, ppy, rf)  # metrics.sharpe_ratio's number
    out["Sharpe Ratio"] = np.nan if sharpe is None else sharpe
    if downside > 0:
        out["Sortino Ratio"] = excess / downside * math.sqrt(ppy)
    if max_dd > 0:
        out["Calmar Ratio"] = annual / max_dd
    m = bar_returns(close, out=work)
    market = m.mean()
    m -= market
    market_ss = np.dot(m, m)  # (n - 1) var(m), as np.dot(r, m) is (n - 1) cov(r, m)
    if market_ss > 0:
        beta = np.dot(r, m) / market_ss
        out["Alpha [%]"] = ((1 + (excess - beta * (market - rf))) ** ppy - 1) * 100
        out["Beta"] = beta
    return out


def _demeaned_log_returns(values: NDArray[np.float64]) -> NDArray[np.float64]:
    out = np.divide(values[1:], values[:-1])
    np.log(out, out=out)
    out -= out.mean()
    return out


def _cagr(e: NDArray[np.float64], duration: pd.Timedelta) -> float:
    """Compound annual growth over calendar years of 365.25 days (both conventions)."""
    years = (duration.days + duration.seconds / 86400) / 365.25
    return ((e[-1] / e[0]) ** (1 / years) - 1) * 100 if years else math.nan


def _streak(flags: NDArray[np.bool_]) -> int:
    """The longest run of True."""
    if not flags.any():
        return 0
    edges = np.flatnonzero(np.diff(np.concatenate(([0], flags.astype(np.int8), [0]))))
    return int((edges[1::2] - edges[::2]).max())


def _qm_extras(
    trades: pd.DataFrame, rows: pd.DataFrame, data: pd.DataFrame, ppy: float | None
) -> dict[str, Any]:
    """What quants ask for beyond backtesting.py: open trades, streaks, sides, MAE/MFE."""
    pnl = trades["pnl"].to_numpy(dtype=float)
    size = trades["size"].to_numpy(dtype=float)
    is_open = rows["open"].to_numpy(bool)
    out: dict[str, Any] = {
        "Open Trades": int(is_open.sum()),
        "Open Trade P&L [$]": float(rows.loc[is_open, "pnl"].sum()),
        "Max. Consecutive Wins": _streak(pnl > 0),
        "Max. Consecutive Losses": _streak(pnl < 0),
    }
    for side, mask in (("Long", size > 0), ("Short", size < 0)):
        out[f"# {side} Trades"] = int(mask.sum())
        out[f"{side} Win Rate [%]"] = np.mean(pnl[mask] > 0) * 100 if mask.any() else np.nan
        out[f"{side} P&L [$]"] = float(pnl[mask].sum())
    excursions = trade_excursions(trades, data)
    mae, mfe = excursions["mae"].to_numpy(), excursions["mfe"].to_numpy()
    out["Avg. MAE [%]"] = _mean(mae) * 100
    out["Worst MAE [%]"] = mae.min() * 100 if len(mae) else np.nan
    out["Avg. MFE [%]"] = _mean(mfe) * 100
    out["Best MFE [%]"] = mfe.max() * 100 if len(mfe) else np.nan
    out["Periods per Year"] = np.nan if ppy is None else ppy
    return out

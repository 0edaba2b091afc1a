"""`run_backtest`: one call from data and strategy to metrics, equity and trades.

The order of what a watcher sees is fixed: `on_start` and a start log line, then trade log lines
and `on_progress` calls in bar order (the last at bars_processed == total_bars), then an end log
line and `on_complete`. A vectorized strategy is simulated first (numpy) and then reported in one
cheap pass over its progress points; a per-bar strategy reports as it goes.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from .bar_loop import attach, open_trades_table, run_bars
from .broker import BROKER_SETTINGS, Commission, Settings, resolve_settings
from .data import DataSource, load_prices
from .errors import ParamError
from .ledger import equity_curve
from .metrics import compute_metrics, infer_periods_per_year
from .registry import StrategyLike, as_strategy, validate_params
from .reporting import (
    DEFAULT_LOG_TRADES,
    LOG_SETTINGS,
    BarTimes,
    Progress,
    RunLog,
    RunObserver,
    TradeLog,
    checkpoints,
    report_ledger,
    trade_log_limit,
)
from .result import BacktestResult, trades_frame
from .spec import validate_data_spec
from .stats import stats_and_curve
from .strategy import Strategy, VectorStrategy
from .vector import STOP_SETTINGS, check_stops, replay, vector_ledger

#: The keyword settings of a run besides data, strategy, params, balance and commission: the
#: broker's, a vectorized strategy's stops and what the run logs (the REST body's names too).
RUN_SETTINGS = (*BROKER_SETTINGS, *STOP_SETTINGS, *LOG_SETTINGS)


def run_backtest(
    data: DataSource,
    strategy: StrategyLike,
    params: dict[str, Any] | None = None,
    *,
    initial_balance: float = 10_000.0,
    commission: Commission = 0.0,
    periods_per_year: float | None = None,
    progress_every: int = 100,
    spread: float = 0.0,
    margin: float = 1.0,
    trade_on_close: bool = False,
    hedging: bool = False,
    exclusive_orders: bool = False,
    finalize_trades: bool | None = None,
    conventions: str = "qm",
    units: str | None = None,
    sizing_price: str | None = None,
    fixed_fee_sizing: str | None = None,
    trade_commission: str | None = None,
    opposite_sizing: str | None = None,
    finalize_price: str | None = None,
    return_basis: str | None = None,
    spread_charge: str | None = None,
    warmup_offset: int | None = None,
    sl_stop: float | None = None,
    tp_stop: float | None = None,
    tsl_stop: float | None = None,
    log_trades: bool | int = DEFAULT_LOG_TRADES,
    observer: RunObserver | None = None,
    should_stop: Callable[[], bool] | None = None,
    root_dir: str | Path | None = None,
) -> BacktestResult:
    """Backtest `strategy` on `data` and return its result.

    `data` is a DataFrame, a CSV/Parquet path (relative to `root_dir` if given) or a wire spec
    (``{"path": ...}`` or ``{"sample": "gbm", "bars": N, "seed": S, "freq": "1min"}``).
    `strategy` is a registered name, a `Strategy`/`VectorStrategy` subclass or a signals function.
    `observer` is told the run's start, progress, log lines and metrics as they happen (see
    `RunObserver`); without one, log lines go to the ``qm_jupyter.engine`` logger.

    Broker settings (see `qm_jupyter.engine.broker`): `commission` is a rate per side, a
    ``[fixed, rate]`` pair or a function ``(size, price) -> cash``; `spread` a rate; `margin`
    1/leverage; `trade_on_close`, `hedging`, `exclusive_orders` and `finalize_trades` as in
    backtesting.py. `conventions` is ``"qm"`` or ``"backtesting.py"`` (its numbers exactly);
    `units` ... `warmup_offset` each override one of their differences (None: the convention's).
    `sl_stop`, `tp_stop` and `tsl_stop` are a vectorized strategy's stop-loss, take-profit and
    trailing stop as fractions of the entry price (see `qm_jupyter.engine.vector`).
    `log_trades` is how many closed trades get a log line: the first N (1,000 by default),
    ``True`` every one, ``False`` none; a line then counts the rest.

    >>> r = run_backtest({"sample": "gbm", "bars": 5000, "seed": 1}, "sma_crossover",
    ...                  {"fast": 10, "slow": 30}, commission=0.001)
    >>> r.metrics["bars"], r.metrics["total_trades"] == len(r.trades), len(r.equity)
    (5000, True, 5000)

    Raises DataError (bad data), ParamError (bad params or run settings), BacktestCancelled
    (`should_stop()` returned True at a progress point); a strategy's own exception propagates.
    """
    started = time.perf_counter()
    run_log = RunLog(observer)
    cls = as_strategy(strategy)
    resolved = validate_params(cls, params)
    settings = check_settings(
        initial_balance,
        commission,
        periods_per_year,
        progress_every,
        spread=spread,
        margin=margin,
        trade_on_close=trade_on_close,
        hedging=hedging,
        exclusive_orders=exclusive_orders,
        finalize_trades=finalize_trades,
        conventions=conventions,
        units=units,
        sizing_price=sizing_price,
        fixed_fee_sizing=fixed_fee_sizing,
        trade_commission=trade_commission,
        opposite_sizing=opposite_sizing,
        finalize_price=finalize_price,
        return_basis=return_basis,
        spread_charge=spread_charge,
        warmup_offset=warmup_offset,
    )
    stops = check_stops(sl_stop, tp_stop, tsl_stop)
    logged_trades = trade_log_limit(log_trades)
    for name, value in zip(STOP_SETTINGS, (sl_stop, tp_stop, tsl_stop), strict=True):
        if value is not None and not issubclass(cls, VectorStrategy):
            raise ParamError(name, f"{name} is for vectorized strategies: set sl=/tp= on orders")
    described = settings.describe()
    prices = load_prices(data, root_dir)
    n, index = len(prices), prices.index
    info = {
        "strategy": cls.name,
        "params": resolved,
        "data": _describe(data, n, root_dir),
        "initial_balance": settings.initial_balance,
        "commission": described["commission"],
        "total_bars": n,
        "first_bar_time": index[0].isoformat(),
        "last_bar_time": index[-1].isoformat(),
    }
    if observer is not None:
        observer.on_start(info)
    run_log(
        logging.INFO,
        "engine",
        "Backtest started: %s(%s) on %d bars from %s to %s, balance %.2f, commission %s%s",
        cls.name,
        ", ".join(f"{k}={v}" for k, v in resolved.items()),
        n,
        info["first_bar_time"],
        info["last_bar_time"],
        settings.initial_balance,
        info["commission"],
        "" if conventions == "qm" else f", conventions {conventions}",
    )
    points = checkpoints(n, progress_every)
    times = BarTimes(index)
    progress = Progress(
        n, settings.initial_balance, observer, should_stop, times, prices["close"].to_numpy()
    )
    trade_log = TradeLog(run_log, times, logged_trades)
    instance = cls(**resolved)
    start_bar = 0
    open_trades = None
    if isinstance(instance, VectorStrategy) and _ledger_settings(settings):
        progress.check_stop(0)
        ledger = vector_ledger(
            instance, prices, stops, settings.initial_balance, settings.fee_parts[1]
        )
        progress.check_stop(0)
        equity = equity_curve(ledger, prices["close"].to_numpy(), settings.initial_balance)
        report_ledger(ledger, equity, points, progress, trade_log)
        trades = trades_frame(ledger, index)
    else:
        bars = replay(instance, prices, stops) if isinstance(instance, VectorStrategy) else instance
        broker = attach(bars, prices, settings, run_log, trade_log)
        bars.init()
        run = run_bars(bars, points, progress)
        equity, trades, start_bar = run.equity, run.trades, run.start
        open_trades = open_trades_table(broker)
    trade_log.finish(len(trades))
    if trades.empty:
        _warn_no_trade(run_log, instance, resolved, n)
    if periods_per_year is None:
        periods_per_year = infer_periods_per_year(index)
    equity_series = pd.Series(equity, index=index, name="equity", copy=False)
    stats, curve = stats_and_curve(
        equity_series,
        trades,
        prices,
        conventions=settings.conventions,
        warmup=min(start_bar - settings.warmup_offset, n - 1),
        open_trades=open_trades,
        periods_per_year=periods_per_year,
    )
    metrics = compute_metrics(
        equity,
        trades["return"].to_numpy(),
        settings.initial_balance,
        periods_per_year,
        time.perf_counter() - started,
        curve,
    )
    run_log(
        logging.INFO,
        "engine",
        "Backtest complete: %d trades, final balance %.2f, return %s, sharpe %s, "
        "max drawdown %s in %.3fs",
        metrics["total_trades"],
        metrics["final_balance"],
        _pct(metrics["total_return"]),
        "n/a" if metrics["sharpe_ratio"] is None else f"{metrics['sharpe_ratio']:.2f}",
        _pct(metrics["max_drawdown"]),
        metrics["duration"],
    )
    if observer is not None:
        observer.on_complete(metrics)
    return BacktestResult(
        cls.name,
        resolved,
        metrics,
        equity_series,
        trades,
        described,
        start_bar,
        stats.rename(cls.name),
        prices,
    )


def _ledger_settings(settings: Settings) -> bool:
    """Whether the numpy ledger (all-in, fractional, rate commission, closed at the last close)
    computes this run exactly; otherwise a vectorized run goes through the broker (`replay`)."""
    parts = settings.fee_parts
    return (
        parts is not None
        and parts[0] == 0
        and settings.spread == 0
        and settings.margin == 1
        and not settings.trade_on_close
        and settings.units == "fractional"
        and settings.finalize_trades
        and settings.finalize_price == "close"
        and settings.return_basis == "cost"
        and settings.warmup_offset == 0
    )


def check_settings(
    initial_balance: Any,
    commission: Any,
    periods_per_year: Any,
    progress_every: Any,
    **broker: Any,
) -> Settings:
    """The run's broker `Settings`, or `ParamError` naming the first run setting that is out of
    range (callers that start a run elsewhere check before they start it)."""
    if periods_per_year is not None and not (
        isinstance(periods_per_year, int | float)
        and not isinstance(periods_per_year, bool)
        and math.isfinite(periods_per_year)
        and periods_per_year > 0
    ):
        raise ParamError(
            "periods_per_year",
            f"periods_per_year must be a positive number, got {periods_per_year!r}",
        )
    if not (
        isinstance(progress_every, int)
        and not isinstance(progress_every, bool)
        and progress_every >= 1
    ):
        raise ParamError(
            "progress_every", f"progress_every must be an integer >= 1, got {progress_every!r}"
        )
    check_stops(*(broker.pop(k, None) for k in STOP_SETTINGS))
    for name in LOG_SETTINGS:
        trade_log_limit(broker.pop(name, DEFAULT_LOG_TRADES))
    return resolve_settings(
        **{"initial_balance": initial_balance, "commission": commission, **broker}
    )


def _describe(data: DataSource, rows: int, root_dir: str | Path | None) -> dict[str, Any]:
    """JSON-able description of the data source for `on_start`."""
    if isinstance(data, dict):
        return validate_data_spec(data, root_dir)
    if isinstance(data, str | os.PathLike):
        return {"path": os.fspath(data)}
    return {"dataframe": {"rows": rows}}


def _warn_no_trade(
    run_log: RunLog, strategy: Strategy | VectorStrategy, params: dict[str, Any], bars: int
) -> None:
    """Say why a run made no trade when the data is too short for the strategy's warm-up."""
    warmup = strategy.warmup_bars()
    if bars <= warmup:
        shown = ", ".join(f"{k}={v}" for k, v in params.items())
        run_log(
            logging.WARNING,
            "engine",
            "No trade is possible: %s(%s) needs more than %d bars before its first signal, "
            "and the data has %d",
            strategy.name,
            shown,
            warmup,
            bars,
        )
    else:
        run_log(logging.WARNING, "engine", "No trade: the strategy gave no entry on %d bars", bars)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.2%}"

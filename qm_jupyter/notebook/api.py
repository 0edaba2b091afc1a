"""The notebook API: ``qm.run_backtest``, ``qm.sweep``, ``qm.watch`` and ``qm.connect``.

Where a run executes: a registered strategy name on server-readable data runs on the
server when one is reachable; a strategy defined in the notebook (a class or a
function), a DataFrame, or no server at all means it runs in this kernel, publishing
to the server's hub when connected. Either way the same widget shows it live. A sweep
goes the same way: through the server's sweep API, or driven by this kernel on Dask.
"""

from __future__ import annotations

import inspect
from typing import Any

import pandas as pd

from ..engine import RUN_SETTINGS, DataError, ParamError
from ..engine.broker import Commission
from ..engine.data import DataSource
from ..engine.registry import StrategyLike, as_strategy
from ..engine.reporting import DEFAULT_LOG_TRADES
from ..engine.spec import PRICE_SUFFIXES
from ..sweep_spec import parse_sweep_spec
from . import connection
from .connection import ServerConnection, ServerError
from .kernel_run import start_kernel_run
from .kernel_sink import KernelSink, kernel_sink
from .run import BacktestRun
from .server_run import follow_server_run, start_server_run
from .settings import RunSettings, data_source
from .sweep import Sweep
from .sweep_kernel import start_kernel_sweep
from .sweep_server import start_server_sweep
from .widget import BacktestWidget


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
    display: bool = True,
) -> BacktestRun:
    """:func:`qm_jupyter.engine.run_backtest`, shown live in the cell; ``await`` the handle.

    The arguments are the engine's (its docstring is the reference): the broker settings
    (``commission`` a rate, ``[fixed, rate]`` or a function, ``spread`` ... ``conventions``
    and each convention setting) go with the run, to the server too. What this adds: the
    run starts in the background and returns a :class:`BacktestRun` at once; a registered
    strategy name on a path or sample runs on the server when one is reachable (paths are
    then relative to its root_dir; a commission function keeps the run in this kernel),
    anything else in this kernel; ``display=False`` shows no widget. Bad params, settings
    or data raise the engine's ``ParamError`` / ``DataError`` here, with or without a server.

    >>> run = run_backtest({"sample": "gbm", "bars": 5000, "seed": 1}, "sma_crossover",
    ...                    {"fast": 10, "slow": 30})  # doctest: +SKIP
    >>> result = await run                            # doctest: +SKIP
    """
    misordered = _misordered("run_backtest", "params", data, strategy)
    if misordered:
        raise TypeError(misordered)
    given = {
        "spread": spread,
        "margin": margin,
        "trade_on_close": trade_on_close,
        "hedging": hedging,
        "exclusive_orders": exclusive_orders,
        "finalize_trades": finalize_trades,
        "conventions": conventions,
        "units": units,
        "sizing_price": sizing_price,
        "fixed_fee_sizing": fixed_fee_sizing,
        "trade_commission": trade_commission,
        "opposite_sizing": opposite_sizing,
        "finalize_price": finalize_price,
        "return_basis": return_basis,
        "spread_charge": spread_charge,
        "warmup_offset": warmup_offset,
        "sl_stop": sl_stop,
        "tp_stop": tp_stop,
        "tsl_stop": tsl_stop,
        "log_trades": log_trades,
    }
    defaults = inspect.signature(run_backtest).parameters
    broker = {
        name: value
        for name, value in given.items()
        if type(value) is not type(defaults[name].default) or value != defaults[name].default
    }
    settings = RunSettings(initial_balance, commission, periods_per_year, progress_every, broker)
    try:
        run = _start(data_source(data), strategy, params, settings)
    except (ParamError, DataError) as error:  # the user's mistake: no library frames under it
        raise error.with_traceback(None) from None
    if display:
        _show(run.widget)
    return run


def _start(
    source: pd.DataFrame | dict[str, Any],
    strategy: StrategyLike,
    params: dict[str, Any] | None,
    settings: RunSettings,
) -> BacktestRun:
    sink = kernel_sink()
    server = sink.server
    remote = not callable(settings.commission)  # a function cannot travel in a request
    if isinstance(strategy, str) and server is not None and isinstance(source, dict) and remote:
        return start_server_run(server, settings.request(strategy, params or {}, source))
    return start_kernel_run(sink, strategy, params, source, settings, where=_kernel_where(sink))


def _misordered(called: str, third: str, data: Any, strategy: Any) -> str | None:
    """What to say when a call has the old (strategy, params, data) order, else None."""
    if isinstance(data, str):
        looks_like_strategy = not data.lower().endswith(PRICE_SUFFIXES)
    else:
        looks_like_strategy = isinstance(data, type) or callable(data)
    if not looks_like_strategy or isinstance(strategy, str | type) or callable(strategy):
        return None
    name = data if isinstance(data, str) else getattr(data, "__name__", repr(data))
    return (
        f"{called} takes (data, strategy, {third}): {name!r} is a strategy, not data. "
        f"Call {called}(data, {name!r}, {third}), as qm_jupyter.engine.run_backtest."
    )


def sweep(
    data: DataSource,
    strategy: StrategyLike,
    grid: dict[str, Any] | None = None,
    *,
    maximize: str | None = None,
    minimize: str | None = None,
    method: str = "grid",
    max_trials: int | None = None,
    seed: int | None = None,
    params: dict[str, Any] | None = None,
    trial_events: str = "summary",
    initial_balance: float = 10_000.0,
    commission: float = 0.0,
    periods_per_year: float | None = None,
    progress_every: int = 100,
    display: bool = True,
    **settings: Any,
) -> Sweep:
    """Backtest ``strategy`` on ``data`` for combinations of its params, on Dask; ``await``
    the handle for a :class:`~qm_jupyter.notebook.sweep_result.SweepResult`.

    ``grid`` gives each swept param a list of values or a ``{"start", "stop", "step"}``
    range (stop included when it lands on a step); ``params`` fixes others. Combinations
    the strategy's ``check_params`` rejects (e.g. fast >= slow) are skipped. ``maximize``
    (default ``"sharpe_ratio"``) or ``minimize`` names a metric of the run.
    ``method="grid"`` tries every combination (``max_trials`` caps it: a larger grid is
    refused); ``"random"`` samples ``max_trials`` of them and ``"tpe"`` lets Optuna's TPE
    choose ``max_trials``, both reproducible with ``seed``. ``trial_events="full"``
    streams every trial's progress and log lines, not only its start, warnings and end.
    The run settings (``commission``, ``spread``, ``conventions``, ``sl_stop``...) are
    :func:`run_backtest`'s, for every trial.

    A registered strategy name on a path or sample runs through the server's sweep API
    when a server is reachable; a strategy defined in the notebook, or a DataFrame, is
    sent to the same Dask cluster by this kernel (with no server, to a local cluster of
    the kernel's own), its trials published to the server like kernel runs. Each trial is
    a run with its own ``backtest_id``. Bad params or data raise ``ParamError`` (its
    ``param`` names the field: ``grid.fast``, ``max_trials``...) or ``DataError`` here.

    >>> sweep = qm.sweep("data/prices.csv", "sma_crossover",          # doctest: +SKIP
    ...                  {"fast": [5, 10, 20], "slow": {"start": 30, "stop": 90, "step": 30}},
    ...                  maximize="total_return")
    >>> result = await sweep                                           # doctest: +SKIP
    >>> result.best["params"], result.heatmap("fast", "slow")          # doctest: +SKIP
    """
    misordered = _misordered("sweep", "grid", data, strategy)
    if misordered:
        raise TypeError(misordered)
    unknown = sorted(set(settings) - set(RUN_SETTINGS))
    if unknown:
        raise TypeError(f"sweep() got unexpected keyword argument(s): {', '.join(unknown)}")
    run_settings = RunSettings(
        initial_balance, commission, periods_per_year, progress_every, settings
    )
    options = {
        "params": params,
        "method": method,
        "max_trials": max_trials,
        "seed": seed,
        "maximize": maximize,
        "minimize": minimize,
        "trial_events": trial_events,
    }
    try:
        handle = _start_sweep(data_source(data), strategy, grid, options, run_settings)
    except (ParamError, DataError) as error:  # the user's mistake: no library frames under it
        raise error.with_traceback(None) from None
    handle.widget.trial_view = _trial_view
    if display:
        _show(handle)
    return handle


def _trial_view(backtest_id: str) -> BacktestWidget:
    """A sweep trial's run, as :func:`watch` shows it (a click in the sweep's display)."""
    return watch(backtest_id, display=False).widget


def _start_sweep(
    source: pd.DataFrame | dict[str, Any],
    strategy: StrategyLike,
    grid: dict[str, Any] | None,
    options: dict[str, Any],
    settings: RunSettings,
) -> Sweep:
    sink = kernel_sink()
    server = sink.server
    if isinstance(strategy, str) and server is not None and isinstance(source, dict):
        given = {key: value for key, value in options.items() if value is not None}
        body = {**settings.request(strategy, given.pop("params", {}), source), **given}
        return start_server_sweep(server, {**body, "grid": grid})
    spec = parse_sweep_spec(as_strategy(strategy).params, grid, **options)
    return start_kernel_sweep(sink, strategy, source, spec, settings)


def watch(backtest_id: str, *, display: bool = True) -> BacktestRun:
    """Show a run started elsewhere: the events so far, then live, to its end.

    A run that this kernel reports (e.g. through ``setup_backtest_logging``) is read
    from the kernel's own stream, even before its first event; any other from the server.
    """
    sink = kernel_sink()
    server = sink.server
    if server is None or sink.stream.knows(backtest_id):
        run = _watch_in_kernel(sink, backtest_id)
    else:
        try:
            info = server.request("GET", f"api/v1/backtest/{backtest_id}")
        except ServerError as error:
            if error.status == 404:
                raise KeyError(f"no backtest {backtest_id!r} on {server.url}") from None
            raise
        request = info["request"] if info.get("origin") == "server" else None
        run = follow_server_run(server, backtest_id, request)
    if display:
        _show(run.widget)
    return run


def connect(url: str | None = None, token: str | None = None) -> ServerConnection | None:
    """Use the Jupyter server at ``url`` (with ``token``) from now on; with no url, look again.

    Returns the server in use, or None (no-server mode). An explicit server that does
    not answer the backtest API raises ``ConnectionError``.
    """
    server = connection.connect(url, token)
    kernel_sink().attach(server)
    return server


def _watch_in_kernel(sink: KernelSink, backtest_id: str) -> BacktestRun:
    run: BacktestRun | None = None

    def cancel() -> None:
        raise RuntimeError(f"run {backtest_id} is driven by code in this kernel: stop it there")

    def start(view):
        nonlocal run
        run = BacktestRun(
            backtest_id,
            BacktestWidget(view, where=_kernel_where(sink)),
            where="kernel",
            cancel=cancel,
        )

        def listener(event) -> None:
            run.widget.push(event)
            if event.is_terminal:
                run._finish()

        return listener

    sink.stream.follow(backtest_id, start)
    assert run is not None
    if run.widget.view.finished:
        run._finish()
    return run


def _kernel_where(sink: KernelSink) -> str:
    server = sink.server
    return "in this kernel" + (f", published to {server.url}" if server else " (no server)")


def _show(widget: BacktestWidget | Sweep) -> None:
    from IPython import get_ipython

    if get_ipython() is not None:
        widget.show()


__all__ = ["BacktestRun", "Sweep", "connect", "run_backtest", "sweep", "watch"]

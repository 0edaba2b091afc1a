"""The notebook API: ``qm.run_backtest``, ``qm.watch`` and ``qm.connect``.

Where a run executes: a registered strategy name on server-readable data runs on the
server when one is reachable; a strategy defined in the notebook (a class or a
function), a DataFrame, or no server at all means it runs in this kernel, publishing
to the server's hub when connected. Either way the same widget shows it live.
"""

from __future__ import annotations

from typing import Any

from ..engine.registry import StrategyLike
from . import connection
from .connection import ServerConnection, ServerError
from .kernel_run import start_kernel_run
from .kernel_sink import KernelSink, kernel_sink
from .run import BacktestRun
from .server_run import follow_server_run, start_server_run
from .settings import DataArg, RunSettings, data_source
from .widget import BacktestWidget


def run_backtest(
    strategy: StrategyLike,
    params: dict[str, Any] | None = None,
    data: DataArg | None = None,
    *,
    initial_balance: float = 10_000.0,
    commission: float = 0.0,
    periods_per_year: float | None = None,
    progress_every: int = 100,
    display: bool = True,
) -> BacktestRun:
    """Start a backtest and show it live in the cell; ``await`` the handle for the result.

    ``data`` is a DataFrame, a CSV/Parquet path (relative to the server's root_dir, or
    to the kernel's working directory with no server) or ``{"sample": "gbm", "bars": N,
    "seed": S, "freq": "1min"}``. ``progress_every`` applies to kernel runs (the server
    has its own setting).

    >>> run = run_backtest("sma_crossover", {"fast": 10, "slow": 30},
    ...                    data={"sample": "gbm", "bars": 5000, "seed": 1})  # doctest: +SKIP
    >>> result = await run                                                     # doctest: +SKIP
    """
    source = data_source(data)
    settings = RunSettings(initial_balance, commission, periods_per_year, progress_every)
    sink = kernel_sink()
    server = sink.server
    if isinstance(strategy, str) and server is not None and isinstance(source, dict):
        run = start_server_run(server, settings.request(strategy, params or {}, source))
    else:
        run = start_kernel_run(sink, strategy, params, source, settings, where=_kernel_where(sink))
    if display:
        _show(run.widget)
    return run


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


def _show(widget: BacktestWidget) -> None:
    from IPython import get_ipython

    if get_ipython() is not None:
        widget.show()


__all__ = ["BacktestRun", "connect", "run_backtest", "watch"]

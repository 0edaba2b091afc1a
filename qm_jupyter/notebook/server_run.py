"""Runs on the server (registered strategies), followed live over ``/ws``.

The server streams metrics and a chart-sized equity curve, not every bar's equity or
the trades. The engine is deterministic, so when a server run completes the kernel
replays the same request (data, strategy, params, settings) to give ``run.result()``
its full ``equity``, ``trades`` and ``stats``, keeping the server's metrics; if it cannot
(e.g. the data file is not readable from the kernel), the result has the run's
``equity_curve`` and the ``stats`` it sent.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..engine import METRIC_KEYS, RUN_SETTINGS, BacktestResult, DataError, ParamError, run_backtest
from .connection import ServerConnection, ServerError
from .follower import ServerFollower
from .run import BacktestRun
from .run_view import RunView
from .widget import BacktestWidget


def start_server_run(server: ServerConnection, request: dict[str, Any]) -> BacktestRun:
    """POST the run. A refused request raises what the engine raises for the same mistake in
    a kernel (``DataError``, ``ParamError`` naming the param), with the server's message."""
    try:
        reply = server.request("POST", "api/v1/backtest/run", request)
    except ServerError as error:
        raise engine_error(error, request) or error from None
    return follow_server_run(server, reply["backtest_id"], request)


def engine_error(error: ServerError, request: dict[str, Any]) -> ValueError | None:
    """The engine's exception for a 400 naming a field of ``request`` (None for any other)."""
    field = error.field or ""
    if error.status != 400 or field.partition(".")[0] not in request:
        return None
    if field.partition(".")[0] == "data":
        return DataError(error.message)
    return ParamError(field.removeprefix("params."), error.message)


def follow_server_run(
    server: ServerConnection, backtest_id: str, request: dict[str, Any] | None
) -> BacktestRun:
    """Display and follow a run on the server; ``request`` (if known) rebuilds its result."""
    widget = BacktestWidget(RunView(backtest_id), where=f"on the server {server.url}")
    run = BacktestRun(
        backtest_id, widget, where="server", cancel=lambda: _cancel(server, backtest_id)
    )

    def on_end() -> None:
        view = widget.view
        completed = view.status == "completed" and request is not None
        run._finish(replay(request, server.root_dir, view.metrics) if completed else None)

    ServerFollower(
        server, backtest_id, on_event=widget.push, on_end=on_end, on_give_up=run._fail
    ).start()
    return run


def replay(
    request: dict[str, Any], root_dir: str | None, metrics: dict[str, Any] | None
) -> BacktestResult | None:
    """The same run again in the kernel, for its curve and trades (None if it cannot)."""
    try:
        local = run_backtest(
            request["data"],
            request["strategy"],
            request.get("params"),
            initial_balance=request.get("initial_balance", 10_000.0),
            commission=request.get("commission", 0.0),
            periods_per_year=request.get("periods_per_year"),
            **run_settings(request),
            root_dir=root_dir,
        )
    except Exception:
        return None
    if metrics is None:
        return local
    return dataclasses.replace(
        local, metrics={k: v for k, v in metrics.items() if k in METRIC_KEYS}
    )


def run_settings(request: dict[str, Any]) -> dict[str, Any]:
    """The run settings of a run request: top-level in a POST body, under ``settings`` in
    the request the server stored."""
    given = {k: request[k] for k in RUN_SETTINGS if request.get(k) is not None}
    return {**given, **(request.get("settings") or {})}


def _cancel(server: ServerConnection, backtest_id: str) -> None:
    try:
        server.request("POST", f"api/v1/backtest/{backtest_id}/cancel")
    except ServerError as error:
        if error.status != 409:  # 409: it ended meanwhile
            raise

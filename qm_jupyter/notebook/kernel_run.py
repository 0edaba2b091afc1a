"""Runs a backtest inside the kernel, off its main thread, on the notebook's sink.

The engine reports through the seed's logging API (the streamer is its observer), so
the run's events reach this kernel's displays and, when connected, the server's hub;
a cancel asked on the server (e.g. from the IDE) stops it like ``run.cancel()`` does.
When the kernel shuts down, its runs still going are cancelled first, so each ends with
``backtest_cancelled``.
"""

from __future__ import annotations

import atexit
import threading
import uuid
from pathlib import Path
from typing import Any

import pandas as pd

from ..engine import validate_data_spec, validate_params
from ..engine.registry import StrategyLike, as_strategy
from ..jobs import run_job
from .kernel_sink import KernelSink
from .run import BacktestRun
from .settings import RunSettings, describe_source
from .widget import BacktestWidget


def start_kernel_run(
    sink: KernelSink,
    strategy: StrategyLike,
    params: dict[str, Any] | None,
    data: pd.DataFrame | dict[str, Any],
    settings: RunSettings,
    *,
    where: str,
) -> BacktestRun:
    """Check the request as the engine would (so a mistake raises here, as a server run's
    refusal does), then start the run in a thread; its display follows the kernel stream."""
    resolved = validate_params(strategy, params)
    settings.check()
    root_dir = sink.server.root_dir if sink.server is not None else None
    if isinstance(data, dict):
        data = validate_data_spec(data, root_dir)
    backtest_id = uuid.uuid4().hex
    sink.describe(
        backtest_id, settings.request(as_strategy(strategy).name, resolved, describe_source(data))
    )
    stop = threading.Event()
    run: BacktestRun | None = None

    def start(view):
        nonlocal run
        run = BacktestRun(
            backtest_id, BacktestWidget(view, where=where), where="kernel", cancel=stop.set
        )
        return run.widget.push

    sink.stream.follow(backtest_id, start)
    assert run is not None
    thread = threading.Thread(
        target=_execute,
        args=(run, sink, strategy, resolved, data, settings, root_dir, stop),
        name=f"qm-run-{backtest_id[:8]}",
        daemon=True,
    )
    _running[backtest_id] = (stop, thread)
    thread.start()
    return run


#: Runs of this kernel still going: their stop flag and thread.
_running: dict[str, tuple[threading.Event, threading.Thread]] = {}
#: How long a shutting-down kernel waits for each of its runs to stop.
EXIT_GRACE = 2.0


def _cancel_running_runs() -> None:
    """At the kernel's exit, stop its runs (an interpreter tearing down under a daemon
    thread would end them with a NameError, or not at all); each run's thread delivers its
    ``backtest_cancelled`` itself (it flushes the sink) before the wait ends."""
    for stop, _ in list(_running.values()):
        stop.set()
    for _, thread in list(_running.values()):
        thread.join(EXIT_GRACE)


atexit.register(_cancel_running_runs)


def _execute(
    run: BacktestRun,
    sink: KernelSink,
    strategy: StrategyLike,
    params: dict[str, Any],
    data: pd.DataFrame | dict[str, Any],
    settings: RunSettings,
    root_dir: str | Path | None,
    stop: threading.Event,
) -> None:
    backtest_id = run.backtest_id
    job = settings.job(backtest_id, strategy, params, data, root_dir)
    try:
        result = run_job(job, sink, lambda: stop.is_set() or sink.cancel_requested(backtest_id))
    finally:
        _running.pop(backtest_id, None)
    sink.flush()  # the server holds the run's end before its handle resolves
    run._finish(result)

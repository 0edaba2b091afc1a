"""QuantMindExtension: the Jupyter server extension, its settings and its routes."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.extension.application import ExtensionApp
from traitlets import Float, Int, Unicode, default, validate

from ..discovery import ENV_TOKEN, ENV_URL
from ..sinks import HubSink, set_default_sink
from ..ws_logger import DEFAULT_PROGRESS_RATE
from .handlers.base import SERVICE_SETTING
from .handlers.ide import IDEHandler
from .handlers.rest import (
    BacktestCancelHandler,
    BacktestEventsHandler,
    BacktestHandler,
    BacktestListHandler,
    BacktestRunHandler,
    OpenAPIHandler,
    StrategiesHandler,
)
from .handlers.sweep import (
    SweepCancelHandler,
    SweepClusterHandler,
    SweepEventsHandler,
    SweepHandler,
    SweepListHandler,
    SweepRunHandler,
)
from .handlers.websocket import BacktestStreamHandler
from .heap import freeze_long_lived
from .service import BacktestService, Retention, ServiceLimits
from .sweeps.cluster import DaskCluster

_RUN_ID = r"(?P<backtest_id>[A-Za-z0-9_.\-]{1,128})"
_SWEEP_ID = r"(?P<sweep_id>[A-Za-z0-9_.\-]{1,128})"
IDE_BUILD_DIR = Path(__file__).parent.parent / "static" / "ide"  # where the IDE build writes


class QuantMindExtension(ExtensionApp):
    """Streams backtests over ``/ws`` and runs them through ``/api/v1/backtest``."""

    name = "qm_jupyter"
    load_other_extensions = True
    _kernel_watch: asyncio.Task | None = None
    _exported: dict[str, str] = {}  # what _export_connection set; replaced, never mutated

    workers = Int(2, help="How many worker processes run backtests at once.").tag(config=True)
    db_path = Unicode(
        help="SQLite file that keeps runs and their events across restarts "
        "(default: <jupyter data dir>/qm_jupyter/runs.sqlite)."
    ).tag(config=True)
    max_stored_runs = Int(
        1000,
        help="Runs kept in the store; beyond them the oldest ended runs are deleted, at start "
        "and as runs end (0: no limit). Runs still going are never deleted.",
    ).tag(config=True)
    max_run_age_days = Float(
        None,
        allow_none=True,
        help="Delete runs that ended more than this many days ago, at start and as runs end "
        "(default: none).",
    ).tag(config=True)
    progress_every = Int(100, help="Bars between two progress reports of a run.").tag(config=True)
    max_progress_rate = Float(
        DEFAULT_PROGRESS_RATE, help="At most this many backtest_progress events per second per run."
    ).tag(config=True)
    max_sample_bars = Int(
        50_000_000, help="Largest built-in sample run (bars) a request may ask for."
    ).tag(config=True)
    max_data_file_bytes = Int(
        4 * 1024**3, help="Largest CSV/Parquet file (bytes) a run may read."
    ).tag(config=True)
    max_queued_runs = Int(1000, help="Runs that may wait for a worker before 429.").tag(config=True)
    cancel_grace = Float(
        1.5, help="Seconds a cancelled run has to stop before its worker is killed."
    ).tag(config=True)
    ws_max_message_size = Int(
        64 * 1024, help="Largest /ws frame a client may send (bytes); larger closes with 1009."
    ).tag(config=True)
    subscriber_buffer = Int(
        10_000, help="Frames queued for one /ws client before it reads from the store instead."
    ).tag(config=True)
    slow_client_timeout = Float(
        10.0,
        help="A /ws client whose buffer is full and that has read nothing for this many "
        "seconds is closed (code 4008) and may resume with since.",
    ).tag(config=True)
    ws_ping_interval = Float(30.0, help="Seconds between /ws pings (0: none).").tag(config=True)
    ws_max_connection_age = Float(
        0.0,
        help="Close /ws connections after this many seconds (code 1001; 0: never), so that "
        "clients spread again over servers behind a load balancer; they resume with since.",
    ).tag(config=True)
    ws_ping_timeout = Float(30.0, help="Seconds without a pong before /ws closes.").tag(config=True)
    strategies_dir = Unicode(
        "strategies",
        help="Folder (relative to the server's root_dir) whose *.py files define user "
        "strategies, runnable by name; empty to load none from files.",
    ).tag(config=True)
    ide_dir = Unicode(help="Folder of the built QuantMind IDE served at /quantmind/.").tag(
        config=True
    )
    kernel_check_interval = Float(
        2.0,
        help="Seconds between checks that the kernels running published backtests are still "
        "the same processes; a run whose kernel stopped or restarted is failed.",
    ).tag(config=True)

    dask_scheduler_address = Unicode(
        "",
        help="Address of the Dask scheduler that runs sweeps (e.g. tcp://scheduler:8786); "
        "empty: a local Dask cluster of dask_workers processes, started on the first sweep "
        "and shut down with the server.",
    ).tag(config=True)
    dask_workers = Int(
        help="Worker processes (one thread each) of the local Dask cluster (default: the "
        "machine's cores); unused when dask_scheduler_address is set."
    ).tag(config=True)
    dask_connect_timeout = Float(
        10.0, help="Seconds to reach (or reconnect to) the Dask scheduler before a sweep fails."
    ).tag(config=True)
    max_sweep_trials = Int(
        10_000, help="Most trials one sweep may run (a larger grid is refused)."
    ).tag(config=True)

    @default("dask_workers")
    def _default_dask_workers(self) -> int:
        return os.cpu_count() or 1

    @validate("dask_workers", "max_sweep_trials")
    def _validate_positive(self, proposal) -> int:
        if proposal["value"] < 1:
            raise ValueError(f"QuantMindExtension.{proposal['trait'].name} must be at least 1")
        return proposal["value"]

    @default("db_path")
    def _default_db_path(self) -> str:
        return str(Path(jupyter_data_dir()) / "qm_jupyter" / "runs.sqlite")

    @default("ide_dir")
    def _default_ide_dir(self) -> str:
        return str(IDE_BUILD_DIR)

    @validate("workers")
    def _validate_workers(self, proposal) -> int:
        if proposal["value"] < 1:
            raise ValueError("QuantMindExtension.workers must be at least 1")
        return proposal["value"]

    @validate("max_stored_runs")
    def _validate_max_stored_runs(self, proposal) -> int:
        if proposal["value"] < 0:
            raise ValueError("QuantMindExtension.max_stored_runs must be 0 (no limit) or more")
        return proposal["value"]

    @validate("max_run_age_days")
    def _validate_max_run_age_days(self, proposal) -> float | None:
        if proposal["value"] is not None and not proposal["value"] > 0:
            raise ValueError("QuantMindExtension.max_run_age_days must be positive (or None)")
        return proposal["value"]

    def initialize_settings(self) -> None:
        self.service = BacktestService(
            self.db_path,
            self.serverapp.root_dir,
            workers=self.workers,
            cancel_grace=self.cancel_grace,
            strategies_dir=self.strategies_dir or None,
            limits=ServiceLimits(
                max_sample_bars=self.max_sample_bars,
                max_data_file_bytes=self.max_data_file_bytes,
                max_queued_runs=self.max_queued_runs,
                progress_every=self.progress_every,
                max_progress_rate=self.max_progress_rate,
            ),
            retention=Retention(self.max_stored_runs, self.max_run_age_days),
            kernel_identity=self._kernel_identity,
            cluster=DaskCluster(
                self.dask_scheduler_address,
                n_workers=self.dask_workers,
                connect_timeout=self.dask_connect_timeout,
                log=self.log,
            ),
            max_sweep_trials=self.max_sweep_trials,
            log=self.log,
        )
        self.service.recover()
        self.settings.update(
            {
                SERVICE_SETTING: self.service,
                "qm_jupyter_ws": {
                    "max_message_size": self.ws_max_message_size,
                    "subscriber_buffer": self.subscriber_buffer,
                    "slow_client_timeout": self.slow_client_timeout,
                    "ping_interval": self.ws_ping_interval,
                    "ping_timeout": self.ws_ping_timeout,
                    "max_connection_age": self.ws_max_connection_age,
                },
            }
        )

    def initialize_handlers(self) -> None:
        run = rf"/api/v1/backtest/{_RUN_ID}"
        sweep = rf"/api/v1/sweep/{_SWEEP_ID}"
        ide = {"path": self.ide_dir, "default_filename": "index.html"}
        self.handlers.extend(
            [
                (r"/api/v1/backtest/run", BacktestRunHandler),
                (r"/api/v1/backtest/?", BacktestListHandler),
                (r"/api/v1/backtest/openapi\.json", OpenAPIHandler),
                (rf"{run}/cancel", BacktestCancelHandler),
                (rf"{run}/events", BacktestEventsHandler),
                (rf"{run}/?", BacktestHandler),
                (r"/api/v1/strategies/?", StrategiesHandler),
                (r"/api/v1/sweep/run", SweepRunHandler),
                (r"/api/v1/sweep/?", SweepListHandler),
                (r"/api/v1/sweep/cluster", SweepClusterHandler),
                (rf"{sweep}/cancel", SweepCancelHandler),
                (rf"{sweep}/events", SweepEventsHandler),
                (rf"{sweep}/?", SweepHandler),
                (r"/ws", BacktestStreamHandler),
                # `/quantmind` (an empty path: the build's folder) redirects to `/quantmind/`.
                (r"/quantmind()", IDEHandler, ide),
                (r"/quantmind/(.*)", IDEHandler, ide),
            ]
        )

    def _kernel_identity(self, kernel_id: str) -> tuple[int, int | None] | None:
        """What identifies the process of this server's kernel ``kernel_id`` now (its
        provisioner is made anew on each start), or None if it has no such kernel."""
        manager = self.serverapp.kernel_manager
        if kernel_id not in manager:
            return None
        provisioner = getattr(manager.get_kernel(kernel_id), "provisioner", None)
        if provisioner is None:
            return None
        return id(provisioner), getattr(provisioner, "pid", None)

    async def _watch_kernel_runs(self) -> None:
        while True:
            await asyncio.sleep(self.kernel_check_interval)
            try:
                self.service.end_runs_of_stopped_kernels()
            except Exception:  # the next check tries again; the server keeps serving
                self.log.exception("Could not check the kernels of published runs")

    def _export_connection(self) -> None:
        """Tell kernels started by this server where it is (they inherit the environment)."""
        self._exported = {ENV_URL: self.serverapp.connection_url}
        token = getattr(self.serverapp.identity_provider, "token", "") or ""
        if token:
            self._exported[ENV_TOKEN] = token
        os.environ.update(self._exported)

    def _unexport_connection(self) -> None:
        """Take back what _export_connection set, unless something has changed it since."""
        for name, value in self._exported.items():
            if os.environ.get(name) == value:
                del os.environ[name]
        self._exported = {}

    async def _start_jupyter_server_extension(self, serverapp) -> None:
        """Start the workers once the loop runs; in-process sources publish to the hub."""
        self.service.runner.start()
        self._export_connection()
        set_default_sink(HubSink(self.service.hub, asyncio.get_running_loop()))
        self._kernel_watch = asyncio.ensure_future(self._watch_kernel_runs())
        freeze_long_lived()  # the server's modules and settings, before any run streams
        self.log.info(
            "qm_jupyter: %d backtest workers, runs stored in %s", self.workers, self.db_path
        )

    async def stop_extension(self) -> None:
        """Undo everything the extension started, as jupyter_server_terminals does: the
        kernel watch, the in-process sink, the environment kernels would inherit, the
        workers (runs still going end as failed), /ws connections (closed with 1001) and the
        store; safe to call twice."""
        set_default_sink(None)
        self._unexport_connection()
        if self._kernel_watch is not None:
            self._kernel_watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._kernel_watch
            self._kernel_watch = None
        self.log.info(
            "qm_jupyter: stopping %d backtest workers and %d /ws clients",
            self.service.runner.worker_count,
            self.service.hub.subscriber_count,
        )
        await self.service.stop()

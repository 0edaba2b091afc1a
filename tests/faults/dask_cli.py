"""A real multi-process Dask cluster for the sweep tests: ``dask scheduler`` and ``dask
worker`` (one process, one thread each) as subprocesses on 127.0.0.1, torn down after."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from distributed import Client
from server_process import free_port

DASK = str(Path(sys.executable).parent / "dask")


class DaskCLICluster:
    """``dask scheduler`` plus ``workers`` ``dask worker`` commands, logging to ``log_dir``."""

    def __init__(self, log_dir: Path, workers: int = 2):
        self.log_dir = log_dir
        self.workers = workers
        self.port = free_port()
        self.processes: list[subprocess.Popen] = []

    @property
    def address(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def _spawn(self, name: str, *args: str) -> subprocess.Popen:
        log = (self.log_dir / f"{name}.log").open("ab")
        process = subprocess.Popen([DASK, *args], stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def start(self) -> None:
        self.scheduler = self._spawn(
            "scheduler", "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
            "--no-dashboard",
        )  # fmt: skip
        for index in range(self.workers):
            self._spawn(
                f"worker{index}", "worker", self.address, "--nworkers", "1", "--nthreads", "1",
                "--host", "127.0.0.1", "--no-dashboard", "--name", f"w{index}",
            )  # fmt: skip
        with Client(self.address, timeout=60) as client:
            client.wait_for_workers(self.workers, timeout=90)

    def busy_worker_pid(self) -> int | None:
        """The process of a worker running a sweep's trials now (not only holding them in
        its queue, or fetching the sweep's data), if any."""

        def running_trials(dask_worker) -> int:  # local: pickled by value to the workers
            executing = dask_worker.state.executing
            return sum(1 for task in executing if task.key.startswith("qm-trials-"))

        with Client(self.address, timeout=10) as client:
            running = client.run(running_trials)
            busy = [worker for worker, count in running.items() if count]
            if not busy:
                return None
            return client.run(os.getpid, workers=busy[:1])[busy[0]]

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

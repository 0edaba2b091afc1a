"""The embedded Dask cluster's own process: ``python -m qm_jupyter.server.sweeps.local_cluster N``.

A ``LocalCluster`` started inside the server would run its scheduler and its workers'
nannies on the server's event loop (task transitions, every trial's events, heartbeats,
memory monitors), which then stalls ``/ws`` for everyone while a sweep runs. Here it runs
apart: this process prints the scheduler's address on its first line, and shuts the cluster
down when its stdin closes (the server stopped it, or died). Its worker processes run at a
lower CPU priority (:func:`dask_setup`, their preload), so a sweep that keeps every core
busy never starves the server.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

#: How much lower the workers' priority is (a nice value; 10: they get about a tenth of a
#: core the server wants too, and everything the server leaves).
WORKER_NICENESS = 10


def dask_setup(worker: object) -> None:
    """Lower the priority of every thread of this worker process (a Dask preload)."""
    threads = Path("/proc/self/task")
    if not threads.is_dir():  # not Linux: the nice value is the process's
        os.nice(WORKER_NICENESS)
        return
    for tid in (int(name) for name in os.listdir(threads)):
        niceness = os.getpriority(os.PRIO_PROCESS, tid) + WORKER_NICENESS
        os.setpriority(os.PRIO_PROCESS, tid, niceness)


def main(n_workers: int) -> None:
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        silence_logs=logging.WARNING,
        preload=[__spec__.name],
    ) as cluster:
        print(cluster.scheduler_address, flush=True)
        sys.stdin.read()  # until the server closes it


if __name__ == "__main__":
    main(int(sys.argv[1]))

"""The embedded Dask cluster's own process: ``python -m qm_jupyter.server.sweeps.local_cluster N``.

A ``LocalCluster`` started inside the server would run its scheduler and its workers'
nannies on the server's event loop (task transitions, every trial's events, heartbeats,
memory monitors), which then stalls ``/ws`` for everyone while a sweep runs. Here it runs
apart: this process prints the scheduler's address on its first line, and shuts the cluster
down when its stdin closes (the server stopped it, or died). Its worker processes run in
Linux's idle scheduling class (:func:`dask_setup`, their preload): they take only the CPU time
that nothing else wants, so a sweep that keeps every core busy never slows the server or
the other processes of the machine (a nice value of 10 still left them a tenth of each core
the server wanted: /ws latency during a sweep 0.39x of idle).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: Where there is no idle scheduling class, how much lower the workers' priority is.
WORKER_NICENESS = 19


def dask_setup(worker: object) -> None:
    """Put every thread of this worker process in the idle scheduling class (a Dask
    preload); threads started later inherit it."""
    threads = Path("/proc/self/task")
    if not (threads.is_dir() and hasattr(os, "SCHED_IDLE")):  # not Linux
        os.nice(WORKER_NICENESS)
        return
    for tid in (int(name) for name in os.listdir(threads)):
        os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))


def main(n_workers: int) -> None:
    from distributed import LocalCluster

    from ...sweep_trials import LOCAL_CLUSTER_OPTIONS

    with LocalCluster(
        n_workers=n_workers, preload=[__spec__.name], **LOCAL_CLUSTER_OPTIONS
    ) as cluster:
        print(cluster.scheduler_address, flush=True)
        sys.stdin.read()  # until the server closes it


if __name__ == "__main__":
    main(int(sys.argv[1]))

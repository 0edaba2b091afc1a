"""The Dask cluster that runs sweeps: an embedded local one, or an existing one by address.

With no address the first sweep starts a ``LocalCluster`` of worker processes on 127.0.0.1
with no dashboard (the scheduler's other HTTP routes on a free port, never 8787), in a
process of its own (:mod:`.local_cluster`: its scheduler and nannies off the server's loop,
its workers at a lower CPU priority); with an address nothing is started, and the cluster is
only connected to. Kernels ask for the scheduler's address (:meth:`DaskCluster.scheduler_address`)
to run their own sweeps on the same cluster. Either way the client is Dask's asynchronous
one on the server's loop, so no Dask call ever blocks the loop. A client that lost its
scheduler is replaced on the next use.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import sys
from typing import Any

from ...sweep_trials import cluster_threads
from ..heap import freeze_long_lived

#: Seconds the embedded cluster has to start, and to shut down before it is killed.
LOCAL_START_TIMEOUT = 60.0
LOCAL_STOP_TIMEOUT = 10.0


class ClusterUnavailable(RuntimeError):
    """The Dask scheduler could not be reached (or the local cluster would not start)."""


class DaskCluster:
    """The server's one connection to Dask, made on first use."""

    def __init__(
        self,
        address: str = "",
        *,
        n_workers: int = 2,
        connect_timeout: float = 10.0,
        log: logging.Logger | None = None,
    ):
        self.address = address
        self.n_workers = n_workers
        self.connect_timeout = connect_timeout
        self.log = log or logging.getLogger(__name__)
        self._local: subprocess.Popen | None = None
        self._local_address: str | None = None
        self._client: Any = None
        self._lock = asyncio.Lock()

    @property
    def where(self) -> str:
        """The scheduler, as error messages name it."""
        if self.address:
            return self.address
        return self._local_address or "the embedded local cluster"

    async def client(self) -> Any:
        """A running asynchronous ``distributed.Client``; raises :class:`ClusterUnavailable`."""
        async with self._lock:
            if self._client is not None and self._client.status == "running":
                return self._client
            await self._close_client()
            from distributed import Client  # only a server that sweeps pays for importing it

            try:
                address = self.address or await self._start_local()
                self._client = await Client(
                    address,
                    asynchronous=True,
                    timeout=self.connect_timeout,
                    set_as_default=False,
                )
                freeze_long_lived()  # distributed's modules, imported just now
            except Exception as error:  # OSError, TimeoutError, a cluster that fails to start
                raise ClusterUnavailable(
                    f"cannot reach the Dask scheduler at {self.where}: {error}"
                ) from None
            return self._client

    async def scheduler_address(self) -> str:
        """Where the scheduler listens (the embedded cluster started now if it is not yet);
        raises :class:`ClusterUnavailable`."""
        if self.address:
            return self.address
        async with self._lock:
            try:
                return await self._start_local()
            except Exception as error:
                raise ClusterUnavailable(f"cannot start the local Dask cluster: {error}") from None

    async def _start_local(self) -> str:
        """The embedded cluster's scheduler address, its process started if need be."""
        if self._local is not None and self._local.poll() is None:
            return self._local_address
        self.log.info("qm_jupyter: starting a local Dask cluster of %d workers", self.n_workers)
        command = [sys.executable, "-m", f"{__package__}.local_cluster", str(self.n_workers)]
        local = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            line = await asyncio.wait_for(
                asyncio.to_thread(local.stdout.readline), LOCAL_START_TIMEOUT
            )
        except TimeoutError:
            line = b""
        if not line.startswith(b"tcp://"):
            local.kill()
            await asyncio.to_thread(local.wait)
            raise RuntimeError(f"the local cluster did not start (exit code {local.poll()})")
        self._local, self._local_address = local, line.decode().strip()
        return self._local_address

    async def threads(self) -> int:
        """Worker threads in the cluster now (at least 1: tasks wait for workers to come)."""
        client = await self.client()
        return cluster_threads(client.scheduler_info())

    async def _close_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close(timeout=2)

    async def close(self) -> None:
        """Disconnect, and shut the embedded cluster down (an external one is left alone)."""
        async with self._lock:
            await self._close_client()
            local, self._local = self._local, None
            if local is not None:
                local.stdin.close()  # the cluster shuts down, then its process ends
                try:
                    await asyncio.to_thread(local.wait, LOCAL_STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    local.kill()
                    await asyncio.to_thread(local.wait)

"""The Dask cluster that runs sweeps: an embedded local one, or an existing one by address.

With no address the first sweep starts a ``LocalCluster`` of worker processes (spawned,
never forks of the server) on 127.0.0.1 with no dashboard (the scheduler's other HTTP routes
on a free port, never 8787); with an address nothing is started, and the cluster is only
connected to. Kernels ask for the scheduler's address (:meth:`DaskCluster.scheduler_address`)
to run their own sweeps on the same cluster. Either way the client is Dask's asynchronous
one on the server's loop, so no Dask call ever blocks the loop. A client that lost its
scheduler is replaced on the next use.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any


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
        self._cluster: Any = None
        self._client: Any = None
        self._lock = asyncio.Lock()

    @property
    def where(self) -> str:
        """The scheduler, as error messages name it."""
        if self.address:
            return self.address
        return getattr(self._cluster, "scheduler_address", None) or "the embedded local cluster"

    async def client(self) -> Any:
        """A running asynchronous ``distributed.Client``; raises :class:`ClusterUnavailable`."""
        async with self._lock:
            if self._client is not None and self._client.status == "running":
                return self._client
            await self._close_client()
            from distributed import Client  # only a server that sweeps pays for importing it

            try:
                address = self.address or await self._local_address()
                self._client = await Client(
                    address,
                    asynchronous=True,
                    timeout=self.connect_timeout,
                    set_as_default=False,
                )
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
                return await self._local_address()
            except Exception as error:
                raise ClusterUnavailable(f"cannot start the local Dask cluster: {error}") from None

    async def _local_address(self) -> str:
        if self._cluster is None:
            from distributed import LocalCluster

            self.log.info("qm_jupyter: starting a local Dask cluster of %d workers", self.n_workers)
            self._cluster = await LocalCluster(
                n_workers=self.n_workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                asynchronous=True,
                silence_logs=logging.WARNING,
            )
        return self._cluster.scheduler_address

    async def threads(self) -> int:
        """Worker threads in the cluster now (at least 1: tasks wait for workers to come)."""
        client = await self.client()
        info = client.scheduler_info()
        return max(1, sum(w.get("nthreads", 1) for w in info.get("workers", {}).values()))

    async def _close_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close(timeout=2)

    async def close(self) -> None:
        """Disconnect, and shut the embedded cluster down (an external one is left alone)."""
        async with self._lock:
            await self._close_client()
            cluster, self._cluster = self._cluster, None
            if cluster is not None:
                with contextlib.suppress(Exception):
                    await cluster.close()

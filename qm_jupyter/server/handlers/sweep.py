"""The sweep REST API (``/api/v1/sweep/...``), authenticated and authorized like every route."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..run_request import RequestError
from ..store import SweepRecord, sweep_key
from ..sweeps.cluster import ClusterUnavailable
from .base import MAX_SEQ
from .rest import BacktestAPIHandler, int_argument


class SweepAPIHandler(BacktestAPIHandler):
    def sweep_or_404(self, sweep_id: str) -> SweepRecord:
        sweep = self.service.store.get_sweep(sweep_id)
        if sweep is None:
            raise web.HTTPError(404, f"no sweep with id {sweep_id!r}")
        return sweep


class SweepRunHandler(SweepAPIHandler):
    """``POST /api/v1/sweep/run``: start a sweep (202), or return the same one again."""

    @web.authenticated
    @authorized
    def post(self) -> None:
        try:
            sweep, _created = self.service.submit_sweep(self.json_body())
        except RequestError as error:
            self.refuse(error.status, str(error), error.field)
            return
        body = {"sweep_id": sweep.sweep_id, "status": sweep.status}
        self.reply({**body, "total_trials": sweep.total_trials}, 202)


class SweepListHandler(SweepAPIHandler):
    """``GET /api/v1/sweep``: sweeps, newest first (``?limit=&offset=``), without trials."""

    @web.authenticated
    @authorized
    def get(self) -> None:
        limit = int_argument(self, "limit", 100, 1, 1000)
        offset = int_argument(self, "offset", 0, 0, MAX_SEQ)
        sweeps = self.service.store.list_sweeps(limit, offset)
        self.reply({"sweeps": [self.service.sweeps.summary(sweep) for sweep in sweeps]})


class SweepClusterHandler(SweepAPIHandler):
    """``GET /api/v1/sweep/cluster``: the address of the Dask scheduler that runs sweeps (the
    embedded cluster started now if it is not yet), so that a kernel runs its own sweeps
    there; 503 if it cannot start."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        try:
            address = await self.service.sweeps.cluster.scheduler_address()
        except ClusterUnavailable as error:
            self.refuse(503, str(error))
            return
        self.reply({"scheduler_address": address})


class SweepHandler(SweepAPIHandler):
    """``GET /api/v1/sweep/{id}``: the sweep, its counts, best trial and every trial.

    ``DELETE`` removes an ended sweep and its events (204; its trials stay, as runs); a
    sweep still running is refused (409): cancel it first.
    """

    @web.authenticated
    @authorized
    def get(self, sweep_id: str) -> None:
        self.reply(self.service.sweeps.describe(self.sweep_or_404(sweep_id)))

    @web.authenticated
    @authorized
    def delete(self, sweep_id: str) -> None:
        sweep = self.sweep_or_404(sweep_id)
        if not self.service.delete_sweep(sweep_id):
            self.refuse(409, f"sweep {sweep_id} is {sweep.status}; cancel it before deleting")
            return
        self.set_status(204)
        self.finish()


class SweepCancelHandler(SweepAPIHandler):
    """``POST /api/v1/sweep/{id}/cancel``: stop a running sweep (a kernel's: the reply to its
    next batch of events asks it to stop); its finished trials stay."""

    @web.authenticated
    @authorized
    def post(self, sweep_id: str) -> None:
        sweep = self.sweep_or_404(sweep_id)
        if not self.service.cancel_sweep(sweep_id):
            self.refuse(409, f"sweep {sweep_id} is {sweep.status}; there is nothing to cancel")
            return
        self.reply({"sweep_id": sweep_id, "status": "cancelling"}, 202)


class SweepEventsHandler(SweepAPIHandler):
    """``POST /api/v1/sweep/{id}/events``: publish events of a sweep that a notebook kernel
    drives, as ``POST /api/v1/backtest/{id}/events`` does for a run: the first batch creates
    the sweep from its ``request`` (the ``sweep_start`` data) and ``kernel_id``; the reply
    says the last seq and whether a cancel was asked."""

    @web.authenticated
    @authorized
    def post(self, sweep_id: str) -> None:
        self.publish_external(sweep_key(sweep_id), {"sweep_id": sweep_id})

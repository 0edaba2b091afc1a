"""The sweep REST API (``/api/v1/sweep/...``), authenticated and authorized like every route."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..run_request import RequestError
from ..store import SweepRecord
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


class SweepHandler(SweepAPIHandler):
    """``GET /api/v1/sweep/{id}``: the sweep, its counts, best trial and every trial."""

    @web.authenticated
    @authorized
    def get(self, sweep_id: str) -> None:
        self.reply(self.service.sweeps.describe(self.sweep_or_404(sweep_id)))


class SweepCancelHandler(SweepAPIHandler):
    """``POST /api/v1/sweep/{id}/cancel``: stop a running sweep; its finished trials stay."""

    @web.authenticated
    @authorized
    def post(self, sweep_id: str) -> None:
        sweep = self.sweep_or_404(sweep_id)
        if not self.service.sweeps.cancel(sweep_id):
            self.refuse(409, f"sweep {sweep_id} is {sweep.status}; there is nothing to cancel")
            return
        self.reply({"sweep_id": sweep_id, "status": "cancelling"}, 202)

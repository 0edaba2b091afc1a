"""The backtest REST API (``/api/v1/...``), authenticated and authorized like Jupyter's own."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

from ...events import dumps, loads
from ..run_request import RequestError
from ..store import ANY_SWEEP, RunRecord
from .base import MAX_SEQ, QuantMindHandlerMixin

MAX_EVENTS_PAGE = 10_000
OPENAPI_DOCUMENT = Path(__file__).parent.parent / "openapi.json"


class BacktestAPIHandler(QuantMindHandlerMixin, APIHandler):
    """Base of the REST handlers: JSON replies with a ``message`` on every error."""

    def reply(self, body: object, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(body if isinstance(body, str) else dumps(body))

    def refuse(self, status: int, message: str, field: str | None = None) -> None:
        body = {"message": message}
        if field:
            body["field"] = field
        self.reply(body, status)

    def json_body(self) -> Any:
        """The request's body, parsed strictly (see :func:`~qm_jupyter.events.loads`)."""
        try:
            return loads(self.request.body or b"null")
        except ValueError as error:
            raise RequestError(f"the request body is not valid JSON: {error}") from None

    def publish_external(self, key: str, reply: dict[str, Any]) -> None:
        """Publish the body's events on the stream ``key`` of a run or sweep executing
        elsewhere (see ``BacktestService.publish_external``); reply with ``reply``, the
        stream's last seq and whether a cancel was asked."""
        try:
            last_seq = self.service.publish_external(key, self.json_body())
        except RequestError as error:
            self.refuse(error.status, str(error), error.field)
            return
        cancel_requested = self.service.cancel_requested(key)
        self.reply({**reply, "last_seq": last_seq, "cancel_requested": cancel_requested})

    def run_or_404(self, backtest_id: str) -> RunRecord:
        run = self.service.hub.get_run(backtest_id)
        if run is None:
            raise web.HTTPError(404, f"no backtest with id {backtest_id!r}")
        return run


class BacktestRunHandler(BacktestAPIHandler):
    """``POST /api/v1/backtest/run``: start a backtest (202), or return the same one again."""

    @web.authenticated
    @authorized
    def post(self) -> None:
        try:
            run, _created = self.service.submit(self.json_body())
        except RequestError as error:
            self.refuse(error.status, str(error), error.field)
            return
        self.reply({"backtest_id": run.backtest_id, "status": run.status}, 202)


class BacktestListHandler(BacktestAPIHandler):
    """``GET /api/v1/backtest``: runs, newest first (``?limit=&offset=``), without curves;
    ``?sweep_id=none`` only the runs that are no sweep's trial, ``?sweep_id=<id>`` only the
    trials of that sweep."""

    @web.authenticated
    @authorized
    def get(self) -> None:
        limit = int_argument(self, "limit", 100, 1, 1000)
        offset = int_argument(self, "offset", 0, 0, MAX_SEQ)
        try:
            sweep_id = sweep_id_filter(self.get_argument("sweep_id", None))
        except RequestError as error:
            self.refuse(error.status, str(error), error.field)
            return
        runs = self.service.store.list_runs(limit, offset, sweep_id)
        self.reply({"runs": [run.summary() for run in runs]})


class BacktestHandler(BacktestAPIHandler):
    """``GET /api/v1/backtest/{id}``: one run's status, request, progress and result.

    ``DELETE`` removes an ended run and its events (204); a run still going is refused (409):
    cancel it first.
    """

    @web.authenticated
    @authorized
    def get(self, backtest_id: str) -> None:
        self.reply(self.run_or_404(backtest_id).to_dict())

    @web.authenticated
    @authorized
    def delete(self, backtest_id: str) -> None:
        run = self.run_or_404(backtest_id)
        if not self.service.delete_run(backtest_id):
            self.refuse(409, f"backtest {backtest_id} is {run.status}; cancel it before deleting")
            return
        self.set_status(204)
        self.finish()


class BacktestCancelHandler(BacktestAPIHandler):
    """``POST /api/v1/backtest/{id}/cancel``: stop a queued or running run."""

    @web.authenticated
    @authorized
    def post(self, backtest_id: str) -> None:
        run = self.run_or_404(backtest_id)
        if not self.service.cancel(backtest_id):
            self.refuse(409, f"backtest {backtest_id} is {run.status}; there is nothing to cancel")
            return
        self.reply({"backtest_id": backtest_id, "status": "cancelling"}, 202)


class BacktestEventsHandler(BacktestAPIHandler):
    """``GET /api/v1/backtest/{id}/events?since=N``: stored events with seq > N, in order.

    ``POST`` publishes events of a run that executes elsewhere (a notebook kernel): body
    ``{"events": [{"type", "data", "timestamp"?}], "request": {...}?}``; the run is created
    on its first batch. The reply carries the last seq and whether a cancel was asked.
    """

    @web.authenticated
    @authorized
    def get(self, backtest_id: str) -> None:
        run = self.run_or_404(backtest_id)
        since = int_argument(self, "since", 0, 0, MAX_SEQ)
        limit = int_argument(self, "limit", MAX_EVENTS_PAGE, 1, MAX_EVENTS_PAGE)
        frames = self.service.store.frames_since(backtest_id, since, limit)
        head = {
            "backtest_id": backtest_id,
            "status": run.status,
            "last_seq": run.last_seq,
            "has_more": since + len(frames) < run.last_seq,
        }
        # The frames are stored as strict JSON already: splice them in, do not re-encode.
        self.reply(dumps(head)[:-1] + ',"events":[' + ",".join(frames) + "]}")

    @web.authenticated
    @authorized
    def post(self, backtest_id: str) -> None:
        self.publish_external(backtest_id, {"backtest_id": backtest_id})


class StrategiesHandler(BacktestAPIHandler):
    """``GET /api/v1/strategies``: each strategy with its parameters (type, default, bounds)."""

    @web.authenticated
    @authorized
    def get(self) -> None:
        self.reply(self.service.strategies())


class OpenAPIHandler(BacktestAPIHandler):
    """``GET /api/v1/backtest/openapi.json``: the OpenAPI 3 document of this REST API.

    The shipped document's paths are relative to ``servers[0].url``, set here to this
    server's base_url so that clients resolve every path correctly.
    """

    @web.authenticated
    @authorized
    def get(self) -> None:
        document = loads(_openapi_text())
        document["servers"] = [{"url": url_path_join(self.base_url, "/").rstrip("/") or "/"}]
        self.reply(document)


@cache
def _openapi_text() -> str:
    return OPENAPI_DOCUMENT.read_text(encoding="utf-8")


#: ``?sweep_id=``: "none" (runs that are no sweep's trial) or a sweep id (as in the routes).
SWEEP_ID_FILTER = re.compile(r"none|[A-Za-z0-9_.\-]{1,128}")


def sweep_id_filter(raw: str | None) -> str | None:
    """A run listing's ``?sweep_id=`` as ``list_runs`` takes it: ``ANY_SWEEP`` when absent,
    None for ``none``, else the sweep id; anything else is a `RequestError` (400)."""
    if raw is None:
        return ANY_SWEEP
    if not SWEEP_ID_FILTER.fullmatch(raw):
        raise RequestError(
            "sweep_id must be 'none' (runs that are not sweep trials) or a sweep id "
            f"(1 to 128 letters, digits, '_', '.' or '-'), got {raw[:140]!r}",
            "sweep_id",
        )
    return None if raw == "none" else raw


def int_argument(
    handler: web.RequestHandler, name: str, default: int, low: int, high: int | None
) -> int:
    raw = handler.get_argument(name, None)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise web.HTTPError(400, f"{name} must be an integer, got {raw!r}") from None
    if value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"between {low} and {high}"
        raise web.HTTPError(400, f"{name} must be {bounds}, got {value}")
    return value

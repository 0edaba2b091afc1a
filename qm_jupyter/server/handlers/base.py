"""What every handler of the extension shares: its authorization resource, the service,
and error logs that never show a token.

Tornado logs a failed request with its raw URI (``?token=...`` included) and, for an
uncaught exception, the request's repr (the URI again). Jupyter scrubs its own access log
with ``jupyter_server.log._scrub_uri``; :meth:`QuantMindHandlerMixin.log_exception` (a
public tornado hook) logs with it too, and hides a URI's whole query if it is gone.
``tests/server/test_handlers_base.py`` fails the day ``_scrub_uri`` moves or changes.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from tornado import web
from tornado.log import app_log, gen_log

if TYPE_CHECKING:
    from tornado.httputil import HTTPServerRequest

    from ..service import BacktestService


def hide_query(uri: str) -> str:
    """``uri`` with its whole query hidden (any parameter may be a credential)."""
    path, query_mark, _ = uri.partition("?")
    return f"{path}?[secret]" if query_mark else path


try:  # private to jupyter_server: its moving must not stop the extension from loading
    from jupyter_server.log import _scrub_uri as scrub_uri
except ImportError:
    scrub_uri = hide_query


AUTH_RESOURCE = "backtests"
SERVICE_SETTING = "qm_jupyter_service"
#: SQLite integers are signed 64-bit: a larger since/offset would fail the query (a 500).
MAX_SEQ = 2**63 - 1


class QuantMindHandlerMixin:
    """Mixed into every handler of the extension, before tornado's and Jupyter's classes."""

    auth_resource = AUTH_RESOURCE
    request: HTTPServerRequest
    settings: dict

    @property
    def service(self) -> BacktestService:
        return self.settings[SERVICE_SETTING]

    def log_exception(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Tornado's log lines of a failed request, with the URI scrubbed (and no repr of
        the request, which holds the raw URI)."""
        request = self.request
        summary = f"{request.method} {scrub_uri(request.uri or '')} ({request.remote_ip})"
        if isinstance(value, web.HTTPError):
            if message := value.get_message():
                gen_log.warning("%d %s: %s", value.status_code, summary, message)
        else:
            app_log.error("Uncaught exception %s", summary, exc_info=(typ, value, tb))

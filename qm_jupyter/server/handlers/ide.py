"""``/quantmind/``: the built QuantMind IDE, on Jupyter's origin and behind its login.

Jupyter's ``AuthenticatedFileHandler`` sandboxes what it serves into a unique origin,
which would cut the IDE off from the login cookie and the API; this handler serves the
IDE as an application page instead, with the same authentication and authorization.
"""

from __future__ import annotations

import os
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import JupyterHandler
from tornado import web

from .base import QuantMindHandlerMixin

NOT_BUILT = (
    "The QuantMind IDE is not built here: run "
    "`npm --prefix quantmind-ide ci && npm --prefix quantmind-ide run build`."
)


class IDEHandler(QuantMindHandlerMixin, JupyterHandler, web.StaticFileHandler):
    """Static files of the IDE build, ``index.html`` for the folder itself."""

    @web.authenticated
    @authorized
    def get(self, path: str, include_body: bool = True) -> Any:
        if not os.path.isdir(self.root):
            raise web.HTTPError(404, NOT_BUILT)
        # Reading the token sets the `_xsrf` cookie, which the IDE returns as X-XSRFToken
        # on its POSTs when it runs on Jupyter's login cookie.
        self.xsrf_token  # noqa: B018
        return web.StaticFileHandler.get(self, path, include_body)

    @web.authenticated
    @authorized
    def head(self, path: str) -> Any:
        return self.get(path, include_body=False)

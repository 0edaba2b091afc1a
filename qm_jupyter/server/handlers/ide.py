"""``/quantmind/``: the built QuantMind IDE, on Jupyter's origin and behind its login.

Jupyter's ``AuthenticatedFileHandler`` sandboxes what it serves into a unique origin,
which would cut the IDE off from the login cookie and the API; this handler serves the
IDE as an application page instead, with the same authentication and authorization.

Each view of the IDE is a folder with an ``index.html`` (``quantmind/``, ``quantmind/sweeps/``)
whose assets are relative (``../_app/...``), so a folder asked for without its trailing slash
(``quantmind``, ``quantmind/sweeps``) is redirected to it, the query (``?token=``, ``?sweep=``)
kept: Tornado's own redirect drops it, which loses the token and the sweep to open.
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
    """Static files of the IDE build, ``index.html`` for a folder (a view)."""

    @web.authenticated
    @authorized
    def get(self, path: str, include_body: bool = True) -> Any:
        if not os.path.isdir(self.root):
            raise web.HTTPError(404, NOT_BUILT)
        if self._is_folder_without_slash(path):
            query = f"?{self.request.query}" if self.request.query else ""
            self.redirect(f"{self.request.path}/{query}", permanent=True)
            return None
        # Reading the token sets the `_xsrf` cookie, which the IDE returns as X-XSRFToken
        # on its POSTs when it runs on Jupyter's login cookie.
        self.xsrf_token  # noqa: B018
        return web.StaticFileHandler.get(self, path, include_body)

    def _is_folder_without_slash(self, path: str) -> bool:
        """Whether ``path`` names a folder inside the build (the build itself included) and the
        address lacks its trailing slash. Outside the build nothing is said: the static handler
        refuses it as it would any other path."""
        if self.request.path.endswith("/") or self.request.path.startswith("//"):
            return False
        root = os.path.realpath(self.root)
        target = os.path.realpath(os.path.join(root, path))
        inside = target == root or target.startswith(root + os.sep)
        return inside and os.path.isdir(target)

    @web.authenticated
    @authorized
    def head(self, path: str) -> Any:
        return self.get(path, include_body=False)

"""Where the kernel's Jupyter server is, and how to call its REST API.

A kernel has no supported way to learn its server's URL and token, so three routes are
tried, first hit wins: an explicit :func:`connect`; the ``QM_JUPYTER_URL`` /
``QM_JUPYTER_TOKEN`` variables the extension exports (kernels inherit the server's
environment); the server runtime files, matched on ``JPY_PARENT_PID``. A server counts
only if it answers the backtest API. With none, the kernel works alone (no-server
mode) and says so once.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from ..discovery import ENV_TOKEN, ENV_URL
from ..events import dumps

PROBE_PATH = "api/v1/strategies"
PROBE_TIMEOUT = 3.0
#: Seconds by which a process's start time (from boot time and clock ticks) may be late.
CLOCK_SLACK = 1.0


class ServerError(RuntimeError):
    """The server refused a request; ``status`` is the HTTP status (0: unreachable), ``message``
    and ``field`` what its error reply says (the field it names, if any)."""

    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(f"{message} (HTTP {status})" if status else message)
        self.status = status
        self.message = message
        self.field = field


@dataclasses.dataclass(frozen=True)
class ServerConnection:
    """A Jupyter server with the qm_jupyter extension, as a kernel reaches it."""

    url: str
    token: str = dataclasses.field(default="", repr=False)  # not in a notebook's stored outputs
    root_dir: str | None = dataclasses.field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.url.endswith("/"):
            object.__setattr__(self, "url", self.url + "/")

    def endpoint(self, path: str, **query: Any) -> str:
        """The absolute URL of ``path`` (relative to the server's base_url)."""
        url = self.url + path.lstrip("/")
        return f"{url}?{urlencode(query)}" if query else url

    def ws_url(self) -> str:
        """The ``/ws`` event stream URL, token in the query (as browsers must send it)."""
        base = "ws" + self.url[len("http") :] if self.url.startswith("http") else self.url
        return f"{base}ws?{urlencode({'token': self.token})}" if self.token else f"{base}ws"

    def request(
        self, method: str, path: str, body: Any = None, *, timeout: float = 10.0, **query: Any
    ) -> Any:
        """Call the REST API; return the decoded JSON reply or raise :class:`ServerError`."""
        data = None if body is None else dumps(body).encode()
        request = urllib.request.Request(self.endpoint(path, **query), data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"token {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:
                return json.loads(reply.read() or b"null")
        except urllib.error.HTTPError as error:
            raise ServerError(error.code, *_error_reply(error)) from None
        except (OSError, ValueError) as error:
            raise ServerError(0, f"cannot reach {self.url}: {error}") from None

    def reachable(self) -> bool:
        """Whether the server answers the backtest API with this token."""
        try:
            self.request("GET", PROBE_PATH, timeout=PROBE_TIMEOUT)
        except ServerError:
            return False
        return True


def _error_reply(error: urllib.error.HTTPError) -> tuple[str, str | None]:
    """The message and field of the server's ``{"message", "field"}`` error reply."""
    try:
        reply = json.loads(error.read())
        field = reply.get("field")
        return str(reply.get("message") or error.reason), field if isinstance(field, str) else None
    except (ValueError, AttributeError, OSError):
        return str(error.reason), None


_lock = threading.Lock()
_resolved = False
_current: ServerConnection | None = None
_announced = False


def current_server() -> ServerConnection | None:
    """The server this kernel talks to, found once (then cached), or None."""
    global _resolved, _current
    with _lock:
        if not _resolved:
            _current = discover_server()
            _resolved = True
            if _current is None:
                _announce_no_server()
        return _current


def connect(url: str | None = None, token: str | None = None) -> ServerConnection | None:
    """Talk to the server at ``url`` (with ``token``); with no url, look for one again.

    Raises ``ConnectionError`` when an explicit server does not answer the backtest API.
    """
    global _resolved, _current
    if url is None:
        with _lock:
            _resolved = False
        return current_server()
    candidate = ServerConnection(url, token or "", _runtime_root_dir(url))
    if not candidate.reachable():
        raise ConnectionError(
            f"no qm_jupyter server answers at {candidate.url} with this token "
            f"(GET {PROBE_PATH} failed)"
        )
    with _lock:
        _current, _resolved = candidate, True
    return candidate


def discover_server() -> ServerConnection | None:
    """The first reachable server from the environment, then from runtime files."""
    for candidate in _candidates():
        if candidate.reachable():
            return candidate
    return None


def _candidates():
    url = os.environ.get(ENV_URL)
    if url:
        yield ServerConnection(url, os.environ.get(ENV_TOKEN, ""), _runtime_root_dir(url))
    parent_pid = os.environ.get("JPY_PARENT_PID")
    if parent_pid:
        for info in _running_servers():
            if str(info.get("pid")) == parent_pid:
                yield ServerConnection(info["url"], info.get("token", ""), info.get("root_dir"))


def _running_servers() -> list[dict[str, Any]]:
    """The runtime files of live Jupyter servers (what ``list_running_servers`` reads,
    without importing ``jupyter_server.serverapp``, which takes seconds). A killed server
    leaves its file behind: files whose process is gone are skipped, never probed."""
    from jupyter_core.paths import jupyter_runtime_dir

    servers = []
    for path in Path(jupyter_runtime_dir()).glob("jpserver-*.json"):
        try:
            info = json.loads(path.read_text())
            alive = _wrote_it(int(info["pid"]), path.stat().st_mtime)
        except (OSError, ValueError, KeyError, TypeError):
            continue  # unreadable
        if alive:
            servers.append(info)
    return servers


def _wrote_it(pid: int, written_at: float) -> bool:
    """Whether process ``pid`` runs and is the one that wrote a file at ``written_at``: not
    gone, not a zombie (``kill(pid, 0)`` succeeds on one), not a later process with the same
    number (after a reboot, or in a new container on the same home directory)."""
    import psutil

    try:
        process = psutil.Process(pid)
        started = process.create_time()
        return process.status() != psutil.STATUS_ZOMBIE and started <= written_at + CLOCK_SLACK
    except psutil.Error:
        return False


def _runtime_root_dir(url: str) -> str | None:
    """The root_dir of the server at ``url``, from its runtime file (paths are relative to it)."""
    wanted = url.rstrip("/")
    for info in _running_servers():
        if str(info.get("url", "")).rstrip("/") == wanted:
            return info.get("root_dir")
    return None


def _announce_no_server() -> None:
    global _announced
    if not _announced:
        _announced = True
        print(
            "qm_jupyter: no Jupyter server with the qm_jupyter extension found; runs and "
            "their events stay in this kernel (qm.connect(url, token) attaches one).",
            file=sys.stderr,
        )

"""Sweeps on the server (a registered strategy on data the server reads): started over REST,
followed by asking the server for the sweep's account until it ends.

The server validates the sweep as it would any client's; a refusal raises the engine's
``ParamError`` (naming the field: ``grid.fast``, ``max_trials``...) or ``DataError`` here,
as the same mistake in a kernel sweep does.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ..sweep_spec import SWEEP_FIELDS
from .connection import ServerConnection, ServerError
from .server_run import engine_error
from .sweep import Sweep, SweepState

#: Seconds between two looks at a running sweep.
POLL_INTERVAL = 0.5
#: Looks in a row that may fail (server unreachable) before the sweep is given up on.
MAX_FAILED_POLLS = 20


def start_server_sweep(server: ServerConnection, body: dict[str, Any]) -> Sweep:
    """POST the sweep, then follow it from a background thread."""
    try:
        reply = server.request("POST", "api/v1/sweep/run", body)
    except ServerError as error:  # options left out (None) are named too (max_trials...)
        raise engine_error(error, dict.fromkeys([*body, *SWEEP_FIELDS])) or error from None
    sweep_id = reply["sweep_id"]
    state = SweepState(sweep_id, server.request("GET", f"api/v1/sweep/{sweep_id}"))
    sweep = Sweep(state, where="server", cancel=lambda: _cancel(server, sweep_id))
    threading.Thread(
        target=_follow, args=(server, sweep), name=f"qm-sweep-{sweep_id[:8]}", daemon=True
    ).start()
    return sweep


def _follow(server: ServerConnection, sweep: Sweep) -> None:
    failures = 0
    while True:
        try:
            described = server.request("GET", f"api/v1/sweep/{sweep.sweep_id}")
        except ServerError as error:
            failures += 1
            if error.status != 0 or failures > MAX_FAILED_POLLS:
                sweep._fail(ConnectionError(f"lost sweep {sweep.sweep_id}: {error}"))
                return
        else:
            failures = 0
            sweep.state.load(described)
            if sweep.state.finished:
                sweep._finish()
                return
            sweep._changed()
        time.sleep(POLL_INTERVAL)


def _cancel(server: ServerConnection, sweep_id: str) -> None:
    try:
        server.request("POST", f"api/v1/sweep/{sweep_id}/cancel")
    except ServerError as error:
        if error.status != 409:  # 409: it ended meanwhile
            raise

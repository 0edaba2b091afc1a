"""Fault tests: real ``jupyter server`` subprocesses and real sockets (see qm_servers.py)."""

from __future__ import annotations

from qm_servers import serve

__all__ = ["serve"]

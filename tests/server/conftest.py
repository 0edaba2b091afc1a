"""A real Jupyter server (pytest-jupyter, base_url ``/a%40b/``) with the extension loaded."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

TERMINAL = {"backtest_complete", "backtest_error", "backtest_cancelled"}


@pytest.fixture
def qm_config() -> dict[str, Any]:
    """QuantMindExtension settings; tests override single keys."""
    return {"workers": 2, "cancel_grace": 1.0}


@pytest.fixture
def jp_server_config(qm_config, tmp_path):
    return {
        "ServerApp": {"jpserver_extensions": {"qm_jupyter": True}},
        "QuantMindExtension": {"db_path": str(tmp_path / "runs.sqlite"), **qm_config},
    }


@pytest.fixture
def api(jp_fetch):
    """Call the REST API; returns (status, decoded JSON) and never raises on 4xx."""

    async def call(method: str, *path: str, body: Any = None, **params: Any):
        kwargs: dict[str, Any] = {"method": method, "raise_error": False}
        if body is not None:
            kwargs["body"] = body if isinstance(body, (str, bytes)) else json.dumps(body)
        elif method == "POST":
            kwargs["body"] = b""
        if params:
            kwargs["params"] = params
        try:
            response = await jp_fetch(*path, **kwargs)
        except HTTPClientError as error:  # pragma: no cover - raise_error=False keeps most
            response = error.response
        text = response.body.decode() if response.body else "null"
        return response.code, json.loads(text)

    return call


@pytest.fixture
def start_run(api):
    async def start(**overrides: Any) -> str:
        body = {
            "strategy": "sma_crossover",
            "params": {"fast": 5, "slow": 20},
            "data": {"sample": "gbm", "bars": 5000, "seed": 7, "freq": "1min"},
            **overrides,
        }
        status, reply = await api("POST", "api", "v1", "backtest", "run", body=body)
        assert status == 202, reply
        return reply["backtest_id"]

    return start


@pytest.fixture
def wait_until_done(api):
    async def wait(backtest_id: str, timeout: float = 60) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            _, run = await api("GET", "api", "v1", "backtest", backtest_id)
            if run["status"] in ("completed", "failed", "cancelled"):
                return run
            await asyncio.sleep(0.1)
        raise AssertionError(f"run {backtest_id} did not finish in {timeout}s: {run}")

    return wait


class StreamClient:
    """A /ws client that reads decoded messages, with a timeout on each."""

    def __init__(self, connection):
        self.connection = connection

    async def send(self, message: Any) -> None:
        await self.connection.write_message(
            message if isinstance(message, (str, bytes)) else json.dumps(message),
            binary=isinstance(message, bytes),
        )

    async def receive(self, timeout: float = 30) -> dict[str, Any] | None:
        frame = await asyncio.wait_for(self.connection.read_message(), timeout)
        return None if frame is None else json.loads(frame)

    async def events_until_terminal(self, timeout: float = 60) -> list[dict[str, Any]]:
        events = []
        while True:
            message = await self.receive(timeout)
            assert message is not None, "the server closed the stream"
            events.append(message)
            if message["type"] in TERMINAL:
                return events


@pytest.fixture
def stream(jp_ws_fetch):
    async def connect(*, subprotocol: str | None = None, **params: Any) -> StreamClient:
        """A connected client; ``subprotocol`` is offered in the handshake."""
        headers = {"Sec-WebSocket-Protocol": subprotocol} if subprotocol else None
        client = StreamClient(await jp_ws_fetch("ws", params=params or None, headers=headers))
        connected = {"type": "connected", "protocol": 1}
        batched = client.connection.selected_subprotocol == "qm.batch"
        assert await client.receive() == ([connected] if batched else connected)
        return client

    return connect

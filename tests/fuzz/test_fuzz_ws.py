"""Property-based fuzzing of ``/ws`` frames: errors or a proper close, never a wedged server."""

from __future__ import annotations

import json
import struct
import time

import pytest
import websocket
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qm_servers import SMALL_RUN

MAX_FRAME = 64 * 1024
#: Close codes a server may answer hostile frames with (1009: frame over the size limit,
#: 4008: a client that floods without reading). Anything else is a failure.
PROPER_CLOSE_CODES = {1009, 4008}
REPLY_TYPES = {"error", "pong", "subscribed", "unsubscribed"}
EVENT_TYPES = {
    "backtest_start",
    "backtest_progress",
    "log_entry",
    "backtest_complete",
    "backtest_error",
    "backtest_cancelled",
}
FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=False,
)


class Closed(Exception):
    def __init__(self, code: int | None, reason: str):
        super().__init__(f"closed with {code}: {reason}")
        self.code, self.reason = code, reason


class Client:
    """A blocking /ws client that reports close frames with their code."""

    def __init__(self, server, **headers: str):
        url = server.url.replace("http", "ws", 1) + f"ws?token={server.token}"
        self.ws = websocket.create_connection(url, timeout=60, header=headers or None)
        assert self.receive() == {"type": "connected", "protocol": 1}

    def send(self, frame: str | bytes) -> None:
        if isinstance(frame, bytes):
            self.ws.send_binary(frame)
        else:
            self.ws.send(frame)

    def receive(self) -> dict:
        while True:
            opcode, data = self.ws.recv_data(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
                raise Closed(code, data[2:].decode(errors="replace"))
            if opcode == websocket.ABNF.OPCODE_TEXT:
                return json.loads(data)

    def ping(self) -> list[dict]:
        """Ping and read up to the pong: every message before it, which must all be proper."""
        self.send(json.dumps({"type": "ping"}))
        seen = []
        while (message := self.receive()) != {"type": "pong"}:
            assert message["type"] in REPLY_TYPES | EVENT_TYPES, message
            if message["type"] == "error":
                assert set(message["error"]) == {"code", "message"}
                assert message["error"]["code"] and message["error"]["message"]
            seen.append(message)
        return seen

    def close(self) -> None:
        self.ws.close()


@pytest.fixture(scope="module")
def finished_run(server) -> str:
    backtest_id = server.post("api/v1/backtest/run", SMALL_RUN)["backtest_id"]
    deadline = time.monotonic() + 120
    while server.get(f"api/v1/backtest/{backtest_id}")["status"] != "completed":
        assert time.monotonic() < deadline, "the fixture run never completed"
        time.sleep(0.1)
    return backtest_id


@pytest.fixture(scope="module")
def bystander(server):
    """Another client, subscribed to everything, that must stay healthy throughout."""
    client = Client(server)
    client.send(json.dumps({"type": "subscribe", "topic": "backtest"}))
    assert client.receive() == {"type": "subscribed", "topic": "backtest"}
    yield client
    client.close()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)


def messages(run_ids: list[str]):
    """Protocol-shaped objects with wrong, missing, extra or out-of-range fields."""
    field_values = (
        json_values
        | st.sampled_from(["backtest", "Backtest", "", "backtest ", *run_ids])
        | st.integers(min_value=-(2**70), max_value=2**70)
        | st.text(min_size=1000, max_size=20_000)
    )
    return st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from(["subscribe", "unsubscribe", "ping", "pong", "", "SUBSCRIBE"])
            | json_values,
            "topic": field_values,
            "backtest_id": field_values,
            "since": field_values,
        },
    ).flatmap(
        lambda base: st.dictionaries(st.text(max_size=10), json_values, max_size=3).map(
            lambda extra: {**extra, **base}
        )
    )


def frames(run_ids: list[str]):
    # Deep but under the size limit (7 bytes a level for the dict form): oversized frames
    # have a test of their own, so any dropped connection here is a failure. (Tornado aborts
    # the socket right after its 1009 close, so a frame sent meanwhile meets a reset.)
    nest = st.integers(min_value=1, max_value=(MAX_FRAME - 20) // 7)
    # Long texts of escaped non-ASCII characters can exceed the limit once dumped.
    fitting = messages(run_ids).map(json.dumps).filter(lambda text: len(text) <= MAX_FRAME)
    return st.one_of(
        fitting,
        json_values.map(json.dumps),
        st.text(max_size=200),  # mostly not JSON
        st.binary(max_size=200),
        nest.map(lambda n: "[" * n + "]" * n),
        nest.map(lambda n: '{"type": ' + '{"a": ' * n + "1" + "}" * n + "}"),
    )


@pytest.fixture(scope="module")
def fuzz_client_box(server):
    box = {"client": Client(server)}
    yield box
    box["client"].close()


def test_fuzzed_frames_get_errors_or_a_proper_close(
    server, finished_run, bystander, fuzz_client_box
):
    closes: list[int | None] = []

    @FUZZ
    @given(frame=frames([finished_run, finished_run.upper()]))
    def check(frame: str | bytes) -> None:
        client = fuzz_client_box["client"]
        size = len(frame if isinstance(frame, bytes) else frame.encode("utf-8", "surrogatepass"))
        try:
            client.send(frame)
            client.ping()
        except Closed as closed:
            closes.append(closed.code)
            assert closed.code in PROPER_CLOSE_CODES, (closed.code, closed.reason, frame[:200])
            assert closed.code != 1009 or size > MAX_FRAME
            fuzz_client_box["client"] = Client(server)
        except Exception:
            fuzz_client_box["client"] = Client(server)  # so shrinking starts on a fresh socket
            raise

    check()
    # The server stayed healthy for a client that sent nothing odd, and for new clients.
    assert bystander.ping() == []
    fresh = Client(server)
    assert fresh.ping() == []
    fresh.close()


def test_oversized_frames_close_with_1009_and_others_carry_on(server, bystander):
    client = Client(server)
    try:
        client.send(json.dumps({"type": "ping", "pad": "x" * (MAX_FRAME + 1)}))
        client.receive()
    except Closed as closed:
        assert closed.code == 1009
    except (OSError, websocket.WebSocketConnectionClosedException):
        pass  # tornado aborts right after its 1009 frame: a client still writing gets a reset
    else:
        raise AssertionError("an oversized frame was answered")
    assert bystander.ping() == []


def test_a_flood_of_subscribes_is_answered_or_cut_off(server, finished_run, bystander):
    client = Client(server)
    subscribe_all = json.dumps({"type": "subscribe", "topic": "backtest"})
    subscribe_run = json.dumps(
        {"type": "subscribe", "topic": "backtest", "backtest_id": finished_run, "since": 0}
    )
    for n in range(3000):
        client.send(subscribe_run if n % 2 else subscribe_all)
    try:
        seen = client.ping()
    except Closed as closed:
        assert closed.code == 4008 and "since" in closed.reason
    else:
        replies = [m for m in seen if m["type"] == "subscribed"]
        assert len(replies) == 3000
        assert all(m["type"] in ("subscribed", *EVENT_TYPES) for m in seen)
    client.close()
    # Others are unaffected and the server still runs backtests and streams them.
    backtest_id = server.post("api/v1/backtest/run", SMALL_RUN)["backtest_id"]
    events = []
    while not events or events[-1]["type"] not in ("backtest_complete", "backtest_error"):
        message = bystander.receive()
        if message.get("backtest_id") == backtest_id:
            events.append(message)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["type"] == "backtest_complete"
    assert all(m["type"] in EVENT_TYPES for m in bystander.ping())  # only events, no errors


def test_huge_since_is_refused_or_served(server, finished_run, bystander):
    """A since far beyond any seq (and beyond SQLite's 64-bit integers) gets a clean answer."""
    client = Client(server)
    for since in (10**6, 2**63 - 1, 2**63, 10**30):
        client.send(
            json.dumps(
                {
                    "type": "subscribe",
                    "topic": "backtest",
                    "backtest_id": finished_run,
                    "since": since,
                }
            )
        )
        seen = client.ping()
        assert [m["type"] for m in seen] in (["subscribed"], ["error"]), (since, seen)
    client.close()
    assert bystander.ping() == []

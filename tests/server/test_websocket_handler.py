"""The /ws event stream against a real Jupyter server: protocol, replay, errors, auth."""

from __future__ import annotations

import asyncio

import pytest
from tornado.httpclient import HTTPClientError
from tornado.websocket import WebSocketClosedError

SUB = {"type": "subscribe", "topic": "backtest"}


def assert_contiguous(events: list[dict]) -> None:
    first = events[0]["seq"]
    assert [e["seq"] for e in events] == list(range(first, first + len(events)))


async def test_subscribe_all_sees_a_whole_run(stream, start_run):
    client = await stream()
    await client.send(SUB)
    assert await client.receive() == {"type": "subscribed", "topic": "backtest"}
    backtest_id = await start_run()
    events = await client.events_until_terminal()
    assert {e["backtest_id"] for e in events} == {backtest_id}
    assert_contiguous(events)
    assert events[0]["seq"] == 1
    assert events[0]["type"] == "backtest_start"
    start = events[0]["data"]
    assert start["strategy"] == "sma_crossover" and start["total_bars"] == 5000
    assert start["params"] == {"fast": 5, "slow": 20}
    assert start["first_bar_time"] < start["last_bar_time"]
    progress = [e["data"] for e in events if e["type"] == "backtest_progress"]
    assert progress[-1]["progress"] == 100.0 and progress[-1]["bars_processed"] == 5000
    assert set(progress[-1]) >= {"bars_processed", "total_bars", "trades_count", "pnl", "equity"}
    logs = [e["data"] for e in events if e["type"] == "log_entry"]
    assert len(logs) >= 3
    assert set(logs[0]) >= {"level", "message", "module", "timestamp"}
    complete = events[-1]
    assert complete["type"] == "backtest_complete"
    assert complete["data"]["total_trades"] == progress[-1]["trades_count"]
    curve = complete["data"]["equity_curve"]
    assert len(curve) <= 1000
    assert curve[0][0] == start["first_bar_time"] and curve[-1][0] == start["last_bar_time"]
    assert curve[-1][1] == complete["data"]["final_balance"]
    for event in events:
        assert event["topic"] == "backtest" and event["timestamp"].endswith("Z")


async def test_subscribe_one_run_replays_then_follows_live(stream, start_run, api):
    backtest_id = await start_run()
    watcher = await stream()
    await watcher.send(SUB)
    await watcher.receive()
    everything = await watcher.events_until_terminal()

    late = await stream()
    await late.send({**SUB, "backtest_id": backtest_id, "since": 3})
    reply = await late.receive()
    assert reply == {
        "type": "subscribed",
        "topic": "backtest",
        "backtest_id": backtest_id,
        "since": 3,
    }
    replayed = await late.events_until_terminal()
    assert replayed == everything[3:]


async def test_replay_while_running_has_no_gap_or_duplicate(stream, start_run):
    backtest_id = await start_run(
        strategy="sma_crossover_bars",
        data={"sample": "gbm", "bars": 300_000, "seed": 3, "freq": "1min"},
    )
    first = await stream()
    await first.send({**SUB, "backtest_id": backtest_id})
    await first.receive()
    seen = [await first.receive() for _ in range(5)]
    first.connection.close()  # drop mid-run
    second = await stream()
    await second.send({**SUB, "backtest_id": backtest_id, "since": seen[-1]["seq"]})
    assert (await second.receive())["type"] == "subscribed"
    rest = await second.events_until_terminal()
    events = seen + rest
    assert events[0]["seq"] == 1
    assert_contiguous(events)
    assert events[-1]["type"] == "backtest_complete"


async def test_batch_subprotocol_sends_the_same_messages_in_arrays(
    stream, start_run, wait_until_done
):
    backtest_id = await start_run()
    await wait_until_done(backtest_id)
    plain = await stream()
    await plain.send({**SUB, "backtest_id": backtest_id})
    expected = [await plain.receive(), *await plain.events_until_terminal()]

    batched = await stream(subprotocol="qm.batch")  # its "connected" came as [{...}]
    assert batched.connection.selected_subprotocol == "qm.batch"
    await batched.send({**SUB, "backtest_id": backtest_id})
    arrays = []
    while sum(map(len, arrays)) < len(expected):
        arrays.append(await batched.receive())
    assert all(isinstance(a, list) and a for a in arrays)
    assert [m for a in arrays for m in a] == expected  # "subscribed" first, then every event
    assert max(map(len, arrays)) > 1, "a replay of a whole run comes in batches"
    await batched.send({"type": "ping"})
    assert await batched.receive() == [{"type": "pong"}]


async def test_followers_of_a_live_run_share_the_encoding_of_each_chunk(stream, api, monkeypatch):
    """Three qm.batch followers of a busy run: each published chunk is encoded once."""
    from qm_jupyter.server.handlers import websocket

    encoded = []
    original = websocket.batch_frame
    monkeypatch.setattr(
        websocket, "batch_frame", lambda frames: encoded.append(len(frames)) or original(frames)
    )
    followers = [await stream(subprotocol="qm.batch") for _ in range(3)]
    for follower in followers:
        await follower.send(SUB)
        assert await follower.receive() == [{"type": "subscribed", "topic": "backtest"}]
    body = {
        "strategy": "sma_crossover",
        "params": {"fast": 2, "slow": 3},  # a log line per trade: thousands of events
        "data": {"sample": "gbm", "bars": 20_000, "seed": 3, "freq": "1min"},
    }
    status, reply = await api("POST", "api", "v1", "backtest", "run", body=body)
    assert status == 202, reply
    run_id = reply["backtest_id"]
    received = []
    for follower in followers:
        events = []
        while not events or events[-1]["type"] != "backtest_complete":
            events += [e for e in await follower.receive() if e["backtest_id"] == run_id]
        received.append(events)
    assert received[0] == received[1] == received[2]
    assert [e["seq"] for e in received[0]] == list(range(1, len(received[0]) + 1))
    # Each follower wrote every event; the encodings built cover them about once, not 3x.
    assert sum(encoded) < 1.5 * len(received[0])


async def test_another_subprotocol_is_not_selected(stream):
    client = await stream(subprotocol="other")  # "connected" came as a plain message
    assert client.connection.selected_subprotocol is None


async def test_unsubscribe_and_ping(stream, start_run):
    client = await stream()
    await client.send({"type": "ping"})
    assert await client.receive() == {"type": "pong"}
    await client.send(SUB)
    await client.receive()
    await client.send({"type": "unsubscribe", "topic": "backtest"})
    assert await client.receive() == {"type": "unsubscribed", "topic": "backtest"}
    backtest_id = await start_run()
    await client.send({"type": "unsubscribe", "topic": "backtest", "backtest_id": backtest_id})
    assert await client.receive() == {
        "type": "unsubscribed",
        "topic": "backtest",
        "backtest_id": backtest_id,
    }
    await client.send({"type": "ping"})
    assert await client.receive() == {"type": "pong"}  # no events came in between


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("not json", "invalid_json"),
        ('{"type": "subscribe", "topic": "backtest", "since": NaN}', "invalid_json"),
        ('{"type": "subscribe", "topic": "backtest", "backtest_id": "\\ud800"}', "invalid_json"),
        ("[1, 2]", "invalid_message"),
        ('{"type": ' + '{"a": ' * 1000 + "1" + "}" * 1000 + "}", "unknown_type"),  # no repr
        ({**SUB, "backtest_id": "x" * 5000}, "unknown_run"),
        ({"type": "dance"}, "unknown_type"),
        ({"topic": "backtest"}, "unknown_type"),
        ({"type": "subscribe"}, "missing_topic"),
        ({"type": "subscribe", "topic": "weather"}, "bad_topic"),
        ({**SUB, "backtest_id": "nope"}, "unknown_run"),
        ({**SUB, "backtest_id": 12}, "unknown_run"),
        ({**SUB, "since": 4}, "bad_since"),
        (b"\x00\x01binary", "binary_frame"),
        ("[" * 100_000 + "]" * 100_000, None),  # too deep for json, or too large: both fine
    ],
)
async def test_bad_messages_get_an_error_and_the_socket_stays_usable(stream, message, code):
    client = await stream()
    await client.send(message)
    reply = await client.receive()
    if reply is None:  # the 200 KB frame is over the limit: closed with 1009
        assert client.connection.close_code == 1009
        return
    assert reply["type"] == "error"
    assert reply["error"]["code"] == code
    assert reply["error"]["message"]
    await client.send({"type": "ping"})
    assert await client.receive() == {"type": "pong"}


async def test_bad_since_with_a_run(stream, start_run):
    backtest_id = await start_run()
    client = await stream()
    await client.send({**SUB, "backtest_id": backtest_id, "since": -1})
    reply = await client.receive()
    assert reply["error"]["code"] == "bad_since"


async def test_an_oversized_frame_closes_with_1009(stream):
    client = await stream()
    await client.send({"type": "ping", "pad": "x" * 70_000})
    assert await client.receive() is None
    assert client.connection.close_code == 1009


async def test_no_token_is_refused(jp_ws_fetch):
    with pytest.raises(HTTPClientError) as refused:
        await jp_ws_fetch("ws", headers={"Authorization": ""})
    assert refused.value.code == 403


async def test_a_wrong_token_in_the_query_is_refused(jp_ws_fetch):
    with pytest.raises(HTTPClientError) as refused:
        await jp_ws_fetch("ws", headers={"Authorization": ""}, params={"token": "wrong"})
    assert refused.value.code == 403


async def test_a_token_in_the_query_is_accepted(jp_ws_fetch, jp_serverapp):
    token = jp_serverapp.identity_provider.token
    connection = await jp_ws_fetch("ws", headers={"Authorization": ""}, params={"token": token})
    assert await connection.read_message() == '{"type":"connected","protocol":1}'
    connection.close()


async def test_many_clients_at_once(stream, start_run):
    clients = [await stream() for _ in range(8)]
    for client in clients:
        await client.send(SUB)
        await client.receive()
    await start_run()
    logs = await asyncio.gather(*(client.events_until_terminal() for client in clients))
    assert all(events == logs[0] for events in logs)
    with pytest.raises(WebSocketClosedError):
        clients[0].connection.close()
        await clients[0].send({"type": "ping"})


@pytest.mark.parametrize("qm_config", [{"workers": 1, "ws_max_connection_age": 0.5}])
async def test_connections_are_closed_at_their_age_limit(stream):
    client = await stream()
    assert await client.receive(timeout=10) is None
    assert client.connection.close_code == 1001
    assert "resume with since" in client.connection.close_reason


class PacedStream:
    """A stream with tornado's public write API only (a future per write): what a client
    takes is released a piece at a time by ``read``."""

    socket = None  # no kernel send queue to look at: only the pieces show progress

    def __init__(self):
        self.writes: list[asyncio.Future] = []

    def write(self, data: memoryview) -> asyncio.Future:
        self.writes.append(asyncio.get_running_loop().create_future())
        return self.writes[-1]

    async def read(self, pieces: int, pause: float) -> None:
        for future in self.writes[:pieces]:
            await asyncio.sleep(pause)
            future.set_result(None)


async def full_subscriber(tmp_path, closed: list[str]):
    """A subscriber whose buffer is full, with a frame handed to its writer."""
    from qm_jupyter.server.hub import EventHub, Subscriber
    from qm_jupyter.server.store import RunStore

    hub = EventHub(RunStore(tmp_path / "runs.sqlite"))
    subscriber = Subscriber(hub, on_overflow=closed.append, max_buffer=1, stall_timeout=0.3)
    subscriber.send({"type": "pong"})
    subscriber.send({"type": "pong"})
    await subscriber.next_frames(1)
    return subscriber


async def test_a_client_taking_a_large_write_slowly_is_never_cut_off(tmp_path):
    """Ten pieces taken one per 0.1 s: the write lasts three stall timeouts, but the client
    visibly reads, through the futures of the pieces (no private tornado counter)."""
    from qm_jupyter.server.handlers.websocket import WRITE_PIECE, send_paced

    closed: list[str] = []
    subscriber = await full_subscriber(tmp_path, closed)
    stream = PacedStream()
    sending = asyncio.ensure_future(send_paced(stream, b"x" * (10 * WRITE_PIECE), subscriber))
    await asyncio.sleep(0)
    assert len(stream.writes) == 10
    await stream.read(10, 0.1)
    assert await sending is True
    assert not subscriber.closed and closed == []
    subscriber.hub.store.close()


async def test_a_client_that_stops_taking_a_write_is_cut_off_with_a_reason(tmp_path):
    from qm_jupyter.server.handlers.websocket import WRITE_PIECE, send_paced

    closed: list[str] = []
    subscriber = await full_subscriber(tmp_path, closed)
    stream = PacedStream()
    sending = asyncio.ensure_future(send_paced(stream, b"x" * (3 * WRITE_PIECE), subscriber))
    await asyncio.sleep(0)
    await stream.read(1, 0.1)  # one piece, then nothing
    assert await asyncio.wait_for(sending, 5) is False
    assert subscriber.closed
    assert len(closed) == 1 and "slow consumer" in closed[0] and "since" in closed[0]
    subscriber.hub.store.close()

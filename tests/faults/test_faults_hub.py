"""Slow and flaky clients against a real server: bounded buffers, cut-offs, lossless resume."""

from __future__ import annotations

import asyncio
import random

from qm_servers import SUB, TERMINAL, RawStream, log_text, stored_events, wait_for_log

# A per-bar run that logs one line per trade (~185,000 lines) over several seconds: far more
# than a stalled socket's kernel buffers hold, and still producing when the stall is noticed
# (also on a loaded 2-core CI machine, where a reading client may pause for a second or two).
NOISY_RUN = {
    "strategy": "sma_crossover_bars",
    "params": {"fast": 2, "slow": 3},
    "data": {"sample": "gbm", "bars": 1_000_000, "seed": 5, "freq": "1min"},
    "log_trades": True,
}
SLOW_CLIENT_FLAGS = (
    "--QuantMindExtension.subscriber_buffer=100",
    "--QuantMindExtension.slow_client_timeout=4",
    "--QuantMindExtension.ws_ping_interval=0",
)
CUT_OFF = "Closing a /ws client that stopped reading"


def contiguous_from_1(events: list[dict]) -> bool:
    return [e["seq"] for e in events] == list(range(1, len(events) + 1))


async def test_a_client_that_stops_reading_is_cut_off_and_resumes_losslessly(serve):
    server = serve(*SLOW_CLIENT_FLAGS)
    reader = await server.connect()
    await reader.send(SUB)
    assert (await reader.receive())["type"] == "subscribed"
    stalled = RawStream(server)
    stalled.send(SUB)

    backtest_id = server.post("api/v1/backtest/run", NOISY_RUN)["backtest_id"]
    # The reader keeps reading the whole run while the other socket fills up.
    read_all = asyncio.ensure_future(reader.events_until_terminal())
    await asyncio.to_thread(wait_for_log, server, CUT_OFF)
    # The stalled client wakes up: it gets what was in flight, then the close frame.
    messages, close = await asyncio.to_thread(stalled.drain)
    everything = await read_all

    assert contiguous_from_1(everything) and everything[-1]["type"] == "backtest_complete"
    assert close is not None, "the cut-off client got no close frame"
    code, reason = close
    assert code == 4008
    assert "slow consumer" in reason and "since" in reason
    assert messages[:2] == [
        {"type": "connected", "protocol": 1},
        {"type": "subscribed", "topic": "backtest"},
    ]
    got = messages[2:]
    assert got, "the stalled client received nothing before it stalled"
    assert got == everything[: len(got)]  # in order, no gap, no duplicate before the cut
    assert got[-1]["type"] not in TERMINAL  # it really was cut off mid-run

    resumed = await server.connect()
    await resumed.send({**SUB, "backtest_id": backtest_id, "since": got[-1]["seq"]})
    assert (await resumed.receive())["since"] == got[-1]["seq"]
    rest = await resumed.events_until_terminal()
    assert got + rest == everything  # every event exactly once
    assert stored_events(server, backtest_id) == everything
    # The reader that kept up was never closed: it still answers.
    await reader.send({"type": "ping"})
    assert await reader.receive() == {"type": "pong"}
    assert log_text(server).count(CUT_OFF) == 1  # only the stalled client was cut off


async def test_a_client_that_stops_reading_a_finished_run_is_cut_off_too(serve):
    """No new event comes to notice the stall: the connection's writer notices it."""
    server = serve(*SLOW_CLIENT_FLAGS)
    reader = await server.connect()
    run = {**NOISY_RUN, "data": {**NOISY_RUN["data"], "bars": 300_000}}
    backtest_id = server.post("api/v1/backtest/run", run)["backtest_id"]
    await reader.send({**SUB, "backtest_id": backtest_id, "since": 0})
    assert (await reader.receive())["type"] == "subscribed"
    everything = await reader.events_until_terminal()  # the run is over before the replay

    stalled = RawStream(server)
    stalled.send({**SUB, "backtest_id": backtest_id, "since": 0})
    await asyncio.to_thread(wait_for_log, server, CUT_OFF)
    messages, close = await asyncio.to_thread(stalled.drain)
    assert close is not None and close[0] == 4008
    got = messages[2:]
    assert got and got == everything[: len(got)] and len(got) < len(everything)
    await reader.send({"type": "ping"})  # the reader was not touched
    assert await reader.receive() == {"type": "pong"}


async def test_clients_dropping_and_reconnecting_at_random_reassemble_the_log(serve):
    server = serve("--QuantMindExtension.ws_ping_interval=0")
    run = {**NOISY_RUN, "params": {"fast": 5, "slow": 20}}
    run["data"] = {**NOISY_RUN["data"], "bars": 150_000}
    backtest_id = server.post("api/v1/backtest/run", run)["backtest_id"]

    async def flaky_client(seed: int) -> tuple[list[dict], int]:
        rng = random.Random(seed)
        got: list[dict] = []
        reconnects = 0
        while not got or got[-1]["type"] not in TERMINAL:
            client = await server.connect()
            since = got[-1]["seq"] if got else 0
            await client.send({**SUB, "backtest_id": backtest_id, "since": since})
            assert (await client.receive())["type"] == "subscribed"
            for _ in range(rng.randint(0, 400)):
                message = await client.receive()
                got.append(message)
                if message["type"] in TERMINAL:
                    break
            if rng.random() < 0.5:
                client.close()  # a clean close
            else:
                client.connection.stream.close()  # the network drops: no close frame
            reconnects += 1
            await asyncio.sleep(rng.random() * 0.05)
        return got, reconnects

    seeds = [random.randrange(1 << 30) for _ in range(6)]
    results = await asyncio.gather(*(flaky_client(seed) for seed in seeds))
    stored = stored_events(server, backtest_id)
    assert contiguous_from_1(stored) and stored[-1]["type"] == "backtest_complete"
    for seed, (got, reconnects) in zip(seeds, results, strict=True):
        assert got == stored, f"client with seed {seed} ({reconnects} reconnects) differs"
    assert sum(reconnects for _, reconnects in results) > len(seeds)  # they really dropped

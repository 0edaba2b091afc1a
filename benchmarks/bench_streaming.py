"""Streaming benchmarks: qm_jupyter's /ws against a bare Tornado broadcaster, measured in one run.

    python benchmarks/bench_streaming.py                  # the issue's sizes
    python benchmarks/bench_streaming.py --idle 200 --log-lines 20000 --latency-seconds 5  # quick

Three processes per measurement: the server (a real ``jupyter server`` with the extension, or a
bare Tornado app), and the clients (one asyncio process holding every connection).

1. Fan-out: events/s delivered to N subscribers of one busy run (sma_crossover 2/3 logs a line
   per trade) vs the bare Tornado handler broadcasting the same JSON frames to N clients
   (``write_message`` to every client, no awaiting: the naive fastest broadcaster).
   Target: ratio >= 0.7.
2. Latency from emission (the event's ``timestamp``, stamped in the worker when the line is
   logged; the bare server stamps at send) to arrival, p50/p99, N subscribers, 4 concurrent
   runs vs the bare server sending the same frames (the first round's, run ends included) at
   the same rate. The runs are a
   user strategy (``paced_logger``, from the server's strategies folder) that logs one line per
   bar at a steady rate, so both servers send at the same pace and below what the clients can
   read: latency, not the draining of a backlog. Rounds (``--latency-rounds``, default 3)
   alternate the two servers; one stall of any process sets a round's p99, so the figure is
   the ratio of the rounds' median p99s. Target: p99 ratio <= 5.
3. Memory: M idle connections + 10 subscribers that never read during a run that logs L lines:
   server peak RSS, the run's duration vs the same run with nobody watching, and whether 10
   reading subscribers kept up (got all); the readers in ``qm.batch`` framing (as the widget
   and the IDE read), then again in plain framing (a message per event).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

TERMINAL = ("backtest_complete", "backtest_error", "backtest_cancelled")
RUN_TAG = '"backtest_id":"'  # how a frame names its run (the envelope comes first)

PACED_LOGGER = '''
import time

from qm_jupyter.engine import Param, Strategy


class PacedLogger(Strategy):
    """A latency probe, not a strategy: logs one line per bar, `rate` bars a second."""

    name = "paced_logger"
    rate = Param(25.0, min=0.1, max=100_000.0)
    wait = Param(0.0, min=0.0, max=10.0)  # before the first line: time for readers to subscribe

    def init(self):
        time.sleep(self.wait)
        self.started = time.monotonic()

    def next(self):
        delay = self.started + self.i / self.rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self.log("bar %d", self.i)
'''


def _iso_to_epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


# -- the client process ------------------------------------------------------------------------


async def _client_main(
    url: str,
    count: int,
    runs: int,
    idle: int,
    stalled: int,
    batched: bool,
    sampled: int,
    by_id: bool = False,
    own_runs: bool = False,
) -> None:
    """Connect ``count`` readers (+ idle, + stalled), subscribe them to all runs (or to the
    runs to read: ``own_runs``), read ``runs`` runs.

    Readers find run ends in each message without decoding it (the clients share the
    server's cores) and count the events they kept once the runs have ended, so that this
    bookkeeping is not charged to the runs; the first ``sampled`` readers decode every event
    for its latency. In ``qm.batch`` framing a message holds many events (used with one run at a
    time, whose end is then the last event of its message). ``by_id`` (plain framing): the ids
    of the runs to read come as one line on stdin once they are posted, and only their events
    are counted, timed and ended on (other runs, a sweep's trials, may stream meanwhile).
    ``own_runs`` (with ``by_id``): each reader subscribes to those runs only (``since`` 0) once
    it knows them, so no other run's events reach it: a client that does not watch the others.
    """
    from tornado.websocket import websocket_connect

    subprotocols = ["qm.batch"] if batched else None
    readers = [
        await websocket_connect(url, max_message_size=1 << 26, subprotocols=subprotocols)
        for _ in range(count)
    ]
    extra = [await websocket_connect(url) for _ in range(idle)]
    raw = [_raw_stalled(url) for _ in range(stalled)]
    for conn in readers:
        await conn.read_message()  # connected (the bare server sends one too)
        if not own_runs:
            conn.write_message(json.dumps({"type": "subscribe", "topic": "backtest"}))
            await conn.read_message()
    wanted: set[str] = set()
    known = asyncio.Event()
    if by_id:
        loop = asyncio.get_running_loop()

        def ids_from_stdin() -> None:
            wanted.update(sys.stdin.readline().split())
            loop.call_soon_threadsafe(known.set)

        threading.Thread(target=ids_from_stdin, daemon=True).start()
    print(json.dumps({"ready": True}), flush=True)

    async def read(conn, keep_latency: bool):
        frames, times, ended, lat = [], [], 0, []
        if own_runs:
            await known.wait()
            for run in sorted(wanted):
                subscribe = {"type": "subscribe", "topic": "backtest", "backtest_id": run}
                conn.write_message(json.dumps({**subscribe, "since": 0}))
        while ended < runs:
            frame = await conn.read_message()
            if frame is None:
                break
            if frame.startswith('{"type":"subscribed"'):
                continue
            now = time.time()
            frames.append(frame)
            if by_id:
                times.append(now)
            elif not times:
                times[:] = [now, now]
            else:
                times[1] = now
            # A run's terminal event is the last of its message (one run at a time here).
            if frame.startswith(TERMINAL, frame.rfind('{"type":"') + 9):
                if by_id:
                    await known.wait()
                    ended += _run_of(frame) in wanted
                else:
                    ended += 1
            if keep_latency:
                decoded = json.loads(frame)
                for event in decoded if isinstance(decoded, list) else [decoded]:
                    run = event.get("backtest_id")
                    lat.append((run, now - _iso_to_epoch(event["timestamp"])))
        return frames, times, lat

    def tally(frames: list[str], times: list[float], lat: list[tuple]):
        """Events, first and last arrival, latencies: of the runs asked for when ``by_id``."""
        if by_id:  # only the runs asked for (a message is an event: plain framing)
            tags = [f"{RUN_TAG}{run}" for run in wanted]
            mine = [i for i, f in enumerate(frames) if any(tag in f for tag in tags)]
            frames = [frames[i] for i in mine]
            times = [times[i] for i in mine]
            lat = [(run, x) for run, x in lat if run in wanted]
        # Counted once the runs have ended (in a log line's text the quotes are escaped).
        events = sum(f.count('"seq":') for f in frames)
        return (
            events,
            times[0] if times else None,
            times[-1] if times else None,
            [x for _, x in lat],
        )

    # Every reader reads to its end before any tallies: a reader done early must not keep the
    # others from their last events (that delay would count as the server's latency).
    read_back = await asyncio.gather(*(read(c, i < sampled) for i, c in enumerate(readers)))
    results = [tally(*r) for r in read_back]
    latencies = sorted(x for r in results for x in r[3])
    print(
        json.dumps(
            {
                "events": sum(r[0] for r in results),
                "per_client": [r[0] for r in results],
                "first": min(r[1] for r in results if r[1]),
                "last": max(r[2] for r in results if r[2]),
                "latency_ms": [x * 1000 for x in latencies],
            }
        ),
        flush=True,
    )
    sys.stdin.readline()  # the stalled sockets stay open (unread) until the server cut them
    for conn in extra:
        conn.close()
    for sock in raw:
        sock.close()


def _run_of(frame: str) -> str:
    """The run of a plain frame, found without decoding it: a run's end carries its chart,
    and a hundred readers decoding it at once would charge their time to the latency."""
    start = frame.index(RUN_TAG) + len(RUN_TAG)
    return frame[start : frame.index('"', start)]


def _raw_stalled(url: str) -> socket.socket:
    """A subscriber that subscribes to everything and then never reads (tiny receive buffer)."""
    import base64
    from urllib.parse import urlparse

    parts = urlparse(url)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((parts.hostname, parts.port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    payload = json.dumps({"type": "subscribe", "topic": "backtest"}).encode()
    mask = os.urandom(4)
    sock.sendall(
        bytes([0x81, 0x80 | len(payload)])
        + mask
        + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    )
    return sock


# -- the bare Tornado server process -------------------------------------------------------------


def _bare_main(port: int, frames_path: str) -> None:
    import tornado.web
    import tornado.websocket

    from qm_jupyter.events import utc_now_iso

    clients: set = set()

    class Socket(tornado.websocket.WebSocketHandler):
        def open(self):
            clients.add(self)
            self.write_message('{"type":"connected","protocol":1}')

        def on_message(self, message):
            self.write_message('{"type":"subscribed","topic":"backtest"}')

        def on_close(self):
            clients.discard(self)

    class Go(tornado.web.RequestHandler):
        async def post(self):
            rate = float(self.get_argument("rate", "0"))
            paced = Path(self.get_argument("frames", frames_path)).read_text().splitlines()
            self.finish("ok")
            start = time.monotonic()
            for sent, frame in enumerate(paced):
                if rate:  # stamp at send; pace to the measured rate of the real runs
                    event = json.loads(frame)
                    event["timestamp"] = utc_now_iso()
                    frame = json.dumps(event, separators=(",", ":"))
                    delay = start + sent / rate - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                for client in list(clients):
                    try:
                        client.write_message(frame)
                    except tornado.websocket.WebSocketClosedError:
                        clients.discard(client)
                if not rate and sent % 50 == 0:
                    await asyncio.sleep(0)

    async def main():
        app = tornado.web.Application(
            [(r"/ws", Socket), (r"/go", Go)], websocket_max_message_size=1 << 20
        )
        app.listen(port, "127.0.0.1")
        await asyncio.Event().wait()

    asyncio.run(main())


# -- orchestration ---------------------------------------------------------------------------------


def _start_clients(
    url: str,
    count: int,
    runs: int,
    idle: int = 0,
    stalled: int = 0,
    batched: bool = False,
    sampled: int = 10,
    by_id: bool = False,
    own_runs: bool = False,
):
    flags = (count, runs, idle, stalled, int(batched), sampled, int(by_id), int(own_runs))
    args = [url, *map(str, flags)]
    process = subprocess.Popen(
        [sys.executable, __file__, "--client", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert json.loads(process.stdout.readline())["ready"]
    return process


def _send_ids(process, ids: list[str]) -> None:
    """Tell clients started ``by_id`` which runs to read."""
    process.stdin.write(" ".join(ids) + "\n")
    process.stdin.flush()


def _finish_clients(process, until: Callable[[], bool] | None = None) -> dict:
    """The clients' results; their connections close once ``until()`` holds (or 30 s)."""
    result = json.loads(process.stdout.readline())
    deadline = time.monotonic() + 30
    while until is not None and not until() and time.monotonic() < deadline:
        time.sleep(0.2)
    process.communicate("close\n")
    return result


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(q * len(values)))]


def _run_body(bars: int, seed: int) -> dict:
    return {
        "strategy": "sma_crossover",
        "params": {"fast": 2, "slow": 3},
        "data": {"sample": "gbm", "bars": bars, "seed": seed, "freq": "1min"},
        "log_trades": True,  # a line per trade: the busy stream these figures are about
    }


def _vm_hwm(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) * 1024
    return 0


def _wait_done(server, backtest_id: str) -> dict:
    return asyncio.run(server.wait_until_done(backtest_id, timeout=900))


def _all_frames(server, backtest_id: str) -> list[str]:
    frames, since = [], 0
    while True:
        page = server.get(f"api/v1/backtest/{backtest_id}/events?since={since}")
        frames += [json.dumps(e, separators=(",", ":")) for e in page["events"]]
        since += len(page["events"])
        if not page["has_more"]:
            return frames


def _run_seconds(run: dict) -> float:
    return _iso_to_epoch(run["finished_at"]) - _iso_to_epoch(run["started_at"])


# -- the measurements on a qm_jupyter server (bench_sweep.py runs them during a sweep) ----------


def write_paced_logger(root: Path) -> None:
    """Put ``paced_logger`` (the latency probe) in the strategies folder of a server's root."""
    (root / "strategies").mkdir(parents=True, exist_ok=True)
    (root / "strategies" / "paced_logger.py").write_text(PACED_LOGGER)


def measure_fanout(
    server, url: str, clients: int, bars: int, seed: int = 1, own_runs: bool = False
) -> dict:
    """Figure 1 on ``server`` (a tests/server_process.JupyterServer): ``clients`` subscribers
    (plain framing, one client process) read one busy run (sma_crossover 2/3 on ``bars``
    sample bars, a line per trade), subscribed to all runs or, ``own_runs``, to that run only.
    Returns events/s delivered to them all ("rate"), the events they received in all, over how
    many seconds, and whether each got every event."""
    process = _start_clients(url, clients, 1, by_id=True, own_runs=own_runs)
    backtest_id = server.post("api/v1/backtest/run", _run_body(bars, seed))["backtest_id"]
    _send_ids(process, [backtest_id])
    result = _finish_clients(process)
    run_events = _wait_done(server, backtest_id)["last_seq"]
    seconds = result["last"] - result["first"]
    return {
        "rate": result["events"] / seconds,
        "events": result["events"],
        "seconds": seconds,
        "run_events": run_events,
        "complete": all(n == run_events for n in result["per_client"]),
    }


def measure_latency(
    server, url: str, clients: int, rate: float, seconds: float, own_runs: bool = False
) -> dict:
    """Figure 2 on ``server`` (whose root has ``paced_logger``, see write_paced_logger): 4
    concurrent paced runs logging ``rate`` lines/s in all for ``seconds``, read by ``clients``
    subscribers of all runs or, ``own_runs``, of those 4 only (the runs then wait a second
    before their first line: the subscriptions come after the runs are posted). Returns the
    latencies (ms, sorted) of the sampled readers' events, p50, p99, and the events each
    client received."""
    per_run = rate / 4
    paced = {
        "strategy": "paced_logger",
        "params": {"rate": per_run, "wait": 1.0 if own_runs else 0.0},
        "data": {"sample": "gbm", "bars": int(per_run * seconds), "seed": 5},
    }
    process = _start_clients(url, clients, 4, by_id=True, own_runs=own_runs)
    ids = [server.post("api/v1/backtest/run", paced)["backtest_id"] for _ in range(4)]
    _send_ids(process, ids)
    result = _finish_clients(process)
    latency = result["latency_ms"]
    return {
        "latency_ms": latency,
        "p50": _percentile(latency, 0.5),
        "p99": _percentile(latency, 0.99),
        "per_client": result["events"] / clients,
        "runs": ids,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bars", type=int, default=100_000, help="bars of the busy run")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--idle", type=int, default=1000, help="idle connections (memory test)")
    parser.add_argument("--log-lines", type=int, default=100_000, help="lines logged (memory)")
    parser.add_argument(
        "--latency-rate", type=float, default=100.0, help="events/s of the 4 paced runs together"
    )
    parser.add_argument("--latency-seconds", type=float, default=20.0, help="length of those runs")
    parser.add_argument(
        "--latency-rounds", type=int, default=3, help="rounds of figure 2 (ours, then bare)"
    )
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--memory-repeat", type=int, default=3, help="watched/unwatched pairs of figure 3"
    )
    args = parser.parse_args()

    from server_process import JupyterServer, free_port

    tmp = Path(tempfile.mkdtemp(prefix="qm-bench-"))
    write_paced_logger(tmp / "root")
    server = JupyterServer(
        tmp / "root",
        tmp / "runs.sqlite",
        tmp / "server.log",
        f"--QuantMindExtension.workers={args.workers}",
        "--QuantMindExtension.ws_ping_interval=0",
        "--QuantMindExtension.slow_client_timeout=5",
    )
    server.start()
    qm_url = server.url.replace("http", "ws", 1) + f"ws?token={server.token}"
    bare_port = free_port()
    frames_path = tmp / "frames.jsonl"
    bare = None
    summary = []  # one short line a figure, printed again at the end
    try:
        # Warm up the workers (imports, numpy) and record one run's frames for the bare server.
        warm = server.post("api/v1/backtest/run", _run_body(args.bars, 1))["backtest_id"]
        _wait_done(server, warm)
        frames = _all_frames(server, warm)
        frames_path.write_text("\n".join(frames) + "\n")
        bare = subprocess.Popen(
            [sys.executable, __file__, "--bare", str(bare_port), str(frames_path)]
        )
        time.sleep(1.5)
        bare_url = f"ws://127.0.0.1:{bare_port}/ws"
        print(f"busy run: {len(frames)} events; {args.clients} subscribers")

        # 1. Fan-out.
        fan = measure_fanout(server, qm_url, args.clients, args.bars)
        ours_rate, complete = fan["rate"], fan["complete"]
        clients = _start_clients(bare_url, args.clients, 1)
        _post(bare_port, "rate=0")
        theirs = _finish_clients(clients)
        bare_rate = theirs["events"] / (theirs["last"] - theirs["first"])
        print(
            f"1. fan-out: qm_jupyter {ours_rate:,.0f} events/s, bare tornado {bare_rate:,.0f} "
            f"events/s, ratio {ours_rate / bare_rate:.2f} (target >= 0.7); every client got every "
            f"event: {complete}"
        )
        summary.append(
            f"1. fan-out to {args.clients} subscribers, events/s qm_jupyter / bare tornado: "
            f"{ours_rate / bare_rate:.2f}x (target >= 0.7x: "
            f"{'ok' if ours_rate / bare_rate >= 0.7 else 'BELOW TARGET'}); "
            f"all delivered: {complete}"
        )

        # 2. Latency: 4 concurrent paced runs; the bare server sends the same frames (those
        # of the first round's runs, in the order they were emitted: the four ends, with
        # their charts, too), as fast. Rounds alternate the two; a single stall of a process
        # (any of the seven) sets a round's p99, so the figure is the ratio of the medians.
        rounds = []
        paced_path = tmp / "paced.jsonl"
        for _ in range(args.latency_rounds):
            lat = measure_latency(
                server, qm_url, args.clients, args.latency_rate, args.latency_seconds
            )
            if not paced_path.exists():
                paced = [json.loads(f) for run in lat["runs"] for f in _all_frames(server, run)]
                paced.sort(key=lambda event: (event["timestamp"], event["seq"]))
                paced_path.write_text("".join(json.dumps(e) + "\n" for e in paced))
            clients = _start_clients(bare_url, args.clients, 4)
            _post(bare_port, urlencode({"rate": args.latency_rate, "frames": paced_path}))
            bare_ms = _finish_clients(clients)["latency_ms"]
            rounds.append(
                (
                    lat["p50"],
                    lat["p99"],
                    _percentile(bare_ms, 0.5),
                    _percentile(bare_ms, 0.99),
                    max(lat["latency_ms"], default=float("nan")),
                    max(bare_ms, default=float("nan")),
                )
            )
        o50, o99, b50, b99 = (statistics.median(r[i] for r in rounds) for i in range(4))
        each = ", ".join(f"{r[1]:.1f} vs {r[3]:.1f} (max {r[4]:.0f} vs {r[5]:.0f})" for r in rounds)
        print(
            f"2. latency emit->arrival, 4 paced runs, {args.clients} subscribers, "
            f"{args.latency_rate:,.0f} events/s "
            f"({args.latency_rate * args.clients:,.0f} frames/s), "
            f"{int(lat['per_client']):,} events a round, {len(rounds)} rounds (p99 ms, ours vs "
            f"bare: {each}), medians: qm_jupyter p50 {o50:.1f} ms p99 {o99:.1f} ms; "
            f"bare tornado p50 {b50:.1f} ms p99 {b99:.1f} ms; p99 ratio "
            f"{o99 / max(b99, 1.0):.2f} (target <= 5; timestamps have 1 ms resolution, so the "
            "ratio floors bare p99 at 1 ms)"
        )
        p99 = o99 / max(b99, 1.0)
        summary.append(
            f"2. latency p99 qm_jupyter / bare tornado, medians of {len(rounds)} rounds: "
            f"{p99:.2f}x (target <= 5x: {'ok' if p99 <= 5 else 'ABOVE TARGET'}); p99 "
            f"{o99:.1f} vs {b99:.1f} ms, p50 {o50:.1f} vs {b50:.1f} ms"
        )

        # 3. Memory: idle connections + stalled subscribers during a run that logs many lines,
        # the readers in qm.batch framing (as the widget and the IDE read), then in plain.
        # Watched and unwatched runs alternate; their medians are compared.
        lines_bars = int(args.log_lines * 5.45)  # sma 2/3 closes a trade every ~5.45 bars
        body = _run_body(lines_bars, 3)
        _wait_done(server, server.post("api/v1/backtest/run", body)["backtest_id"])  # warm
        for batched in (True, False):
            cut_before = cut_clients(server)
            rss_before = _rss(server.process.pid)
            alone, watched, complete = [], [], True
            for _ in range(args.memory_repeat):
                backtest_id = server.post("api/v1/backtest/run", body)["backtest_id"]
                alone.append(_run_seconds(_wait_done(server, backtest_id)))
                clients = _start_clients(
                    qm_url, 10, 1, idle=args.idle, stalled=10, batched=batched, sampled=0
                )
                backtest_id = server.post("api/v1/backtest/run", body)["backtest_id"]
                target = cut_clients(server) + 10  # the stalled clients are cut before they close
                readers = _finish_clients(clients, until=lambda t=target: cut_clients(server) >= t)
                run = _wait_done(server, backtest_id)
                watched.append(_run_seconds(run))
                complete &= all(n == run["last_seq"] for n in readers["per_client"])
            logged = sum(1 for f in _all_frames(server, backtest_id) if '"log_entry"' in f)
            cut = cut_clients(server) - cut_before
            ratio = statistics.median(watched) / statistics.median(alone)
            print(
                f"3. memory: {args.idle} idle + 10 stalled + 10 reading clients "
                f"({'qm.batch' if batched else 'plain'} framing), run logging {logged:,} "
                f"lines: server RSS {rss_before / 2**20:.0f} MiB before, peak (VmHWM so far) "
                f"{_vm_hwm(server.process.pid) / 2**20:.0f} MiB; run watched "
                f"{statistics.median(watched):.2f}s vs {statistics.median(alone):.2f}s "
                f"unwatched (medians of {args.memory_repeat}; ratio {ratio:.2f}; watched "
                f"{' '.join(f'{x:.2f}' for x in watched)}, unwatched "
                f"{' '.join(f'{x:.2f}' for x in alone)}); readers got every event: {complete} "
                f"({run['last_seq']:,} each, last run); stalled clients cut off: "
                f"{cut} of {10 * args.memory_repeat}"
            )
            framing = "qm.batch" if batched else "plain"
            summary.append(
                f"3. {framing} readers: run watched / unwatched {ratio:.2f}x (medians of "
                f"{args.memory_repeat} pairs); server RSS {rss_before / 2**20:.0f} MiB -> peak "
                f"{_vm_hwm(server.process.pid) / 2**20:.0f} MiB; readers got every event: "
                f"{complete}; stalled clients cut off: {cut} of "
                f"{10 * args.memory_repeat}"
            )
        print("\nsummary (every ratio against a baseline of this run):")
        for text in summary:
            print(f"  {text}")
    finally:
        if bare is not None:
            bare.kill()
            bare.wait()
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def cut_clients(server) -> int:
    """Slow clients the server has cut off so far (from its log)."""
    return server.log_path.read_text().count("stopped reading")


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) * 1024
    return 0


def _post(port: int, query: str) -> None:
    import urllib.request

    urllib.request.urlopen(
        urllib.request.Request(f"http://127.0.0.1:{port}/go?{query}", data=b"")
    ).read()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        url, count, runs, idle, stalled, batched, sampled, by_id, own_runs = (
            sys.argv[2],
            *map(int, sys.argv[3:11]),
        )
        asyncio.run(
            _client_main(
                url, count, runs, idle, stalled, bool(batched), sampled, bool(by_id), bool(own_runs)
            )
        )
    elif len(sys.argv) > 1 and sys.argv[1] == "--bare":
        _bare_main(int(sys.argv[2]), sys.argv[3])
    else:
        main()

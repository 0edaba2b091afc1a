"""Sweep benchmarks: parameter sweeps on Dask through a real `jupyter server`, each figure a
ratio against a baseline measured in the same run.

    python benchmarks/bench_sweep.py           # the issue's sizes (~10 min on 2 idle cores)
    python benchmarks/bench_sweep.py --quick   # smoke run: small sizes (~1.5 min)

A `jupyter server` subprocess (tests/server_process.py, only this extension enabled) serves a
temp root_dir holding a CSV of hourly GBM bars; its sweeps run on the default embedded Dask
cluster (a LocalCluster of one single-threaded worker process per core, started by the first
sweep: a warm-up sweep starts it before anything is timed). Issue 15, "Must show":

1. Speed: a grid of 100 combinations of sma_crossover on 100,000 hourly bars, end to end
   (POST /api/v1/sweep/run to `sweep_complete` received on /ws, CSV read included), vs
   backtesting.py's `Backtest.optimize` (its grid search in its own parallel mode, a fork
   pool of one process per core; pandas read_csv of the same CSV included) on the same grid.
   Target <= 0.1x.
2. Search quality: `"method": "tpe"` with max_trials 40 vs `Backtest.optimize(method="sambo",
   max_tries=40)`, seeds 1-5, on the same data and grid (integer ranges with step 1: sambo
   searches the integer box between each list's min and max, so a coarser grid would not be
   the same search space). Both maximize the same Sharpe: ours (per-bar, `sharpe_ratio`);
   sambo gets it as a `maximize` callable on backtesting.py's equity curve (FractionalBacktest,
   so that its equity is ours). The best combination each found is scored by our engine.
   Target: median over the seeds of tpe's >= sambo's.
3. Scaling: trials/s with 2 workers vs 1 on a real cluster started by the CLI on 127.0.0.1
   (`dask scheduler`; `dask worker --nworkers N --nthreads 1`), the server connected to it by
   `dask_scheduler_address`; the grid of [1], with sma_crossover and its per-bar form
   sma_crossover_bars (trials ~5x longer). Target >= 1.6x.
4. Event loop responsiveness: /ws fan-out (events/s to N subscribers of a busy run) and
   latency (p99, 4 paced runs) for the other clients, those that do not watch the sweep
   (each subscribes to its runs by id), measured while a 4,000-trial sweep keeps the
   embedded cluster busy (cancelled after) vs idle (bench_streaming.py's measurements,
   alternated pairs, medians). Target >= 0.8x of idle (latency: idle p99 / during p99).
   Also, without a target, in the first round: the same for N topic-wide subscribers, which
   watch every run and so every trial of the sweep (its starts, ends and entries: ~3 events
   a trial to each of them), and while as many processes as the cluster has workers spin,
   no sweep (the share of the cores alone).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from bench_server import SUMMARY, Server, summary, versions
from bench_streaming import cut_clients, measure_fanout, measure_latency, write_paced_logger
from common import backtesting_frame, line, write_sample_csv

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "faults"))
from dask_cli import DaskCLICluster  # tests/faults, on the path just above

SWEEP_TERMINAL = ("sweep_complete", "sweep_error", "sweep_cancelled")


@dataclass(frozen=True)
class Sizes:
    bars: int
    fast: tuple[int, int, int]  # start, stop (inclusive), step of the grid of [1] and [3]
    slow: tuple[int, int, int]
    speed_repeat: int  # our sweeps of [1] (backtesting.py is timed once)
    seeds: int
    tries: int
    quality_fast: tuple[int, int]  # the step-1 ranges of [2]
    quality_slow: tuple[int, int]
    scaling_repeat: int  # 1-worker / 2-worker pairs of [3]
    clients: int  # /ws subscribers of [4]
    fanout_bars: int  # bars of [4]'s busy run (sma_crossover 2/3: a line every ~5.5 bars)
    latency_seconds: float
    latency_rate: float
    pairs: int  # idle / during-a-sweep pairs of [4]


FULL = Sizes(
    bars=100_000,
    fast=(5, 50, 5),
    slow=(60, 240, 20),
    speed_repeat=3,
    seeds=5,
    tries=40,
    quality_fast=(5, 50),
    quality_slow=(60, 240),
    scaling_repeat=3,
    clients=100,
    fanout_bars=6_000,
    latency_seconds=20.0,
    latency_rate=100.0,
    pairs=5,
)
QUICK = Sizes(
    bars=20_000,
    fast=(5, 25, 5),
    slow=(60, 120, 20),
    speed_repeat=1,
    seeds=2,
    tries=15,
    quality_fast=(5, 30),
    quality_slow=(40, 120),
    scaling_repeat=1,
    clients=20,
    fanout_bars=4_000,
    latency_seconds=2.0,
    latency_rate=100.0,
    pairs=1,
)


def span(start: int, stop: int, step: int = 1) -> range:
    return range(start, stop + 1, step)


def grid(sizes: Sizes) -> dict:
    return {
        name: dict(zip(("start", "stop", "step"), spec, strict=True))
        for name, spec in (("fast", sizes.fast), ("slow", sizes.slow))
    }


def sweep_body(csv: Path, grid_: dict, strategy: str = "sma_crossover", **extra) -> dict:
    return {
        "strategy": strategy,
        "data": {"path": csv.name},
        "grid": grid_,
        "maximize": "sharpe_ratio",
        "initial_balance": 10_000,
        "commission": 0.0,
        **extra,
    }


# -- a sweep through the server, read on /ws --------------------------------------------------


async def _sweep(js, body: dict) -> dict:
    client = await js.connect(batched=True)
    start = time.perf_counter()
    sweep_id = js.post("api/v1/sweep/run", body)["sweep_id"]
    await client.send({"type": "subscribe", "topic": "sweep", "sweep_id": sweep_id, "since": 0})
    events, trial_ends = [], []
    try:
        while True:
            messages = await client.receive(900)
            if messages is None:
                raise RuntimeError("the server closed the stream")
            now = time.perf_counter()
            for event in messages:
                if event["type"] == "subscribed":
                    continue
                events.append(event)
                if event["type"] == "sweep_trial":
                    trial_ends.append(now)
                elif event["type"] in SWEEP_TERMINAL:
                    if event["type"] != "sweep_complete":
                        raise RuntimeError(f"sweep {sweep_id} ended with {event}")
                    return {
                        "id": sweep_id,
                        "wall": now - start,
                        "end": event["data"],
                        "trials": [e["data"] for e in events if e["type"] == "sweep_trial"],
                        "trial_ends": [t - start for t in trial_ends],
                    }
    finally:
        client.close()


def run_sweep(js, body: dict) -> dict:
    """POST a sweep and read its stream on /ws (qm.batch framing) to `sweep_complete`: the
    wall time from the POST, its end event's data, its trials, when each trial's event came."""
    return asyncio.run(_sweep(js, body))


def trials_per_second(run: dict) -> tuple[float, float]:
    """(trials / (POST -> sweep_complete), steady rate: between the first and last trial)."""
    ends = run["trial_ends"]
    steady = (len(ends) - 1) / (ends[-1] - ends[0]) if len(ends) > 1 else float("nan")
    return len(ends) / run["wall"], steady


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


# -- 1. speed ----------------------------------------------------------------------------------


def backtesting_optimize(csv: Path, sizes: Sizes) -> dict | None:
    """read_csv + Backtest.optimize on the grid (its default: a fork pool, a process a core)."""
    try:
        from backtesting import Backtest
        from backtesting_reference import COMPARABLE, LongOnlySmaCross
    except ImportError:
        return None
    start = time.perf_counter()
    df = backtesting_frame(csv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats, heatmap = Backtest(df, LongOnlySmaCross, **COMPARABLE).optimize(
            fast=span(*sizes.fast),
            slow=span(*sizes.slow),
            maximize="Sharpe Ratio",
            return_heatmap=True,
        )
    wall = time.perf_counter() - start
    best = {"fast": int(stats._strategy.fast), "slow": int(stats._strategy.slow)}
    return {"wall": wall, "best": best, "trades": int(stats["# Trades"]), "runs": len(heatmap)}


def bench_speed(server: Server, csv: Path, sizes: Sizes) -> None:
    body = sweep_body(csv, grid(sizes))
    combos = len(span(*sizes.fast)) * len(span(*sizes.slow))
    print(
        f"\n[1] speed: grid of {combos} combinations of sma_crossover on {sizes.bars:,} hourly "
        "bars (CSV), POST -> sweep_complete on /ws, embedded cluster, vs backtesting.py "
        "Backtest.optimize (fork pool)"
    )
    ours = [run_sweep(server.js, body) for _ in range(sizes.speed_repeat)]
    counts = ours[-1]["end"]["counts"]
    mid = statistics.median(r["wall"] for r in ours)
    line(
        f"ours (median of {len(ours)})",
        mid,
        "all " + " ".join(f"{r['wall']:.3f}" for r in ours) + f"; counts {counts}",
    )
    first = statistics.median(r["trial_ends"][0] for r in ours)
    print(f"  (ours: the first trial's sweep_trial came {first:.2f} s after the POST, median)")
    theirs = backtesting_optimize(csv, sizes)
    if theirs is None:
        print("  backtesting.py not installed: no ratio (pip install backtesting)")
        return
    line(
        "backtesting.py: read_csv + optimize",
        theirs["wall"],
        f"{theirs['runs']} runs, {multiprocessing.cpu_count()} processes",
    )
    # The same work: their best combination (by their Sharpe) made as many trades in our trial.
    same = [t for t in ours[-1]["trials"] if t["params"] == theirs["best"]]
    trades = same[0]["metrics"]["total_trades"] if same else None
    print(
        f"  their best {theirs['best']} made {theirs['trades']} trades; our trial of it "
        f"{trades} (same: {trades == theirs['trades']})"
    )
    r = mid / theirs["wall"]
    summary(
        f"  => [1] sweep of {combos}, ours / backtesting.py optimize: {r:.3f}x "
        f"({1 / r:.1f}x faster; {mid:.2f} s vs {theirs['wall']:.2f} s; target <= 0.1x: "
        f"{verdict(r <= 0.1)})"
    )


# -- 2. search quality --------------------------------------------------------------------------


def _sambo_seed(job: tuple) -> dict:
    """One seed of backtesting.py's sambo search (in a forked process of its own)."""
    from backtesting.lib import FractionalBacktest
    from backtesting_reference import COMPARABLE, LongOnlySmaCross

    from qm_jupyter.engine.metrics import sharpe_ratio

    csv, seed, tries, fast, slow, ppy = job
    df = backtesting_frame(csv)
    last = df.Close.iloc[-1] / df.Open.iloc[-1]

    def our_sharpe(stats) -> float:
        """The objective of our sweeps on their equity curve, which is ours (to ~1e-12) but
        at the last bar: they close a position left open at its open, we at its close."""
        equity = stats["_equity_curve"]["Equity"].to_numpy(dtype=float).copy()
        trades = stats["_trades"]
        if len(trades) and trades["ExitBar"].iloc[-1] == len(equity) - 1:
            equity[-1] *= last
        value = sharpe_ratio(equity, ppy)
        return float("nan") if value is None else value

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt = FractionalBacktest(df, LongOnlySmaCross, fractional_unit=1e-8, **COMPARABLE)
        stats, heatmap = bt.optimize(
            fast=span(*fast),
            slow=span(*slow),
            maximize=our_sharpe,
            method="sambo",
            max_tries=tries,
            random_state=seed,
            return_heatmap=True,
        )
    return {
        "seed": seed,
        "best": {"fast": int(stats._strategy.fast), "slow": int(stats._strategy.slow)},
        "theirs": our_sharpe(stats),
        "distinct": len(heatmap),
        "seconds": time.perf_counter() - start,
    }


def bench_quality(server: Server, csv: Path, sizes: Sizes, ppy: float) -> None:
    from qm_jupyter.engine import load_prices, run_backtest

    fast, slow = sizes.quality_fast, sizes.quality_slow
    size = len(span(*fast)) * len(span(*slow))
    seeds = list(range(1, sizes.seeds + 1))
    print(
        f"\n[2] search quality: tpe (max_trials {sizes.tries}) vs backtesting.py sambo "
        f"(max_tries {sizes.tries}), seeds {seeds}, grid fast {fast[0]}..{fast[1]} x slow "
        f"{slow[0]}..{slow[1]} step 1 ({size:,} combinations), maximizing the same per-bar "
        f"Sharpe (periods_per_year {ppy:g}); each best scored by our engine"
    )
    try:
        import backtesting  # noqa: F401
        import sambo  # noqa: F401
    except ImportError as error:
        print(f"  {error.name} not installed: skipped (pip install backtesting sambo)")
        return
    quality_grid = {
        "fast": {"start": fast[0], "stop": fast[1], "step": 1},
        "slow": {"start": slow[0], "stop": slow[1], "step": 1},
    }
    # sambo's seeds in a fork pool (a process a core; its search is sequential), meanwhile the
    # tpe sweeps: neither figure is a time.
    jobs = [(csv, seed, sizes.tries, fast, slow, ppy) for seed in seeds]
    pool = multiprocessing.get_context("fork").Pool(min(len(seeds), multiprocessing.cpu_count()))
    pending = pool.map_async(_sambo_seed, jobs)
    tpe = []
    for seed in seeds:
        body = sweep_body(
            csv,
            quality_grid,
            method="tpe",
            max_trials=sizes.tries,
            seed=seed,
            periods_per_year=ppy,
        )
        run = run_sweep(server.js, body)
        best = run["end"]["best"]
        distinct = len({tuple(t["params"].values()) for t in run["trials"]})
        tpe.append({"seed": seed, "best": best["params"], "ours": best["objective"]})
        tpe[-1].update(distinct=distinct, seconds=run["wall"])
    sambo_runs = pending.get()
    pool.close()
    pool.join()
    prices = load_prices({"path": csv.name}, csv.parent)
    for run in sambo_runs:  # scored by our engine, as tpe's trials are
        result = run_backtest(prices, "sma_crossover", run["best"], periods_per_year=ppy)
        run["ours"] = result.metrics["sharpe_ratio"]
    gap = max(abs(r["ours"] - r["theirs"]) for r in sambo_runs)
    print(f"  sambo's objective vs our engine's Sharpe of its best: max difference {gap:.1e}")
    for name, runs in (("tpe", tpe), ("sambo", sambo_runs)):
        for run in runs:
            extra = f" (its own value {run['theirs']:.4f})" if "theirs" in run else ""
            print(
                f"  {name:<5} seed {run['seed']}: best {run['best']}, Sharpe {run['ours']:.4f}"
                f"{extra} ({run['distinct']} distinct combinations, {run['seconds']:.1f} s)"
            )
    ours_median = statistics.median(r["ours"] for r in tpe)
    theirs_median = statistics.median(r["ours"] for r in sambo_runs)
    per_seed = ", ".join(
        f"{a['ours']:.3f}/{b['ours']:.3f}" for a, b in zip(tpe, sambo_runs, strict=True)
    )
    summary(
        f"  => [2] best Sharpe in {sizes.tries} trials, median of {len(seeds)} seeds: tpe "
        f"{ours_median:.4f} vs sambo {theirs_median:.4f} (seeds {seeds[0]}-{seeds[-1]}, "
        f"tpe/sambo: {per_seed}); target tpe >= sambo: {verdict(ours_median >= theirs_median)}"
    )


# -- 3. scaling on a CLI cluster ---------------------------------------------------------------


class CLICluster(DaskCLICluster):
    """tests/faults/dask_cli.py's cluster, its workers one `dask worker --nworkers N` command
    that can be replaced (the scheduler stays)."""

    def start_scheduler(self) -> None:
        from distributed import Client

        self.scheduler = self._spawn(
            "scheduler", "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
            "--no-dashboard",
        )  # fmt: skip
        with Client(self.address, timeout=60):
            pass
        self.worker_command = None

    def set_workers(self, n: int) -> None:
        from distributed import Client

        if self.worker_command is not None:
            self.worker_command.terminate()
            self.worker_command.wait(30)
        with Client(self.address, timeout=30) as client:
            deadline = time.monotonic() + 30
            while client.scheduler_info()["workers"] and time.monotonic() < deadline:
                time.sleep(0.1)
            self.worker_command = self._spawn(
                f"workers{n}", "worker", self.address, "--nworkers", str(n), "--nthreads", "1",
                "--host", "127.0.0.1", "--no-dashboard",
            )  # fmt: skip
            client.wait_for_workers(n, timeout=90)


def warm_up_workers(js, csv: Path, n: int) -> None:
    """Warm-up sweeps until each of the `n` workers ran a trial (the engine imported, the
    data on it): Dask puts a short sweep's trials where the data is, all on one worker."""
    warm = sweep_body(csv, {"fast": [5, 10, 15, 20, 25], "slow": [60, 70, 80, 90]})
    for _ in range(5):
        if len({t["worker"] for t in run_sweep(js, warm)["trials"]}) == n:
            return
    raise RuntimeError(f"warm-up sweeps did not reach all {n} workers")


def bench_scaling(tmp: Path, csv_bars: int, sizes: Sizes, repeat: int) -> None:
    grid_ = grid(sizes)
    combos = len(span(*sizes.fast)) * len(span(*sizes.slow))
    print(
        f"\n[3] scaling: trials/s with 2 workers vs 1, CLI cluster on 127.0.0.1 (dask scheduler; "
        f"dask worker --nworkers N --nthreads 1), the grid of [1] ({combos} trials), "
        f"{csv_bars:,} hourly bars, {repeat} pair(s)"
    )
    cluster = CLICluster(tmp)
    cluster.start_scheduler()
    try:
        address = f"--QuantMindExtension.dask_scheduler_address={cluster.address}"
        with Server(tmp, "scaling", "--QuantMindExtension.workers=1", address) as server:
            csv = server.root / "prices.csv"
            write_sample_csv(csv, csv_bars, freq="1h")
            rates: dict[tuple[str, int], list[tuple[float, float]]] = {}
            for _ in range(repeat):
                for n in (1, 2):
                    cluster.set_workers(n)
                    warm_up_workers(server.js, csv, n)
                    for strategy in ("sma_crossover", "sma_crossover_bars"):
                        run = run_sweep(server.js, sweep_body(csv, grid_, strategy))
                        workers = {t["worker"] for t in run["trials"]}
                        assert len(workers) == n, workers
                        one = statistics.median(t["metrics"]["duration"] for t in run["trials"])
                        rates.setdefault((strategy, n), []).append(
                            (*trials_per_second(run), one, run["trial_ends"][0])
                        )
        for strategy in ("sma_crossover", "sma_crossover_bars"):
            med = {
                n: [statistics.median(r[i] for r in rates[strategy, n]) for i in range(4)]
                for n in (1, 2)
            }
            for n in (1, 2):
                print(
                    f"  {strategy:<19} {n} worker{'s' if n > 1 else ' '}: "
                    f"{med[n][0]:7.2f} trials/s end to end, {med[n][1]:7.2f} between first and "
                    f"last trial; a trial's run {med[n][2] * 1000:.0f} ms; first trial after "
                    f"{med[n][3]:.2f} s (medians)"
                )
            r, steady = med[2][0] / med[1][0], med[2][1] / med[1][1]
            summary(
                f"  => [3] {strategy}: 2 workers / 1 worker, trials/s: {r:.2f}x end to end "
                f"({steady:.2f}x between first and last trial); target >= 1.6x: "
                f"{verdict(r >= 1.6)}"
            )
    finally:
        cluster.stop()


# -- 4. responsiveness during a sweep -------------------------------------------------------------


def _spin() -> None:
    while True:
        pass


def _sweep_running(js, sweep_id: str) -> tuple[str, int]:
    sweep = js.get(f"api/v1/sweep/{sweep_id}")
    return sweep["status"], (sweep["counts"] or {}).get("completed", 0)


def _measure(js, url: str, sizes: Sizes, own_runs: bool = True) -> dict:
    cut = cut_clients(js)
    fan = measure_fanout(js, url, sizes.clients, sizes.fanout_bars, own_runs=own_runs)
    lat = measure_latency(
        js, url, sizes.clients, sizes.latency_rate, sizes.latency_seconds, own_runs=own_runs
    )
    return {
        "rate": fan["rate"],
        "complete": fan["complete"],
        "p50": lat["p50"],
        "p99": lat["p99"],
        "cut": cut_clients(js) - cut,
    }


def bench_responsiveness(server: Server, csv: Path, sizes: Sizes) -> None:
    js = server.js
    url = js.url.replace("http", "ws", 1) + f"ws?token={js.token}"
    # A sweep that outlasts the measurements (it is cancelled after them): 4,000 trials.
    body = sweep_body(
        csv,
        {
            "fast": {"start": 2, "stop": 41, "step": 1},
            "slow": {"start": 50, "stop": 149, "step": 1},
        },
    )
    cores = multiprocessing.cpu_count()
    print(
        f"\n[4] /ws for clients not watching the sweep (each subscribed to its runs): fan-out "
        f"to {sizes.clients} subscribers of a busy run ({sizes.fanout_bars:,} bars) and latency "
        f"(4 paced runs, {sizes.latency_rate:g} lines/s, {sizes.latency_seconds:g} s), idle vs "
        f"while a grid sweep keeps the embedded cluster busy; {sizes.pairs} alternated "
        f"round(s). First round only, no target: the same for {sizes.clients} topic-wide "
        f"subscribers (they watch the sweep too: every trial's events), and while {cores} "
        f"processes spin (CPU load like the cluster's, no sweep)"
    )
    runs: dict[str, list[dict]] = {key: [] for key in ("idle", "sweep", "all", "all_sweep", "cpu")}
    for round_ in range(sizes.pairs):
        runs["idle"].append(_measure(js, url, sizes))
        if not round_:
            runs["all"].append(_measure(js, url, sizes, own_runs=False))

        sweep_id = js.post("api/v1/sweep/run", body)["sweep_id"]
        deadline = time.monotonic() + 60
        while _sweep_running(js, sweep_id)[1] < 4:  # the cluster busy
            if time.monotonic() > deadline:
                raise TimeoutError("the sweep did not start")
            time.sleep(0.1)
        measured = [("sweep", _measure(js, url, sizes))]
        if not round_:
            measured.append(("all_sweep", _measure(js, url, sizes, own_runs=False)))
        status, trials = _sweep_running(js, sweep_id)
        for key, result in measured:
            result["trials"] = trials
            result["covered"] = status == "running"  # still going after the measurements
            runs[key].append(result)
        if status == "running":
            js.post(f"api/v1/sweep/{sweep_id}/cancel")
        deadline = time.monotonic() + 30
        while _sweep_running(js, sweep_id)[0] == "running":
            if time.monotonic() > deadline:
                raise TimeoutError("the sweep did not stop")
            time.sleep(0.1)

        if round_:
            continue  # the CPU-load comparison once: it has no target
        spinning = [multiprocessing.get_context("fork").Process(target=_spin) for _ in range(cores)]
        for process in spinning:
            process.start()
        try:
            runs["cpu"].append(_measure(js, url, sizes))
        finally:
            for process in spinning:
                process.terminate()
                process.join()
    labels = {
        "idle": "idle",
        "sweep": "during a sweep",
        "all": "idle, topic-wide",
        "all_sweep": "sweep, topic-wide",
        "cpu": f"{cores} spinning",
    }
    for key, label in labels.items():
        for run in runs[key]:
            extra = ""
            if "trials" in run:
                extra = f"; sweep trials done {run['trials']}, still running: {run['covered']}"
            print(
                f"  {label:<17} fan-out {run['rate']:9,.0f} events/s (all delivered: "
                f"{run['complete']}; clients cut off: {run['cut']}), latency p50 "
                f"{run['p50']:6.1f} ms p99 {run['p99']:6.1f} ms{extra}"
            )

    def medians(key: str) -> tuple[float, float]:
        return (
            statistics.median(r["rate"] for r in runs[key]),
            max(statistics.median(r["p99"] for r in runs[key]), 1.0),  # 1 ms: the resolution
        )

    idle, busy, cpu = medians("idle"), medians("sweep"), medians("cpu")
    watching_idle, watching = medians("all"), medians("all_sweep")
    rate, latency = busy[0] / idle[0], idle[1] / busy[1]
    covered = all(r["covered"] for r in runs["sweep"] + runs["all_sweep"])
    summary(
        f"  => [4] during a sweep / idle: fan-out events/s {rate:.2f}x, latency (p99 idle / "
        f"during) {latency:.2f}x ({idle[1]:.1f} vs {busy[1]:.1f} ms); target >= 0.8x: "
        f"{verdict(rate >= 0.8 and latency >= 0.8)}"
        + ("" if covered else " (THE SWEEP ENDED BEFORE THE MEASUREMENTS DID)")
    )
    summary(
        f"  => [4] (no target) {sizes.clients} topic-wide subscribers, during a sweep / idle: "
        f"fan-out {watching[0] / watching_idle[0]:.2f}x, latency "
        f"{watching_idle[1] / watching[1]:.2f}x ({watching_idle[1]:.1f} vs {watching[1]:.1f} ms)"
    )
    summary(
        f"  => [4] (no target) with {cores} spinning processes instead / idle: fan-out "
        f"{cpu[0] / idle[0]:.2f}x, latency {idle[1] / cpu[1]:.2f}x ({cpu[1]:.1f} ms)"
    )


# -- main ---------------------------------------------------------------------------------------


def took(section, *args) -> None:
    start = time.perf_counter()
    section(*args)
    print(f"  ({section.__name__} took {time.perf_counter() - start:.0f} s)")


def bench(args: argparse.Namespace, sizes: Sizes, tmp: Path) -> None:
    from qm_jupyter.engine import load_prices
    from qm_jupyter.engine.metrics import infer_periods_per_year

    skip = set(args.skip)
    names = ("qm-jupyter", "distributed", "optuna", "backtesting", "sambo", "pandas")
    print(f"installed: {versions(names)}; {multiprocessing.cpu_count()} cores")
    started = time.perf_counter()
    if {"speed", "quality", "responsiveness"} - skip:
        flags = (
            "--QuantMindExtension.workers=4",
            "--QuantMindExtension.ws_ping_interval=0",
        )
        server = Server(tmp, "main", *flags)
        write_paced_logger(server.root)
        csv = server.root / "prices.csv"
        write_sample_csv(csv, sizes.bars, freq="1h")
        with server:
            asyncio.run(server.warm_up())  # the server's own worker processes (single runs)
            first = run_sweep(server.js, sweep_body(csv, {"fast": [5, 10], "slow": [60, 80]}))
            run_sweep(server.js, sweep_body(csv, {"fast": [5, 10], "slow": [60, 80]}))
            print(
                f"first sweep (4 trials; starts the embedded cluster): {first['wall']:.2f} s; "
                "a second warm-up sweep done"
            )
            if "speed" not in skip:
                took(bench_speed, server, csv, sizes)
            if "quality" not in skip:
                ppy = infer_periods_per_year(load_prices({"path": csv.name}, csv.parent).index)
                took(bench_quality, server, csv, sizes, ppy)
            if "responsiveness" not in skip:
                took(bench_responsiveness, server, csv, sizes)
    if "scaling" not in skip:
        took(bench_scaling, tmp, sizes.bars, sizes, sizes.scaling_repeat)
    print(
        f"\nsummary ({sizes.bars:,} hourly bars; every ratio against a baseline of this run; "
        f"{time.perf_counter() - started:.0f} s in all):"
    )
    for text in SUMMARY:
        print(f"  {text}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="small sizes: a smoke run, not the issue's figures"
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=["speed", "quality", "scaling", "responsiveness"],
    )
    parser.add_argument("--seeds", type=int, help="seeds of [2] (default 5; --quick 2)")
    parser.add_argument("--pairs", type=int, help="idle/during pairs of [4] (default 5; --quick 1)")
    parser.add_argument(
        "--tmp-dir", type=Path, help="where the servers' roots go (default: the system's temp dir)"
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.seeds:
        sizes = Sizes(**{**sizes.__dict__, "seeds": args.seeds})
    if args.pairs:
        sizes = Sizes(**{**sizes.__dict__, "pairs": args.pairs})
    with tempfile.TemporaryDirectory(dir=args.tmp_dir) as tmp:
        bench(args, sizes, Path(tmp))


if __name__ == "__main__":
    main()

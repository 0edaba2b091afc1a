"""Engine benchmarks: our engine vs backtesting.py and vectorbt, ratios measured in one run.

    python benchmarks/bench_engine.py                    # 1,000,000 bars, 10,000,000-bar memory run
    python benchmarks/bench_engine.py --bars 100000 --memory-bars 1000000   # quick smoke run

Figures (each printed with its ratio):
1. sma_crossover(10, 20) end to end from the same CSV (parse included, our file cache cleared)
   vs backtesting.py reading that CSV with pandas and running the equivalent long-only strategy;
   also both without the CSV step. The trade counts must match.
2. Our per-bar form (sma_crossover_bars) vs the same backtesting.py run.
3. Our vectorized simulation vs vectorbt `Portfolio.from_signals` on the same signals (shifted one
   bar and priced at the open, i.e. our next-open fills), vectorbt warmed up first; both compute
   final value, trade count and max drawdown.
4. Peak memory (VmHWM, in a fresh subprocess) of a sample run vs the size of its OHLCV arrays.
5. Per-bar runs with brackets (SMA(10, 20) crosses, long and short, 50% of equity, SL 2% and TP
   3%, commission and spread) under ``conventions="backtesting.py"`` vs the same strategy in
   backtesting.py; the trades must match (``--bracket-bars``, default 100,000).
6. Vectorized runs with stops (the SMA(10, 20) cross signals of [3], long only, with ``sl_stop`` +
   ``tp_stop``, then ``tsl_stop`` + ``tp_stop``) vs vectorbt `from_signals` with the same stops
   (``sl_stop``/``sl_trail``, ``tp_stop``, stops from the fill price), warmed up first; the
   trades (entry and exit bars) are compared: identical with fixed stops; with a trailing stop
   vectorbt leaves the entry bar's high out of the trail (the broker's rule counts it).

backtesting.py and vectorbt are benchmark-only extras; a missing one is reported and skipped.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from common import FAST, SLOW, backtesting_csv_run, line, ratio, timed, write_sample_csv

from qm_jupyter.engine import data as engine_data
from qm_jupyter.engine import load_prices, run_backtest
from qm_jupyter.engine.builtin_strategies import SmaCrossover


def bench_backtesting(csv: Path, frame: pd.DataFrame, repeat: int) -> None:
    print(f"\n[1-2] vs backtesting.py: sma_crossover({FAST}, {SLOW}), {len(frame):,} bars")
    theirs = backtesting_csv_run(csv)
    if theirs is None:
        print("backtesting.py not installed: skipped (pip install backtesting)")
        return
    bt_total, bt_parse, bt_run = theirs["total"], theirs["parse"], theirs["run"]

    def ours_csv():
        engine_data._CACHE.clear()
        return run_backtest(csv, "sma_crossover", {"fast": FAST, "slow": SLOW})

    line(
        "backtesting.py: read CSV + run",
        bt_total,
        f"({bt_parse:.3f} s parse), {theirs['trades']} trades",
    )
    t_e2e, r = timed(ours_csv, repeat)
    line(
        "ours vectorized: CSV (parse, no cache) + run", t_e2e, f"{r.metrics['total_trades']} trades"
    )
    t_vec, r_vec = timed(
        lambda: run_backtest(frame, "sma_crossover", {"fast": FAST, "slow": SLOW}), repeat
    )
    line("ours vectorized: run on a loaded frame", t_vec, f"{r_vec.metrics['total_trades']} trades")
    t_bar, r_bar = timed(
        lambda: run_backtest(frame, "sma_crossover_bars", {"fast": FAST, "slow": SLOW}), 1
    )
    line("ours per-bar: run on a loaded frame", t_bar, f"{r_bar.metrics['total_trades']} trades")
    same = theirs["trades"] == r.metrics["total_trades"] == r_bar.metrics["total_trades"]
    print(f"  same number of trades: {same}")
    ratio("end to end incl. CSV, backtesting.py / ours", bt_total, t_e2e, 10)
    ratio("run only, backtesting.py / ours vectorized", bt_run, t_vec, 10)
    ratio("per-bar form, backtesting.py / ours per-bar", bt_run, t_bar, 3)


def bench_vectorbt(frame: pd.DataFrame, repeat: int) -> None:
    try:
        import vectorbt as vbt
    except ImportError:
        print("\nvectorbt not installed: skipped (pip install vectorbt)")
        return
    entries, exits = SmaCrossover(fast=FAST, slow=SLOW).signals(frame)
    close, open_ = frame["close"].to_numpy(), frame["open"].to_numpy()

    def next_bar(a):
        out = np.zeros_like(a)
        out[1:] = a[:-1]
        return out

    vbt_entries, vbt_exits = next_bar(entries), next_bar(exits)

    def theirs(n=None):
        pf = vbt.Portfolio.from_signals(
            close[:n], vbt_entries[:n], vbt_exits[:n], price=open_[:n], init_cash=10_000.0, fees=0.0
        )
        return float(pf.final_value()), int(pf.trades.count()), float(pf.max_drawdown())

    def signals(data):
        return entries, exits

    print(f"\n[3] vs vectorbt Portfolio.from_signals on the same signals, {len(frame):,} bars")
    warm, _ = timed(lambda: theirs(1000), 1)
    line("vectorbt warm-up (JIT compile, not counted)", warm)
    t_vbt, (value, count, mdd) = timed(theirs, repeat)
    line(
        "vectorbt from_signals + value/trades/drawdown", t_vbt, f"{count} trades, final {value:.2f}"
    )
    t_ours, r = timed(lambda: run_backtest(frame, signals), repeat)
    line(
        "ours run_backtest on the same signals",
        t_ours,
        f"{r.metrics['total_trades']} trades, final {r.metrics['final_balance']:.2f}",
    )
    print(
        f"  same trades: {count == r.metrics['total_trades']}, final value rel. diff "
        f"{abs(value / r.metrics['final_balance'] - 1):.1e}, max drawdown rel. diff "
        f"{abs(mdd / r.metrics['max_drawdown'] - 1):.1e}"
    )
    ratio("vectorbt / ours", t_vbt, t_ours, 2)


STOP_CASES = (
    ("sl 0.5% + tp 0.8%", {"sl_stop": 0.005, "tp_stop": 0.008}, {"sl_stop": 0.005}),
    (
        "trailing 0.5% + tp 0.8%",
        {"tsl_stop": 0.005, "tp_stop": 0.008},
        {"sl_stop": 0.005, "sl_trail": True},
    ),
)


def bench_vectorbt_stops(frame: pd.DataFrame, repeat: int) -> None:
    try:
        import vectorbt as vbt
    except ImportError:
        print("\nvectorbt not installed: skipped (pip install vectorbt)")
        return
    import logging

    from qm_jupyter.engine.stats import compute_stats

    logging.getLogger("qm_jupyter.engine").setLevel(logging.ERROR)  # a trade line each
    entries, exits = (np.asarray(a) for a in SmaCrossover(fast=FAST, slow=SLOW).signals(frame))
    prices = {k: frame[k].to_numpy() for k in ("open", "high", "low", "close")}
    shifted = [np.concatenate(([False], a[:-1])) for a in (entries, exits)]  # our next-open fills

    def signals(data):
        return entries, exits

    print(f"\n[6] vectorized runs with stops vs vectorbt from_signals, {len(frame):,} bars")
    for label, ours_stops, their_stops in STOP_CASES:

        def theirs(n=None, their_stops=their_stops, tp=ours_stops["tp_stop"]):
            cut = {k: v[:n] for k, v in prices.items()}
            pf = vbt.Portfolio.from_signals(
                cut["close"],
                shifted[0][:n],
                shifted[1][:n],
                price=cut["open"],
                open=cut["open"],
                high=cut["high"],
                low=cut["low"],
                init_cash=10_000.0,
                fees=0.0,
                stop_entry_price="fillprice",
                tp_stop=tp,
                **their_stops,
            )
            return pf, float(pf.final_value()), int(pf.trades.count()), float(pf.max_drawdown())

        timed(lambda theirs=theirs: theirs(1000), 1)  # JIT compile, not counted
        t_vbt, (pf, value, count, _) = timed(theirs, repeat)
        line(f"vectorbt, {label}", t_vbt, f"{count} trades, final {value:.2f}")
        t_ours, r = timed(
            lambda ours_stops=ours_stops: run_backtest(frame, signals, **ours_stops), repeat
        )
        reasons = r.trades.exit_reason.value_counts().to_dict()
        line(f"ours, {label}", t_ours, f"{len(r.trades)} trades {reasons}")
        t_stats, _ = timed(lambda r=r: compute_stats(r.equity, r.trades, frame), repeat)
        line("  of which result.stats (engine/stats.py, timed alone)", t_stats)
        rec = pf.trades.records
        theirs_exits = dict(
            zip(
                zip(rec["entry_idx"].tolist(), rec["exit_idx"].tolist(), strict=True),
                rec["exit_price"].tolist(),
                strict=True,
            )
        )
        t = r.trades
        ours_exits = dict(
            zip(
                zip(t.entry_bar.tolist(), t.exit_bar.tolist(), strict=True),
                t.exit_price.tolist(),
                strict=True,
            )
        )
        same = ours_exits.keys() & theirs_exits.keys()
        priced = sum(ours_exits[k] == theirs_exits[k] for k in same)
        print(
            f"  same trades (entry, exit bars): {len(same)} of {len(ours_exits)} ours, "
            f"{len(theirs_exits)} vectorbt's; {priced} of them at the same exit price (vectorbt "
            "fills a stop reached in a bar before an exit signal at its open)"
        )
        ratio(f"{label}, vectorbt / ours", t_vbt, t_ours, 2)
        ratio(f"{label}, vectorbt / ours without result.stats", t_vbt, t_ours - t_stats, 2)


# VmHWM (common.hwm_kib) of a fresh process: the peak of this run alone.
MEMORY_PROBE = """
import json, sys, time
sys.path.insert(0, sys.argv[2])
from common import hwm_kib
from qm_jupyter.engine import load_prices, run_backtest

base = hwm_kib()
start = time.perf_counter()
r = run_backtest({"sample": "gbm", "bars": int(sys.argv[1]), "seed": 1}, "sma_crossover")
print(json.dumps({"seconds": time.perf_counter() - start, "trades": r.metrics["total_trades"],
                  "base_kib": base, "peak_kib": hwm_kib()}))
"""


def bench_memory(bars: int) -> None:
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(bars), str(Path(__file__).parent)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    m = json.loads(out)
    ohlcv = 5 * 8 * bars
    peak = m["peak_kib"] * 1024
    print(f"\n[4] peak memory of a {bars:,}-bar sample sma_crossover run (fresh process)")
    line("run (sample generation included)", m["seconds"], f"{m['trades']} trades")
    print(
        f"  OHLCV arrays {ohlcv / 2**20:.0f} MiB; peak RSS {peak / 2**20:.0f} MiB "
        f"(interpreter + imports alone {m['base_kib'] / 1024:.0f} MiB)"
    )
    print(
        f"  => peak / OHLCV: {peak / ohlcv:.2f}x (target <= 3x) "
        f"{'ok' if peak / ohlcv <= 3 else 'ABOVE TARGET'}; without the interpreter baseline "
        f"{(peak - m['base_kib'] * 1024) / ohlcv:.2f}x (small runs are all baseline)"
    )


def _bracket_strategies():
    """The bracket strategy in backtesting.py's API and in ours (the same logic)."""
    from backtesting import Strategy as BtStrategy

    from qm_jupyter.engine import Strategy
    from qm_jupyter.engine.indicators import sma

    class BtBrackets(BtStrategy):
        def init(self):
            self.f = self.I(sma, self.data.Close, FAST)
            self.s = self.I(sma, self.data.Close, SLOW)

        def next(self):
            f, s, c = self.f, self.s, self.data.Close[-1]
            if f[-1] > s[-1] and f[-2] <= s[-2]:
                self.buy(size=0.5, sl=c * 0.98, tp=c * 1.03)
            elif f[-1] < s[-1] and f[-2] >= s[-2]:
                self.sell(size=0.5, sl=c * 1.02, tp=c * 0.97)

    class OurBrackets(Strategy):
        def init(self):
            self.f = self.I(sma, self.data.close, FAST)
            self.s = self.I(sma, self.data.close, SLOW)

        def next(self):
            i, f, s, c = self.i, self.f, self.s, self.price
            if f[i] > s[i] and f[i - 1] <= s[i - 1]:
                self.buy(0.5, sl=c * 0.98, tp=c * 1.03)
            elif f[i] < s[i] and f[i - 1] >= s[i - 1]:
                self.sell(0.5, sl=c * 1.02, tp=c * 0.97)

    return BtBrackets, OurBrackets


def bench_brackets(bars: int) -> None:
    try:
        from backtesting import Backtest
    except ImportError:
        print("\nbacktesting.py not installed: skipped (pip install backtesting)")
        return
    import logging
    import warnings

    logging.getLogger("qm_jupyter.engine").setLevel(logging.ERROR)  # its cancelled orders
    frame = load_prices({"sample": "gbm", "bars": bars, "seed": 2})
    theirs_frame = frame.rename(columns=str.capitalize)
    bt_cls, our_cls = _bracket_strategies()
    costs = {"commission": 0.0005, "spread": 0.0002}
    print(f"\n[5] per-bar runs with brackets vs backtesting.py, {bars:,} bars")

    def theirs():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Backtest(theirs_frame, bt_cls, cash=1_000_000, **costs).run()

    t_bt, stats = timed(theirs, 1)
    line("backtesting.py", t_bt, f"{stats['# Trades']} trades")
    t_ours, r = timed(
        lambda: run_backtest(
            frame, our_cls, initial_balance=1_000_000, conventions="backtesting.py", **costs
        ),
        1,
    )
    line("ours (conventions='backtesting.py')", t_ours, f"{r.metrics['total_trades']} trades")
    same = r.trades.exit_bar.tolist() == stats["_trades"].ExitBar.tolist()
    print(f"  same trades: {same}")
    ratio("per-bar with brackets, backtesting.py / ours", t_bt, t_ours, 3)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bars", type=int, default=1_000_000, help="bars of the CSV runs")
    parser.add_argument(
        "--memory-bars", type=int, default=10_000_000, help="bars of the memory run (0 to skip)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="best-of for our (fast) runs")
    parser.add_argument(
        "--bracket-bars", type=int, default=100_000, help="bars of the bracket runs (0 to skip)"
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=["backtesting", "vectorbt", "memory", "brackets", "stops"],
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "prices.csv"
        frame = write_sample_csv(csv, args.bars)
        if "backtesting" not in args.skip:
            bench_backtesting(csv, frame, args.repeat)
    if "vectorbt" not in args.skip:
        bench_vectorbt(frame, args.repeat)
    if "memory" not in args.skip and args.memory_bars:
        bench_memory(args.memory_bars)
    if "brackets" not in args.skip and args.bracket_bars:
        bench_brackets(args.bracket_bars)
    if "stops" not in args.skip:
        bench_vectorbt_stops(frame, args.repeat)


if __name__ == "__main__":
    main()

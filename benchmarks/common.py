"""Pieces shared by the benchmarks: sample CSV, backtesting.py reference run, printing.

backtesting.py is a benchmark-only extra: `backtesting_csv_run` returns None when it is missing.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from qm_jupyter.engine import load_prices

FAST, SLOW = 10, 20
os.environ.setdefault("TQDM_DISABLE", "1")  # backtesting.py's progress bar would garble the output


def timed(fn, repeat: int = 1):
    """(best wall seconds over `repeat` calls, last result)."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def line(label: str, seconds: float, extra: str = "") -> None:
    print(f"  {label:<46} {seconds:9.3f} s  {extra}")


def ratio(label: str, theirs: float, ours: float, target: float) -> None:
    verdict = "ok" if theirs / ours >= target else "BELOW TARGET"
    print(f"  => {label}: {theirs / ours:.1f}x (target >= {target:g}x) {verdict}")


def write_sample_csv(path: Path, bars: int, seed: int = 1) -> pd.DataFrame:
    """Write `bars` one-minute GBM bars (the server's `{"sample": "gbm"}` data) to `path`."""
    frame = load_prices({"sample": "gbm", "bars": bars, "seed": seed})
    frame.to_csv(path)
    print(f"{bars:,} one-minute GBM bars written to a CSV of {path.stat().st_size / 2**20:.0f} MiB")
    return frame


def hwm_kib(pid: int | str = "self") -> int:
    """Peak resident set (VmHWM, KiB) of a live process.

    Not ru_maxrss: Linux carries it over from the parent across fork+exec.
    """
    with open(f"/proc/{pid}/status") as status:
        return int(next(x for x in status if x.startswith("VmHWM")).split()[1])


def _sma_cross_long_only(fast: int = FAST, slow: int = SLOW):
    """backtesting.py's equivalent of our sma_crossover: long-only, all-in, next-open fills."""
    from backtesting import Strategy
    from backtesting.test import SMA

    class SmaCrossLongOnly(Strategy):
        def init(self):
            self.f = self.I(SMA, self.data.Close, fast)
            self.s = self.I(SMA, self.data.Close, slow)

        def next(self):
            f, s = self.f, self.s
            if f[-1] > s[-1] and f[-2] <= s[-2]:
                if not self.position:
                    self.buy()
            elif f[-1] < s[-1] and f[-2] >= s[-2] and self.position:
                self.position.close()

    return SmaCrossLongOnly


def backtesting_csv_run(csv: Path) -> dict[str, Any] | None:
    """backtesting.py reading `csv` with pandas and running SmaCrossLongOnly.

    Returns {"total": s, "parse": s, "run": s, "trades": n, "stats": ...}, or None if
    backtesting.py is not installed.
    """
    try:
        from backtesting import Backtest
    except ImportError:
        return None
    strategy = _sma_cross_long_only()
    start = time.perf_counter()
    df = pd.read_csv(csv, index_col=0, parse_dates=[0])
    df = df.rename(columns=str.capitalize).tz_localize(None)
    parsed = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt = Backtest(
            df,
            strategy,
            cash=10_000,
            trade_on_close=False,
            exclusive_orders=True,
            finalize_trades=True,
        )
        stats = bt.run()
    end = time.perf_counter()
    return {
        "total": end - start,
        "parse": parsed - start,
        "run": end - parsed,
        "trades": int(stats["# Trades"]),
        "stats": stats,
    }

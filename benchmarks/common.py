"""Pieces shared by the benchmarks: sample CSV, backtesting.py reference run, page cache,
printing.

backtesting.py is a test and benchmark extra: `backtesting_csv_run` returns None when it is
missing. Its reference strategy is the cross-check test's (tests/backtesting_reference.py):
tests/ is put on sys.path here, as the server benchmarks need it for tests/server_process.py.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qm_jupyter.engine import load_prices

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

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
    print(f"  {label:<52} {seconds:9.3f} s  {extra}")


def ratio(label: str, theirs: float, ours: float, target: float) -> None:
    verdict = "ok" if theirs / ours >= target else "BELOW TARGET"
    print(f"  => {label}: {theirs / ours:.1f}x (target >= {target:g}x) {verdict}")


def write_sample_csv(path: Path, bars: int, seed: int = 1, freq: str | None = None) -> pd.DataFrame:
    """Write `bars` GBM bars (the server's `{"sample": "gbm"}` data: one-minute bars unless
    `freq` says otherwise, e.g. "1h") to `path`."""
    spec = {"sample": "gbm", "bars": bars, "seed": seed}
    if freq is not None:
        spec["freq"] = freq
    frame = load_prices(spec)
    frame.to_csv(path)
    size = path.stat().st_size / 2**20
    print(f"{bars:,} GBM bars ({freq or '1min'}) written to a CSV of {size:.0f} MiB")
    return frame


def hwm_kib(pid: int | str = "self") -> int:
    """Peak resident set (VmHWM, KiB) of a live process.

    Not ru_maxrss: Linux carries it over from the parent across fork+exec.
    """
    with open(f"/proc/{pid}/status") as status:
        return int(next(x for x in status if x.startswith("VmHWM")).split()[1])


def backtesting_csv_run(csv: Path) -> dict[str, Any] | None:
    """backtesting.py reading `csv` with pandas and running the reference strategy.

    The strategy and the settings that make it comparable with ours are the cross-check test's
    (tests/backtesting_reference.py). Returns {"total": s, "parse": s, "run": s, "trades": n,
    "stats": ...}, or None if backtesting.py is not installed.
    """
    try:
        from backtesting import Backtest
        from backtesting_reference import COMPARABLE, LongOnlySmaCross
    except ImportError:
        return None
    start = time.perf_counter()
    df = backtesting_frame(csv)
    parsed = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = Backtest(df, LongOnlySmaCross, **COMPARABLE).run(fast=FAST, slow=SLOW)
    end = time.perf_counter()
    return {
        "total": end - start,
        "parse": parsed - start,
        "run": end - parsed,
        "trades": int(stats["# Trades"]),
        "stats": stats,
    }


def backtesting_frame(csv: Path) -> pd.DataFrame:
    """A CSV of ours read with pandas, as backtesting.py wants it (Open, High..., naive index)."""
    df = pd.read_csv(csv, index_col=0, parse_dates=[0])
    return df.rename(columns=str.capitalize).tz_localize(None)


def drop_from_page_cache(path: Path) -> float | None:
    """Write `path` out and ask the kernel to drop it from the page cache (POSIX_FADV_DONTNEED),
    so that its next reader reads it from storage; returns the fraction still cached after.

    (The kernel drops only clean pages, hence the fsync; on a tmpfs the pages are the file, so
    it stays: `cached_fraction` then says 1.0.)
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return cached_fraction(path)


def back_memory(mib: int = 1024) -> float:
    """Touch `mib` MiB of memory and free it; returns the seconds that took.

    A VM that hands its free memory back to the host (free page reporting, as these sandboxes
    do) charges the first touch of memory after a few idle seconds: here about 2.5 ms of
    system time per MiB, 0.8 s for the 320 MiB a 1M-row parse takes. Whichever timed run
    comes first after a pause would pay it, ours or backtesting.py's; called right before
    each, it makes neither pay (the next process takes the pages just freed).
    """
    start = time.perf_counter()
    block = np.ones(mib << 17)  # 8-byte floats, every page written
    del block
    return time.perf_counter() - start


def cached_fraction(path: Path) -> float | None:
    """The fraction of `path`'s pages in the page cache (mincore(2) on a mapping that is never
    touched, as util-linux's fincore does); None where that cannot be asked."""
    size = os.path.getsize(path)
    if size == 0:
        return 0.0
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, *[ctypes.c_int] * 3, ctypes.c_long]
        libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
        libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    except (OSError, AttributeError):
        return None
    pages = -(-size // mmap.PAGESIZE)
    with open(path, "rb") as file:
        address = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, file.fileno(), 0)
    if address is None or address == ctypes.c_void_p(-1).value:
        return None
    try:
        resident = (ctypes.c_ubyte * pages)()
        if libc.mincore(address, size, resident) != 0:
            return None
        return sum(b & 1 for b in bytes(resident)) / pages
    finally:
        libc.munmap(address, size)

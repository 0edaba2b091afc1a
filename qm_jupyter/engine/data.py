"""Loading and checking price data: one DataFrame shape for every source.

`load_prices` returns a frame with a sorted, unique DatetimeIndex and float64 columns
open, high, low, close, volume (volume 0.0 when the source has none). Problems raise `DataError`
naming the column and the row (1-based data row, header not counted) or timestamp.

Parsed files are kept in a small LRU cache keyed by the file's identity (resolved path, size,
mtime_ns, inode), so a second run on an unchanged file does not parse it again.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from pyarrow import csv as arrow_csv

from .errors import DataError
from .sample import gbm_prices
from .spec import resolve_data_path, validate_data_spec

PRICE_COLUMNS = ("open", "high", "low", "close")
COLUMNS = (*PRICE_COLUMNS, "volume")
_TIME_NAMES = ("time", "timestamp", "date", "datetime")
#: Bytes read at once from a CSV file.
_READ_BUFFER = 8 << 20

DataSource = pd.DataFrame | str | os.PathLike[str] | dict[str, Any]


def load_prices(source: DataSource, root_dir: str | Path | None = None) -> pd.DataFrame:
    """Prices from a DataFrame, a CSV/Parquet path (relative to root_dir) or a wire spec dict.

    >>> load_prices({"sample": "gbm", "bars": 2}).columns.tolist()
    ['open', 'high', 'low', 'close', 'volume']
    """
    if isinstance(source, pd.DataFrame):
        return normalize_prices(source, "the DataFrame")
    if isinstance(source, dict):
        spec = validate_data_spec(source, root_dir)
        if "sample" in spec:
            return gbm_prices(spec["bars"], spec["seed"], spec["freq"])
        source = spec["path"]
    if isinstance(source, str | os.PathLike):
        return _CACHE.load(resolve_data_path(source, root_dir), str(source))
    raise DataError(f"data must be a DataFrame, a path or a spec dict, got {type(source).__name__}")


def normalize_prices(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """Select and check the OHLCV columns of `frame` (any letter case); `where` names the source."""
    if not isinstance(frame.index, pd.DatetimeIndex):
        frame = _with_time_index(frame, where)
    lower = _column_map(frame.columns, where)
    missing = [c for c in PRICE_COLUMNS if c not in lower]
    if missing:
        raise DataError(f"{where}: missing column(s) {', '.join(missing)}")
    if len(frame) == 0:
        raise DataError(f"{where}: no rows")
    cols: dict[str, np.ndarray] = {}
    for name in COLUMNS:
        if name in lower:
            cols[name] = _float_column(frame[lower[name]], name, where)
        else:
            cols[name] = np.zeros(len(frame))
    _check_index(frame.index, where)
    for name in ("open", "close"):
        bad = np.flatnonzero(~(cols[name] > 0))
        if len(bad):
            raise DataError(
                f"{where}: column {name} must be positive, "
                f"{_where_row(frame.index, bad[0])} has {cols[name][bad[0]]}"
            )
    return pd.DataFrame(cols, index=frame.index, copy=False)


def _column_map(columns: pd.Index, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for col in columns:
        key = str(col).strip().lower()
        if key in COLUMNS:
            if key in out:
                raise DataError(f"{where}: column {key} appears twice ({out[key]!r}, {col!r})")
            out[key] = col
    return out


def _with_time_index(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    names = [c for c in frame.columns if str(c).strip().lower() in _TIME_NAMES]
    if not names:
        raise DataError(f"{where}: needs a DatetimeIndex or a time/timestamp/date column")
    return frame.set_index(_to_times(frame[names[0]], where))


def _to_times(values: pd.Series | pd.Index, where: str) -> pd.DatetimeIndex:
    try:
        return pd.DatetimeIndex(pd.to_datetime(values))
    except (ValueError, TypeError):
        parsed = pd.to_datetime(values, errors="coerce")
        bad = np.flatnonzero(pd.isna(parsed) & pd.notna(np.asarray(values)))
        row = f"row {bad[0] + 1} ({np.asarray(values)[bad[0]]!r})" if len(bad) else "a row"
        raise DataError(f"{where}: timestamp column has an unparseable value at {row}") from None


def _where_row(index: pd.Index, i: int) -> str:
    return f"row {i + 1} ({index[i]})"


def _float_column(values: pd.Series, name: str, where: str) -> np.ndarray:
    try:
        out = values.to_numpy(dtype=np.float64)
    except (ValueError, TypeError):
        numeric = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
        i = int(np.flatnonzero(np.isnan(numeric) & values.notna().to_numpy())[0])
        raise DataError(
            f"{where}: column {name} has non-numeric value {values.iloc[i]!r} "
            f"at {_where_row(values.index, i)}"
        ) from None
    bad = np.flatnonzero(~np.isfinite(out))
    if len(bad):
        raise DataError(
            f"{where}: column {name} has a missing or infinite value at "
            f"{_where_row(values.index, bad[0])}"
        )
    return out


def _check_index(index: pd.Index, where: str) -> None:
    if index.hasnans:
        i = int(np.flatnonzero(index.isna())[0])
        raise DataError(f"{where}: missing timestamp at row {i + 1}")
    ticks = index.asi8
    not_after = ticks[1:] <= ticks[:-1]  # strictly increasing = sorted and unique, no hash table
    if not not_after.any():
        return
    i = int(np.flatnonzero(not_after)[0]) + 1
    problem = "duplicate" if ticks[i] == ticks[i - 1] else "unsorted"
    raise DataError(
        f"{where}: {problem} timestamp at {_where_row(index, i)} (previous row is {index[i - 1]})"
    )


def warm_up_reader() -> None:
    """Parse a two-row CSV once: a process's first parse pays pyarrow's and pandas' one-time
    set-up (thread pool, allocator, timestamp conversion), about 0.4 s beside 0.2 s for the
    1M rows that follow; a server's worker pays it before its first job instead."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "warm-up.csv"
        rows = (f"2020-01-01 00:0{i}:00+00:00,1.0,1.0,1.0,1.0,1.0" for i in range(2))
        path.write_text("\n".join(("time,open,high,low,close,volume", *rows)) + "\n")
        _read_file(path, path.name)


def _read_file(path: Path, shown: str) -> pd.DataFrame:
    """Parse a CSV (first column = timestamps) or Parquet file into a normalized frame."""
    where = f"data file '{shown}'"
    try:
        csv = path.suffix.lower() == ".csv"
        frame = _read_csv(path, where) if csv else pd.read_parquet(path)
    except DataError:
        raise
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{where}: cannot be read: {exc}") from None
    return normalize_prices(frame, where)


def _read_csv(path: Path, where: str) -> pd.DataFrame:
    header = pd.read_csv(path, nrows=0).columns
    if len(header) == 0:
        raise DataError(f"{where}: no header row")
    wanted = _column_map(header[1:], where)
    dtypes = {col: np.float64 for col in wanted.values()}
    usecols = [header[0], *wanted.values()]
    frame = _read_csv_with_arrow(path, list(header), usecols)
    if frame is None:
        try:
            frame = pd.read_csv(path, usecols=usecols, dtype=dtypes, index_col=0, engine="c")
        except ValueError:  # text in a price column: re-read as text to say where
            frame = pd.read_csv(path, usecols=usecols, dtype=str, index_col=0, engine="c")
    frame.index = _to_times(frame.index, where)
    return frame


def _read_csv_with_arrow(path: Path, header: list[str], usecols: list[str]) -> pd.DataFrame | None:
    """pyarrow's multithreaded CSV reader (3-4x pandas' on 1M rows; a core dependency); None
    if it rejects the file or would change its times, which pandas then reads (and names the
    problem)."""
    try:
        # Read through one sequential buffered stream: given the path, the reader's threads
        # read a file that is not in the page cache 2x slower than it parses it.
        with pa.input_stream(str(path), buffer_size=_READ_BUFFER) as stream:
            table = arrow_csv.read_csv(
                stream,
                # pandas' names for the header (a blank first name is "Unnamed: 0"), as pandas
                read_options=arrow_csv.ReadOptions(column_names=header, skip_rows=1),
                convert_options=arrow_csv.ConvertOptions(
                    include_columns=usecols,
                    column_types={name: pa.float64() for name in usecols[1:]},
                ),
            )
    except (pa.ArrowException, ValueError, TypeError):
        return None
    times = table.column(usecols[0]).type
    if pa.types.is_timestamp(times) and times.tz is not None and not _utc_text(path):
        return None  # arrow would turn "+02:00" times into UTC ones; pandas keeps the offset
    frame = table.to_pandas().set_index(usecols[0])
    frame.index.name = None if usecols[0] == "Unnamed: 0" else usecols[0]  # as pandas names it
    if pa.types.is_timestamp(times):
        frame.index = frame.index.as_unit("us")  # pandas' unit for parsed text
    return frame


def _utc_text(path: Path) -> bool:
    """Whether the first timestamp of a CSV is written in UTC (``Z`` or ``+00:00``)."""
    with path.open(encoding="utf-8", errors="replace") as text:
        text.readline()
        first = text.readline().split(",", 1)[0].strip().strip('"')
    return first.endswith(("Z", "+00:00", "+0000"))


class _PriceCache:
    """Bounded LRU of parsed files; an entry is reused only while the file is unchanged.

    Per process: a server gets cache hits only if its worker processes outlive a run.
    The lock makes concurrent runs in threads parse a file once, one after the other.
    """

    def __init__(self, max_entries: int = 4, max_bytes: int = 2 << 30) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[Any, ...], pd.DataFrame] = OrderedDict()
        self._lock = threading.Lock()

    def load(self, path: Path, shown: str) -> pd.DataFrame:
        try:
            st = path.stat()
        except OSError:
            raise DataError(f"data file '{shown}' does not exist") from None
        key = (str(path), st.st_size, st.st_mtime_ns, st.st_ino)
        with self._lock:
            frame = self._entries.get(key)
            if frame is None:
                frame = _read_file(path, shown)
                self._store(key, frame)
            else:
                self._entries.move_to_end(key)
        return frame.copy(deep=False)  # copy-on-write: a caller's edits never reach the cache

    def _store(self, key: tuple[Any, ...], frame: pd.DataFrame) -> None:
        for old in [k for k in self._entries if k[0] == key[0]]:
            del self._entries[old]  # a stale version of the same file
        if frame.memory_usage(index=True).sum() > self.max_bytes:
            return
        self._entries[key] = frame
        while len(self._entries) > self.max_entries or self._bytes() > self.max_bytes:
            self._entries.popitem(last=False)

    def _bytes(self) -> int:
        return sum(int(f.memory_usage(index=True).sum()) for f in self._entries.values())

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_CACHE = _PriceCache()

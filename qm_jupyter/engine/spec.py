"""Cheap validation of the wire `data` object, without loading anything.

Two forms: ``{"path": "data/prices.csv"}`` (CSV or Parquet under root_dir; the resolved path, also
through symlinks, must stay inside root_dir) and ``{"sample": "gbm", "bars": N, "seed": S,
"freq": "1min"}`` (synthetic prices, see `sample.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from .errors import DataError

PRICE_SUFFIXES = (".csv", ".parquet", ".pq")
SAMPLE_KINDS = ("gbm",)
MAX_SAMPLE_BARS = 50_000_000


def resolve_data_path(path: str | Path, root_dir: str | Path | None) -> Path:
    """Absolute, symlink-free path of a price file; relative paths are taken from root_dir.

    With a root_dir the result must lie inside it (refusing '..' and symlinks that leave it).
    """
    raw = Path(path).expanduser()
    if root_dir is None:
        return raw.resolve()
    root = Path(root_dir).resolve()
    resolved = (root / raw).resolve()
    if not resolved.is_relative_to(root):
        raise DataError(f"data.path '{path}' resolves outside the server's root_dir")
    return resolved


def _int_field(spec: dict[str, Any], key: str, default: int | None) -> int:
    value = spec.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise DataError(f"data.{key} must be an integer, got {value!r}")
    return value


def _validate_sample(spec: dict[str, Any], max_sample_bars: int) -> dict[str, Any]:
    unknown = set(spec) - {"sample", "bars", "seed", "freq"}
    if unknown:
        raise DataError(f"data.{sorted(unknown)[0]} is not a field of a sample spec")
    kind = spec["sample"]
    if kind not in SAMPLE_KINDS:
        raise DataError(f"data.sample must be one of {', '.join(SAMPLE_KINDS)}, got {kind!r}")
    bars = _int_field(spec, "bars", None)
    if not 1 <= bars <= max_sample_bars:
        raise DataError(f"data.bars must be between 1 and {max_sample_bars}, got {bars}")
    seed = _int_field(spec, "seed", 0)
    if seed < 0:
        raise DataError(f"data.seed must be >= 0, got {seed}")
    freq = spec.get("freq", "1min")
    try:
        offset = pd.tseries.frequencies.to_offset(freq) if isinstance(freq, str) else None
    except ValueError:
        offset = None
    if offset is None or pd.Timestamp("2020-01-01") + offset <= pd.Timestamp("2020-01-01"):
        raise DataError(f"data.freq must be a positive pandas frequency like '1min', got {freq!r}")
    return {"sample": kind, "bars": bars, "seed": seed, "freq": freq}


def _validate_path(spec: dict[str, Any], root_dir: str | Path | None) -> dict[str, Any]:
    unknown = set(spec) - {"path"}
    if unknown:
        raise DataError(f"data.{sorted(unknown)[0]} is not a field of a path spec")
    path = spec["path"]
    if not isinstance(path, str) or not path.strip():
        raise DataError(f"data.path must be a non-empty string, got {path!r}")
    resolved = resolve_data_path(path, root_dir)
    if resolved.suffix.lower() not in PRICE_SUFFIXES:
        raise DataError(f"data.path '{path}' must be a .csv or .parquet file")
    if not resolved.is_file():
        raise DataError(f"data.path '{path}' does not exist")
    return {"path": path}


def validate_data_spec(
    spec: dict[str, Any],
    root_dir: str | Path | None,
    *,
    max_sample_bars: int = MAX_SAMPLE_BARS,
) -> dict[str, Any]:
    """Check a wire `data` object and return a normalized copy (defaults filled), else DataError.

    >>> validate_data_spec({"sample": "gbm", "bars": 1000}, None)
    {'sample': 'gbm', 'bars': 1000, 'seed': 0, 'freq': '1min'}
    """
    if not isinstance(spec, dict):
        raise DataError(f"data must be an object, got {type(spec).__name__}")
    if ("path" in spec) == ("sample" in spec):
        raise DataError("data must have exactly one of 'path' or 'sample'")
    if "sample" in spec:
        return _validate_sample(spec, max_sample_bars)
    return _validate_path(spec, root_dir)

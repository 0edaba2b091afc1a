"""Writes notebooks/data/prices.csv, the sample prices the README's examples use.

5,000 hourly OHLCV bars (about 208 days from 2020-01-01 UTC) of the engine's own deterministic
GBM sample (``{"sample": "gbm", "bars": 5000, "seed": 7, "freq": "1h"}``), prices rounded to
4 decimals. The file lives under notebooks/ so that it is inside the root_dir of both servers the
README starts (the repository root and notebooks/), and the repository root's ``data`` is a
symlink to notebooks/data: ``data/prices.csv`` means the same file from either directory.

    python scripts/make_sample_data.py
"""

from __future__ import annotations

from pathlib import Path

from qm_jupyter.engine.sample import gbm_prices

SPEC = {"bars": 5000, "seed": 7, "freq": "1h"}
PATH = Path(__file__).resolve().parents[1] / "notebooks" / "data" / "prices.csv"


def sample_frame():
    frame = gbm_prices(**SPEC)
    prices = ["open", "high", "low", "close"]
    frame[prices] = frame[prices].round(4)
    frame["volume"] = frame["volume"].astype(int)
    return frame


def main() -> None:
    PATH.parent.mkdir(parents=True, exist_ok=True)
    sample_frame().to_csv(PATH, date_format="%Y-%m-%dT%H:%M:%SZ", lineterminator="\n")
    print(f"{PATH}: {PATH.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()

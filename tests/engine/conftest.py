"""Shared helpers for engine tests: tiny hand-made price frames and a recording observer."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from qm_jupyter.engine import Strategy


def frame(opens, closes, freq: str = "D", start: str = "2024-01-01") -> pd.DataFrame:
    """OHLC frame from opens and closes (high/low bracket them), daily bars by default."""
    o, c = np.asarray(opens, dtype=float), np.asarray(closes, dtype=float)
    index = pd.date_range(start, periods=len(o), freq=freq)
    return pd.DataFrame(
        {"open": o, "high": np.maximum(o, c) + 1, "low": np.minimum(o, c) - 1, "close": c},
        index=index,
    )


def target_function(target):
    """A vectorized (function-form) strategy that returns a fixed target position."""

    def fixed_target(data):
        return np.asarray(target)

    return fixed_target


def target_bars(target):
    """The per-bar twin of `target_function`."""

    class FixedTargetBars(Strategy):
        def next(self):
            if target[self.i] and not self.position:
                self.buy()
            elif not target[self.i] and self.position:
                self.close()

    return FixedTargetBars


class Recorder:
    """A RunObserver that records every call in order (log lines as their message)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.sources: list[tuple[int, str]] = []

    def on_start(self, info):
        self.calls.append(("start", info))

    def on_progress(self, **kw):
        self.calls.append(("progress", kw))

    def on_log(self, level, source, message):
        self.calls.append(("log", message))
        self.sources.append((level, source))

    def on_complete(self, metrics):
        self.calls.append(("complete", metrics))

    def progress(self) -> list[dict]:
        return [c[1] for c in self.calls if c[0] == "progress"]


@pytest.fixture
def make_frame():
    return frame


@pytest.fixture
def recorder():
    return Recorder()


@pytest.fixture(params=["vector", "bars"])
def form(request):
    """Run each convention test with both strategy forms."""
    return target_function if request.param == "vector" else target_bars

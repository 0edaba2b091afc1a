"""Helpers of the notebook API tests."""

from __future__ import annotations

from pathlib import Path
from traceback import extract_tb
from types import TracebackType

import pytest

import qm_jupyter
from qm_jupyter.engine import DataError, ParamError
from qm_jupyter.events import Event

SAMPLE = {"sample": "gbm", "bars": 5_000, "seed": 3}


def make_events(backtest_id: str, *specs: tuple[str, dict]) -> list[Event]:
    """Numbered events of one run, one a second from 2026-01-01T00:00:00Z."""
    return [
        Event(backtest_id, seq, event_type, f"2026-01-01T00:00:{seq:02d}.000Z", data)
        for seq, (event_type, data) in enumerate(specs, start=1)
    ]


#: Mistakes a user makes in ``qm.run_backtest(data, strategy, params, **settings)``, each with
#: the engine's exception class and the ``.param`` it names (None for a DataError): the same
#: with or without a server.
MISTAKES = [
    pytest.param(SAMPLE, "sma_crossover", {"fast": -1}, {}, ParamError, "fast", id="param"),
    pytest.param(SAMPLE, "sma_crossover", {"speed": 3}, {}, ParamError, "speed", id="unknown"),
    pytest.param(SAMPLE, "no_such_strategy", None, {}, ParamError, "strategy", id="strategy"),
    pytest.param(SAMPLE, "sma_crossover", None, {"commission": 2}, ParamError, "commission",
                 id="setting"),
    pytest.param(SAMPLE, "sma_crossover", None, {"spread": 0.5}, ParamError, "spread",
                 id="broker-setting"),
    pytest.param({"sample": "gbm", "bars": 0}, "sma_crossover", None, {}, DataError, None,
                 id="sample"),
    pytest.param("no_such_file.csv", "buy_and_hold", None, {}, DataError, None, id="path"),
]  # fmt: skip


def library_frames(traceback: TracebackType | None) -> list[str]:
    """The functions of qm_jupyter in a traceback, outermost first: what a user scrolls past."""
    package = Path(qm_jupyter.__file__).parent
    return [
        frame.name
        for frame in extract_tb(traceback)
        if Path(frame.filename).is_relative_to(package)
    ]

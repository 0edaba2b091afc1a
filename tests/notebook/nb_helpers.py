"""Helpers of the notebook API tests."""

from __future__ import annotations

from qm_jupyter.events import Event

SAMPLE = {"sample": "gbm", "bars": 5_000, "seed": 3}


def make_events(backtest_id: str, *specs: tuple[str, dict]) -> list[Event]:
    """Numbered events of one run, one a second from 2026-01-01T00:00:00Z."""
    return [
        Event(backtest_id, seq, event_type, f"2026-01-01T00:00:{seq:02d}.000Z", data)
        for seq, (event_type, data) in enumerate(specs, start=1)
    ]

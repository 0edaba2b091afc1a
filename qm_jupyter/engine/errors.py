"""Exceptions the engine raises, so a caller (the server's worker) can tell them apart.

`DataError` and `ParamError` are `ValueError`s: the request was bad, not the server. A strategy's
own exception is never wrapped; it propagates unchanged.
"""

from __future__ import annotations


class DataError(ValueError):
    """The price data (or the wire `data` spec) is unusable; the message says what and where."""


class ParamError(ValueError):
    """A run or strategy parameter is unknown, of the wrong type or out of bounds.

    `.param` names the parameter, so an HTTP 400 can point at it.
    """

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


class BacktestCancelled(Exception):
    """`should_stop()` returned True at a progress point; `.bars_processed` bars had been run."""

    def __init__(self, bars_processed: int) -> None:
        super().__init__(f"backtest cancelled after {bars_processed} bars")
        self.bars_processed = bars_processed

"""Built-in strategies, written with the public APIs so they double as examples.

`sma_crossover` exists in both forms (`SmaCrossover` vectorized, `SmaCrossoverBars` per-bar) and
they must agree trade for trade; the tests hold them to it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from .errors import ParamError
from .indicators import crossed_above, crossed_below, rsi, sma
from .params import Param
from .strategy import Strategy, VectorStrategy


class _SmaParams:
    fast = Param(10, min=2, max=10_000, doc="fast SMA window (bars)")
    slow = Param(20, min=3, max=100_000, doc="slow SMA window (bars)")

    def check_params(self) -> None:
        if self.fast >= self.slow:
            raise ParamError("fast", f"fast ({self.fast}) must be less than slow ({self.slow})")

    def warmup_bars(self) -> int:
        return self.slow


class SmaCrossover(_SmaParams, VectorStrategy):
    """Long when the fast SMA of closes crosses above the slow one; flat when it crosses below."""

    name = "sma_crossover"

    def signals(self, data: pd.DataFrame) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
        close = data["close"].to_numpy()
        fast, slow = sma(close, self.fast), sma(close, self.slow)
        return crossed_above(fast, slow), crossed_below(fast, slow)


class SmaCrossoverBars(_SmaParams, Strategy):
    """Per-bar twin of sma_crossover: same signals, decided one bar at a time."""

    name = "sma_crossover_bars"

    def init(self) -> None:
        close = self.data["close"].to_numpy()
        self.f = sma(close, self.fast).tolist()
        self.s = sma(close, self.slow).tolist()

    def next(self) -> None:
        i = self.i
        if not i:
            return
        f, s, pf, ps = self.f[i], self.s[i], self.f[i - 1], self.s[i - 1]
        if f > s and pf <= ps:
            if not self.position:
                self.buy()
        elif f < s and pf >= ps and self.position:
            self.close()


class BuyAndHold(VectorStrategy):
    """Long from the second bar's open to the last close: the benchmark every strategy must beat."""

    name = "buy_and_hold"

    def signals(self, data: pd.DataFrame) -> NDArray[np.int8]:
        return np.ones(len(data), dtype=np.int8)


class RsiReversion(VectorStrategy):
    """Mean reversion: buy when RSI crosses below `lower`, sell when it crosses above `upper`."""

    name = "rsi_reversion"
    period = Param(14, min=2, max=10_000, doc="RSI period (bars)")
    lower = Param(30.0, min=0.0, max=100.0, doc="enter when RSI crosses below this")
    upper = Param(70.0, min=0.0, max=100.0, doc="exit when RSI crosses above this")

    def check_params(self) -> None:
        if self.lower >= self.upper:
            raise ParamError(
                "lower", f"lower ({self.lower}) must be less than upper ({self.upper})"
            )

    def warmup_bars(self) -> int:
        return self.period + 1

    def signals(self, data: pd.DataFrame) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
        r = rsi(data["close"].to_numpy(), self.period)
        return crossed_below(r, self.lower), crossed_above(r, self.upper)


BUILTIN_STRATEGIES: tuple[type, ...] = (SmaCrossover, SmaCrossoverBars, BuyAndHold, RsiReversion)

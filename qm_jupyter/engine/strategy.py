"""The two user-facing strategy forms.

**Vectorized** (like vectorbt signals): subclass `VectorStrategy` and return, for the whole series,
either ``(entries, exits)`` boolean arrays or one target-position array of 0/1 (1 = be long after
this bar's close). A plain function ``f(data, **params)`` returning the same is accepted too; its
keyword defaults become its params::

    class SmaCross(VectorStrategy):
        fast = Param(10, min=2)
        slow = Param(20, min=3)

        def signals(self, data):
            f = data.close.rolling(self.fast).mean()
            s = data.close.rolling(self.slow).mean()
            return (f > s) & (f.shift() <= s.shift()), (f < s) & (f.shift() >= s.shift())

    def momentum(data, lookback=20):
        return (data.close > data.close.shift(lookback)).to_numpy()

**Per-bar** (like backtesting.py `init`/`next`): subclass `Strategy`; `init()` runs once over the
whole data (precompute indicators with numpy there), `next()` runs after each bar's close and may
`buy()`, `close()`/`sell()` and `log()`. Orders fill at the next bar's open::

    class SmaCrossBars(Strategy):
        fast = Param(10, min=2)
        slow = Param(20, min=3)

        def init(self):
            close = self.data.close
            self.f = close.rolling(self.fast).mean().tolist()
            self.s = close.rolling(self.slow).mean().tolist()

        def next(self):
            i = self.i
            if i and self.f[i] > self.s[i] and self.f[i - 1] <= self.s[i - 1]:
                self.buy()
            elif i and self.position and self.f[i] < self.s[i] and self.f[i - 1] >= self.s[i - 1]:
                self.close()

`self.data` is the whole DataFrame in both forms: a per-bar strategy must only read up to `self.i`.
Params are declared with `Param` class attributes; the resolved values are instance attributes.
Override `check_params()` for constraints across params (raise `ParamError`).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

import pandas as pd

from .params import Param

_CLOSE = -1.0  # pending-order sentinel: close the position at the next open


class _StrategyBase:
    """What both forms share: name, description, declared params and their resolved values."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    params: ClassVar[dict[str, Param]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared: dict[str, Param] = {}
        for klass in reversed(cls.__mro__):
            declared.update({k: v for k, v in vars(klass).items() if isinstance(v, Param)})
        cls.params = declared
        if not cls.__dict__.get("name"):
            cls.name = cls.__name__
        if not cls.__dict__.get("description"):
            cls.description = (inspect.getdoc(cls) or "").split("\n\n")[0].replace("\n", " ")

    def __init__(self, **params: Any) -> None:
        """Params must already be resolved (see `validate_params`)."""
        for key, value in params.items():
            setattr(self, key, value)

    def check_params(self) -> None:
        """Raise `ParamError` when params are individually valid but inconsistent."""

    def warmup_bars(self) -> int:
        """Bars the strategy needs before it can give its first signal (0: none); a run on
        no more bars than this warns that it cannot trade."""
        return 0


class VectorStrategy(_StrategyBase):
    """Vectorized form: `signals(data)` computes the whole run at once (see module docstring)."""

    def signals(self, data: pd.DataFrame) -> Any:
        """Return ``(entries, exits)`` boolean arrays or one 0/1 target-position array."""
        raise NotImplementedError


class Bar(NamedTuple):
    """The current bar's values, for per-bar strategies."""

    time: pd.Timestamp
    open: float
    high: float
    low: float
    close: float
    volume: float


class Strategy(_StrategyBase):
    """Per-bar form: override `init()` and `next()` (see module docstring).

    The engine sets `data`, `i` (current bar index) and the broker state before `init()`.
    """

    data: pd.DataFrame
    i: int = 0
    _cash: float = 0.0
    _units: float = 0.0
    _order: float | None = None
    _cols: dict[str, list[float]]
    _log: Callable[..., None]  # the run's log (set by the engine)

    def init(self) -> None:
        """Precompute indicators over `self.data` (whole series, numpy/pandas)."""

    def next(self) -> None:
        """Decide on bar `self.i` after its close; orders fill at the next open."""
        raise NotImplementedError

    @property
    def position(self) -> float:
        """Units held (0.0 when flat), so ``if self.position:`` reads as 'if long'."""
        return self._units

    @property
    def cash(self) -> float:
        return self._cash

    @property
    def price(self) -> float:
        """The current bar's close."""
        return self._column("close")[self.i]

    @property
    def equity(self) -> float:
        """Cash plus the position marked at the current close."""
        return self._cash + self._units * self._column("close")[self.i]

    @property
    def bar(self) -> Bar:
        i, col = self.i, self._column
        return Bar(
            self.data.index[i],
            col("open")[i],
            col("high")[i],
            col("low")[i],
            col("close")[i],
            col("volume")[i],
        )

    def _column(self, name: str) -> list[float]:
        """A price column as a list of Python floats, built on first use (fast to index)."""
        values = self._cols.get(name)
        if values is None:
            values = self._cols[name] = self.data[name].tolist()
        return values

    def buy(self, size: float | None = None) -> None:
        """Go long at the next open with all cash, or with fraction `size` (0 < size <= 1) of it.

        Ignored at the fill if already long (one position at a time). The last order call on a
        bar wins.
        """
        if size is None:
            size = 1.0
        if not 0.0 < size <= 1.0:
            raise ValueError(f"buy(size=...) must be in (0, 1], got {size!r}")
        self._order = float(size)

    def close(self) -> None:
        """Close the whole position at the next open (a no-op at the fill if flat)."""
        self._order = _CLOSE

    sell = close  # long-only: selling means closing

    def log(self, msg: str, *args: Any, level: int = logging.INFO) -> None:
        """Log a line of the run (source 'strategy'), streamed as a `log_entry`."""
        self._log(level, "strategy", msg, *args)


def function_strategy(func: Callable[..., Any], name: str | None = None) -> type[VectorStrategy]:
    """Wrap ``func(data, **params)`` as a `VectorStrategy`; keyword defaults become params."""
    declared: dict[str, Any] = {}
    for p in list(inspect.signature(func).parameters.values())[1:]:
        if p.default is inspect.Parameter.empty:
            raise TypeError(f"strategy function {func.__name__}: param '{p.name}' needs a default")
        declared[p.name] = Param(p.default)

    def signals(self: VectorStrategy, data: pd.DataFrame) -> Any:
        return func(data, **{k: getattr(self, k) for k in declared})

    attrs = {
        **declared,
        "signals": signals,
        "name": name or func.__name__,
        "__doc__": func.__doc__,
        "__module__": func.__module__,
    }
    return type(func.__name__, (VectorStrategy,), attrs)

"""The two user-facing strategy forms.

**Vectorized** (like vectorbt signals): subclass `VectorStrategy` and return, for the whole series,
``(entries, exits)`` boolean arrays (long only), ``(long_entries, long_exits, short_entries,
short_exits)``, or one target-position array of 0/1 or -1/0/1 (1 = be long after this bar's
close). The run settings ``sl_stop``, ``tp_stop`` and ``tsl_stop`` add stops (fractions of the
entry price); `qm_jupyter.engine.vector` has the rules. A plain function ``f(data, **params)``
returning the same is accepted too; its keyword defaults become its params::

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
whole data (precompute indicators there, registered with `self.I`), `next()` runs after each bar's
close and may `buy()`, `sell()`, `close()` and `log()`; market orders fill at the next bar's open,
limit/stop orders and SL/TP brackets as `qm_jupyter.engine.broker` says::

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
import math
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

import numpy as np
import pandas as pd

from .broker import FULL, Broker, Order, Position, Trade
from .params import Param


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
        """Return ``(entries, exits)``, ``(long_entries, long_exits, short_entries, short_exits)``
        (boolean arrays, one value per bar) or one target-position array of 0/1 or -1/0/1."""
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

    The engine sets `data`, `i` (current bar index) and the broker before `init()`. Orders,
    trades and their fill rules are those of `qm_jupyter.engine.broker`::

        class Breakout(Strategy):
            def init(self):
                self.high = self.I(lambda h: pd.Series(h).rolling(20).max().shift(), self.data.high)

            def next(self):
                if not self.position and self.price > self.high[self.i]:
                    self.buy(sl=self.price * 0.95, tp=self.price * 1.1, tag="breakout")
                elif self.position.is_long and self.position.pl_pct < -2:
                    self.position.close()
    """

    data: pd.DataFrame
    i: int = 0
    _broker: Broker
    _cols: dict[str, list[float]]
    _indicators: list[np.ndarray]
    _log: Callable[..., None]  # the run's log (set by the engine)

    def init(self) -> None:
        """Precompute indicators over `self.data` (whole series; `self.I` registers them)."""

    def next(self) -> None:
        """Decide on bar `self.i` after its close; orders fill from the next bar on."""
        raise NotImplementedError

    def I(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> np.ndarray:  # noqa: E743 (backtesting.py's name)
        """``func(*args, **kwargs)`` over the whole data as a float array (one value per bar, or
        one row per line), registered so that `next()` starts once it is defined (warm-up).

        Example::

            self.sma = self.I(sma, self.data.close.to_numpy(), 20)   # in init()
        """
        value = np.asarray(func(*args, **kwargs), dtype=np.float64)
        n = len(self.data)
        if value.ndim == 2 and value.shape[0] == n and value.shape[1] != n:
            value = value.T
        if value.ndim not in (1, 2) or value.shape[-1] != n:
            raise ValueError(
                f"indicator {getattr(func, '__name__', func)!r} must give one value per bar "
                f"({n}), got shape {value.shape}"
            )
        self._indicators.append(value)
        return value

    def _warmup(self) -> int:
        """The first bar where every registered indicator is defined (0 without any)."""
        return max((int(np.isnan(v).argmin(axis=-1).max()) for v in self._indicators), default=0)

    @property
    def position(self) -> Position:
        """The net position: truthy when open; `.size` (< 0 short), `.pl`, `.close()`..."""
        return self._position

    @property
    def trades(self) -> tuple[Trade, ...]:
        """Open trades, oldest first."""
        return tuple(self._broker.trades)

    @property
    def closed_trades(self) -> tuple[Trade, ...]:
        """Closed trades (a partial close is one of its own), in closing order."""
        return tuple(self._broker.closed_trades)

    @property
    def orders(self) -> tuple[Order, ...]:
        """Pending orders, in the order the broker processes them."""
        return tuple(self._broker.orders)

    @property
    def cash(self) -> float:
        return self._broker.cash

    @property
    def price(self) -> float:
        """The current bar's close."""
        return self._broker.closes[self.i]

    @property
    def equity(self) -> float:
        """Cash plus the open trades marked at the current close."""
        broker = self._broker
        return broker.equity(broker.closes[self.i])

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

    def buy(
        self,
        size: float | None = None,
        *,
        limit: float | None = None,
        stop: float | None = None,
        sl: float | None = None,
        tp: float | None = None,
        tag: object = None,
    ) -> Order:
        """Place a long order and return it.

        `size`: None for all the available equity, a fraction of it in (0, 1), or units (>= 1;
        whole under ``units="whole"``). Without `limit`/`stop` it fills at the next open; `limit`
        fills at that price or better, `stop` once the price reaches it, both: a stop-limit.
        `sl`/`tp` bracket the trade it opens; `tag` follows it to `result.trades`.

        Example::

            self.buy()                                   # all in at the next open
            self.buy(0.5, limit=self.price * 0.99, sl=self.price * 0.95)
        """
        return self._order(1.0, "buy", size, limit, stop, sl, tp, tag)

    def sell(
        self,
        size: float | None = None,
        *,
        limit: float | None = None,
        stop: float | None = None,
        sl: float | None = None,
        tp: float | None = None,
        tag: object = None,
    ) -> Order:
        """Place a short order and return it (see `buy`). Against a long position it first
        closes (FIFO) what it covers; sized as a fraction, it sizes from the free margin under
        ``opposite_sizing="free_margin"`` (backtesting.py: on a full long, about nothing) and
        from the equity under ``"equity"`` (qm: a plain ``sell()`` reverses to a full short).

        Example::

            self.sell(sl=self.price * 1.05)              # short with a stop-loss
        """
        return self._order(-1.0, "sell", size, limit, stop, sl, tp, tag)

    def _order(
        self,
        side: float,
        verb: str,
        size: float | None,
        limit: float | None,
        stop: float | None,
        sl: float | None,
        tp: float | None,
        tag: object,
    ) -> Order:
        broker = self._broker
        if size is None:
            size = FULL
        elif not (
            isinstance(size, int | float)
            and not isinstance(size, bool)
            and math.isfinite(size)
            and (0 < size < 1 or (size >= 1 and (not broker._whole or size == round(size))))
        ):
            units = "a whole number of units" if broker._whole else "units"
            raise ValueError(
                f"{verb}(size={size!r}) on bar {self.i}: size must be a fraction of the "
                f"available equity in (0, 1) or {units} >= 1"
            )
        return broker.new_order(side * size, limit, stop, sl, tp, tag)

    def close(self) -> None:
        """Close the whole position at the next market price (shorthand for
        ``self.position.close()``)."""
        self._position.close()

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

"""The order model of per-bar strategies: settings, orders, trades, the position and the broker.

A strategy's `buy()`/`sell()` place an `Order`; the broker fills the orders placed on bar i-1
against bar i's OHLC before `next()` runs on bar i (the rules of backtesting.py 0.6.6):

- market: bar i's open (the previous close, booked on bar i-1, with ``trade_on_close``);
- stop (``stop=``): triggers when the bar reaches it, fills at the stop or the open beyond it;
- limit (``limit=``): fills at the limit or the better open; stop-limit: the stop triggers, then
  the limit fills at min/max(stop, limit), never in the bar where the limit is beyond the stop;
- ``sl``/``tp``: a bracket on the resulting trade; SL before TP when one bar reaches both; after
  a market entry both are tested on the entry bar itself; after a stop/limit entry, on the next
  bar (WARNING), except a stop entry whose TP the bar reached and whose SL it did not;
- without ``hedging`` an opposite order first closes or reduces open trades (FIFO), the rest
  opens a new trade; ``exclusive_orders`` closes everything and cancels pending entries first;
- orders are good till cancelled; an order too big for the available margin is cancelled with a
  WARNING; equity <= 0 at a close liquidates every trade and ends the run.

Two convention sets (`CONVENTIONS`) pick what differs; each difference is one setting (see
`SETTING_CHOICES`): ``"backtesting.py"`` reproduces backtesting.py 0.6.6 with its quirks, ``"qm"``
(the default) fixes them.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import copysign
from typing import Any

from .errors import ParamError

Commission = float | Sequence[float] | Callable[[float, float], float]

#: Each setting that differs between the convention sets, with its values (first: qm's).
SETTING_CHOICES: dict[str, tuple[Any, ...]] = {
    "units": ("fractional", "whole"),
    "sizing_price": ("fill", "close"),
    "fixed_fee_sizing": ("once", "per_unit"),
    "trade_commission": ("paid", "recomputed"),
    "opposite_sizing": ("equity", "free_margin"),
    "finalize_trades": (True, False),
    "finalize_price": ("close", "open"),
    "return_basis": ("cost", "notional"),
    "spread_charge": ("split", "entry"),
    "warmup_offset": (0, 1),
}
CONVENTIONS: dict[str, dict[str, Any]] = {
    "qm": {name: values[0] for name, values in SETTING_CHOICES.items()},
    "backtesting.py": {name: values[1] for name, values in SETTING_CHOICES.items()},
}
#: The broker settings a run takes besides initial_balance and commission.
BROKER_SETTINGS = (
    "spread",
    "margin",
    "trade_on_close",
    "hedging",
    "exclusive_orders",
    "conventions",
    *SETTING_CHOICES,
)
#: backtesting.py's "all of the available equity": a fraction just below 1, so never 1 unit.
FULL = 1.0 - sys.float_info.epsilon
_BOOLS = ("trade_on_close", "hedging", "exclusive_orders")


@dataclass(frozen=True)
class Settings:
    """A run's broker settings, resolved from a convention set and the user's overrides."""

    initial_balance: float = 10_000.0
    commission: Commission = 0.0
    spread: float = 0.0
    margin: float = 1.0
    trade_on_close: bool = False
    hedging: bool = False
    exclusive_orders: bool = False
    conventions: str = "qm"
    units: str = "fractional"
    sizing_price: str = "fill"
    fixed_fee_sizing: str = "once"
    trade_commission: str = "paid"
    opposite_sizing: str = "equity"
    finalize_trades: bool = True
    finalize_price: str = "close"
    return_basis: str = "cost"
    spread_charge: str = "split"
    warmup_offset: int = 0

    @property
    def fee_parts(self) -> tuple[float, float] | None:
        """(fixed, rate) of a non-callable commission, else None."""
        c = self.commission
        if callable(c):
            return None
        if isinstance(c, int | float):
            return 0.0, float(c)
        return float(c[0]), float(c[1])

    def describe(self) -> dict[str, Any]:
        """JSON-able settings for `on_start` (a callable commission shows as its name)."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        c = self.commission
        out["commission"] = (
            getattr(c, "__name__", "callable")
            if callable(c)
            else (c if isinstance(c, int | float) else list(c))
        )
        return out


def _number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def check_commission(commission: Any) -> None:
    """A rate in (-10%, 10%), ``[fixed, rate]`` with fixed >= 0, or a callable (size, price)."""
    if callable(commission):
        return
    if _number(commission):
        fixed, rate = 0.0, commission
    elif (
        isinstance(commission, list | tuple)
        and len(commission) == 2
        and all(_number(x) for x in commission)
    ):
        fixed, rate = commission
    else:
        raise ParamError(
            "commission",
            f"commission must be a rate, [fixed, rate] or a function (size, price) -> cash, "
            f"got {commission!r}",
        )
    if not -0.1 < rate < 0.1:
        raise ParamError(
            "commission",
            f"commission rate must be in (-10%, 10%) (negative: a rebate), got {rate!r}",
        )
    if fixed < 0:
        raise ParamError("commission", f"commission's fixed fee must be >= 0, got {fixed!r}")


def resolve_settings(conventions: str = "qm", **given: Any) -> Settings:
    """The run's `Settings`: `conventions`' values overlaid with the settings given (None: the
    convention's); raises `ParamError` naming the first bad one.

    >>> resolve_settings("backtesting.py", units="fractional").finalize_price
    'open'
    """
    if not isinstance(conventions, str) or conventions not in CONVENTIONS:
        raise ParamError(
            "conventions",
            f"conventions must be one of {', '.join(map(repr, CONVENTIONS))}, got {conventions!r}",
        )
    values = dict(CONVENTIONS[conventions])
    for name, value in given.items():
        if value is None:
            continue
        if name in SETTING_CHOICES:
            choices = SETTING_CHOICES[name]
            if value not in choices or type(value) is not type(choices[0]):
                raise ParamError(
                    name, f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}"
                )
        elif name in _BOOLS:
            if not isinstance(value, bool):
                raise ParamError(name, f"{name} must be true or false, got {value!r}")
        elif name == "initial_balance":
            if not (_number(value) and value > 0):
                raise ParamError(name, f"initial_balance must be a positive number, got {value!r}")
            value = float(value)
        elif name == "commission":
            check_commission(value)
        elif name == "spread":
            if not (_number(value) and 0 <= value < 0.1):
                raise ParamError(name, f"spread must be a rate in [0, 10%), got {value!r}")
        elif name == "margin":
            if not (_number(value) and 0 < value <= 1):
                raise ParamError(name, f"margin must be in (0, 1] (1/leverage), got {value!r}")
        else:
            raise ParamError(name, f"unknown setting {name!r}")
        values[name] = value
    return Settings(conventions=conventions, **values)


class Order:
    """An order placed by `Strategy.buy()`/`sell()` (or a trade's SL/TP/close), pending until it
    fills or is cancelled. `size` > 0 buys, < 0 sells: a fraction of the available equity when
    in (-1, 1), else units.

    Example::

        order = self.buy(limit=95.0, sl=90.0)  # inside Strategy.next()
        order.cancel()                          # if it has not filled yet
    """

    __slots__ = (
        "_broker",
        "_limit",
        "_role",
        "_size",
        "_stop",
        "parent_trade",
        "sl",
        "tag",
        "tp",
    )

    def __init__(
        self,
        broker: Broker,
        size: float,
        limit: float | None = None,
        stop: float | None = None,
        sl: float | None = None,
        tp: float | None = None,
        tag: object = None,
        parent_trade: Trade | None = None,
        role: str = "entry",
    ) -> None:
        self._broker = broker
        self._size, self._limit, self._stop, self.sl, self.tp = size, limit, stop, sl, tp
        self.tag, self.parent_trade, self._role = tag, parent_trade, role

    # size, limit and stop decide when the order fills: changing one resets the broker's
    # trigger bounds (see `Broker._bounds`)
    @property
    def size(self) -> float:
        return self._size

    @size.setter
    def size(self, value: float) -> None:
        self._size = value
        self._broker._bounds = None

    @property
    def limit(self) -> float | None:
        return self._limit

    @limit.setter
    def limit(self, value: float | None) -> None:
        self._limit = value
        self._broker._bounds = None

    @property
    def stop(self) -> float | None:
        return self._stop

    @stop.setter
    def stop(self, value: float | None) -> None:
        self._stop = value
        self._broker._bounds = None

    @property
    def is_long(self) -> bool:
        return self.size > 0

    @property
    def is_short(self) -> bool:
        return self.size < 0

    @property
    def is_contingent(self) -> bool:
        """True for the SL and TP orders of an open trade (set through `Trade.sl`/`Trade.tp`)."""
        return self._role in ("sl", "tp")

    def cancel(self) -> None:
        """Cancel the order (a no-op once it filled or was cancelled)."""
        broker = self._broker
        if self in broker.orders:
            broker.orders.remove(self)
            broker._bounds = None
        trade = self.parent_trade
        if trade is not None:
            if trade._sl_order is self:
                trade._sl_order = None
            elif trade._tp_order is self:
                trade._tp_order = None

    def __repr__(self) -> str:
        fields = ("size", "limit", "stop", "sl", "tp", "tag")
        shown = ", ".join(
            f"{k}={getattr(self, k)!r}" for k in fields if getattr(self, k) is not None
        )
        return f"<Order {shown}{', contingent' if self.is_contingent else ''}>"


class Trade:
    """An open (or, in `closed_trades`, closed) trade: `size` units (negative when short)
    entered at `entry_price` (spread included) on bar `entry_bar`.

    Example::

        for trade in self.trades:        # inside Strategy.next()
            trade.sl = max(trade.sl or 0, self.price * 0.95)   # trail the stop
    """

    __slots__ = (
        "_broker",
        "_fee",
        "_sl_order",
        "_tp_order",
        "commission",
        "entry_bar",
        "entry_price",
        "exit_bar",
        "exit_price",
        "exit_reason",
        "size",
        "tag",
    )

    def __init__(
        self, broker: Broker, size: float, entry_price: float, entry_bar: int, tag: object
    ) -> None:
        self._broker = broker
        self.size, self.entry_price, self.entry_bar, self.tag = size, entry_price, entry_bar, tag
        self.exit_price: float | None = None
        self.exit_bar: int | None = None
        self.exit_reason: str | None = None
        self.commission = 0.0  # set at the close: entry and exit fees of this row
        self._fee = 0.0  # the entry fee paid and not yet attributed to a closed piece
        self._sl_order: Order | None = None
        self._tp_order: Order | None = None

    @property
    def is_long(self) -> bool:
        return self.size > 0

    @property
    def is_short(self) -> bool:
        return self.size < 0

    @property
    def entry_time(self) -> Any:
        return self._broker.index[self.entry_bar]

    @property
    def exit_time(self) -> Any:
        return None if self.exit_bar is None else self._broker.index[self.exit_bar]

    @property
    def pl(self) -> float:
        """Profit or loss in cash: at the exit once closed (net of fees), else at the current
        close (fees not yet counted)."""
        price = self._broker.last_price if self.exit_price is None else self.exit_price
        return self.size * (price - self.entry_price) - self.commission

    @property
    def pl_pct(self) -> float:
        """Profit or loss as a fraction of the entry value (as backtesting.py: not percent)."""
        price = self._broker.last_price if self.exit_price is None else self.exit_price
        gross = copysign(1.0, self.size) * (price / self.entry_price - 1.0)
        return gross - self.commission / (abs(self.size) * self.entry_price)

    @property
    def value(self) -> float:
        price = self._broker.last_price if self.exit_price is None else self.exit_price
        return abs(self.size) * price

    @property
    def sl(self) -> float | None:
        """Stop-loss price; assign a price to place or move it, None to cancel it."""
        return None if self._sl_order is None else self._sl_order.stop

    @sl.setter
    def sl(self, price: float | None) -> None:
        self._set_contingent("sl", price)

    @property
    def tp(self) -> float | None:
        """Take-profit price; assign a price to place or move it, None to cancel it."""
        return None if self._tp_order is None else self._tp_order.limit

    @tp.setter
    def tp(self, price: float | None) -> None:
        self._set_contingent("tp", price)

    def _set_contingent(self, role: str, price: float | None) -> None:
        if price is not None and not (_number(price) and price > 0):
            raise ValueError(f"trade {role} must be a positive price or None, got {price!r}")
        old = self._sl_order if role == "sl" else self._tp_order
        if old is not None:
            old.cancel()
        order = None
        if price:
            price = float(price)
            order = Order(
                self._broker,
                -self.size,
                stop=price if role == "sl" else None,
                limit=price if role == "tp" else None,
                tag=self.tag,
                parent_trade=self,
                role=role,
            )
            orders = self._broker.orders
            self._broker._bounds = None
            if role == "sl":  # SL orders go first: the SL wins when one bar hits both
                orders.insert(0, order)
            else:
                orders.append(order)
        if role == "sl":
            self._sl_order = order
        else:
            self._tp_order = order

    def close(self, portion: float = 1.0) -> None:
        """Close `portion` (0 < portion <= 1) of the trade at the next market price."""
        self._broker.close_trade(self, portion, "close")

    def __repr__(self) -> str:
        return (
            f"<Trade size={self.size:g} entry={self.entry_price:g}@{self.entry_bar}"
            f"{'' if self.exit_bar is None else f' exit={self.exit_price:g}@{self.exit_bar}'}>"
        )


class Position:
    """The net position of the open trades: truthy when not flat.

    Example::

        if self.position.is_long and self.position.pl_pct > 5:   # inside Strategy.next()
            self.position.close(0.5)
    """

    __slots__ = ("_broker",)

    def __init__(self, broker: Broker) -> None:
        self._broker = broker

    def __bool__(self) -> bool:
        return self._broker.position_size() != 0

    @property
    def size(self) -> float:
        """Units held, negative when short."""
        return self._broker.position_size()

    @property
    def pl(self) -> float:
        """Unrealized profit or loss in cash, at the current close."""
        b = self._broker
        return b.last_price * b.position_size() - b._sums()[1]

    @property
    def pl_pct(self) -> float:
        """Unrealized profit or loss in percent of the entry value (as backtesting.py)."""
        invested = sum(abs(t.size) * t.entry_price for t in self._broker.trades)
        return self.pl / invested * 100 if invested else 0.0

    @property
    def is_long(self) -> bool:
        return self._broker.position_size() > 0

    @property
    def is_short(self) -> bool:
        return self._broker.position_size() < 0

    def close(self, portion: float = 1.0) -> None:
        """Close `portion` of every open trade at the next market price."""
        for trade in list(self._broker.trades):
            trade.close(portion)

    def __repr__(self) -> str:
        return f"<Position: {self.size:g} ({len(self._broker.trades)} trades)>"


class _OutOfMoney(Exception):
    """Equity reached 0: every trade was closed and the run ends."""


class Broker:
    """Cash, open trades and pending orders of one run; fills orders bar by bar."""

    def __init__(
        self,
        settings: Settings,
        prices: tuple[list[float], list[float], list[float], list[float]],
        index: Any,
        on_close: Callable[[Trade], None],
        log: Callable[..., None],
    ) -> None:
        s = self.settings = settings
        self.opens, self.highs, self.lows, self.closes = prices
        self.index = index
        self.cash = s.initial_balance
        self.orders: list[Order] = []
        self.trades: list[Trade] = []
        self.closed_trades: list[Trade] = []
        self.i = 0
        self._on_close, self._log = on_close, log
        self._lev = 1.0 / s.margin
        parts = s.fee_parts
        if parts is None:
            self.fee: Callable[[float, float], float] = s.commission  # type: ignore[assignment]
        else:
            fixed, rate = parts
            self.fee = lambda size, price: fixed + abs(size) * price * rate
        self._parts = parts
        half = s.spread / 2 if s.spread_charge == "split" else 0.0
        self._entry_spread = half if s.spread_charge == "split" else s.spread
        self._exit_spread = half
        self._whole = s.units == "whole"
        self._per_unit_fee = s.fixed_fee_sizing == "per_unit"
        self._close_mark = s.sizing_price == "close"
        self._cached: tuple[float, float] | None = None
        #: `_trigger_bounds()` of the pending orders, None once an order is added, removed or
        #: changes its size, stop or limit: most bars trigger nothing and skip `_process`.
        self._bounds: tuple[float, float] | None = None

    # --- account -------------------------------------------------------------------------

    @property
    def last_price(self) -> float:
        return self.closes[self.i]

    def _sums(self) -> tuple[float, float]:
        """(net units, sum of size * entry price) of the open trades, kept until they change."""
        if self._cached is None:
            trades = self.trades
            size = sum(int(t.size) for t in trades) if self._whole else sum(t.size for t in trades)
            self._cached = size, sum(t.size * t.entry_price for t in trades)
        return self._cached

    def position_size(self) -> float:
        return self._sums()[0]

    def equity(self, price: float) -> float:
        """Cash plus the open trades marked at `price`."""
        if not self.trades:
            return self.cash
        size, basis = self._sums()
        return self.cash + (price * size - basis)

    def margin_available(self, price: float) -> float:
        lev = self._lev
        used = sum(abs(t.size) * price / lev for t in self.trades)
        return max(0.0, self.equity(price) - used)

    # --- orders from the strategy ----------------------------------------------------------

    def new_order(
        self,
        size: float,
        limit: float | None,
        stop: float | None,
        sl: float | None,
        tp: float | None,
        tag: object,
    ) -> Order:
        """Queue an entry order (checked: bad input raises ValueError naming the order)."""
        what = f"{'buy' if size > 0 else 'sell'}(size={abs(size)!r}, limit={limit!r}, " + (
            f"stop={stop!r}, sl={sl!r}, tp={tp!r}) on bar {self.i}"
        )
        for name, value in (("limit", limit), ("stop", stop), ("sl", sl), ("tp", tp)):
            if value is not None and not (_number(value) and value > 0):
                raise ValueError(f"{what}: {name} must be a positive price, got {value!r}")
        price = limit or stop or self.last_price * (1 + copysign(self._entry_spread, size))
        if size > 0:
            if not (sl or -math.inf) < price < (tp or math.inf):
                raise ValueError(f"{what}: a long order needs SL < {price:g} < TP")
        elif not (tp or -math.inf) < price < (sl or math.inf):
            raise ValueError(f"{what}: a short order needs TP < {price:g} < SL")
        order = Order(
            self,
            size,
            None if limit is None else float(limit),
            None if stop is None else float(stop),
            None if sl is None else float(sl),
            None if tp is None else float(tp),
            tag,
        )
        if self.settings.exclusive_orders:
            for o in list(self.orders):
                if not o.is_contingent:
                    o.cancel()
            for t in list(self.trades):
                t.close()
        self.orders.append(order)
        self._bounds = None
        return order

    def close_trade(self, trade: Trade, portion: float, reason: str) -> None:
        """Queue (first in line) a market order closing `portion` of `trade`."""
        if not (_number(portion) and 0 < portion <= 1):
            raise ValueError(f"close(portion=...) must be in (0, 1], got {portion!r}")
        units = abs(trade.size) * portion
        if self._whole:
            units = max(1, round(units))
        order = Order(self, copysign(units, -trade.size), tag=trade.tag, parent_trade=trade)
        order._role = reason
        self.orders.insert(0, order)
        self._bounds = None

    # --- fills ---------------------------------------------------------------------------

    def next(self, i: int) -> float:
        """Fill what bar i fills, then return the equity at its close (raises _OutOfMoney)."""
        self.i = i
        if self.orders:
            hi, lo = self._bounds or self._trigger_bounds()
            if not (self.highs[i] < hi and self.lows[i] > lo):
                self._process(i)
        equity = self.equity(self.closes[i])
        if equity <= 0:
            for trade in list(self.trades):
                self._close(trade, self.closes[i], i, "liquidation")
            self.cash = 0.0
            raise _OutOfMoney
        return equity

    def finalize(self, n: int) -> float:
        """Close the trades still open at the end; return the last bar's equity."""
        last = n - 1
        if self.settings.finalize_price == "open":  # backtesting.py: replay the last bar
            for trade in reversed(self.trades):
                self.close_trade(trade, 1.0, "finalize")
            try:
                return self.next(last)
            except _OutOfMoney:
                return 0.0
        for trade in list(self.trades):
            self._close(trade, self.closes[last], last, "finalize")
        return self.cash

    def _warn(self, message: str, *args: Any) -> None:
        self._log(logging.WARNING, "engine", message, *args)

    def _trigger_bounds(self) -> tuple[float, float]:
        """(hi, lo): no pending order triggers on a bar whose high is below hi and whose low is
        above lo (long stops and short limits trigger at the high, the others at the low)."""
        hi, lo = math.inf, -math.inf
        for order in self.orders:
            stop, limit = order._stop, order._limit
            if stop is None and limit is None:  # market: fills on any bar
                hi, lo = -math.inf, math.inf
                break
            level = limit if stop is None else stop
            if (order._size > 0) == (stop is not None):
                if level < hi:
                    hi = level
            elif level > lo:
                lo = level
        self._bounds = hi, lo
        return hi, lo

    def _process(self, i: int) -> None:
        """Fill the orders that bar i triggers, in their order (then those it placed)."""
        self._bounds = None
        o, h, low = self.opens[i], self.highs[i], self.lows[i]
        on_close = self.settings.trade_on_close
        orders = self.orders
        reprocess = False
        triggered = False  # until one triggers, every order of the copy is still in `orders`
        for order in list(orders):
            if triggered and order not in orders:  # removed with its trade
                continue
            long = order._size > 0
            stop, limit = order._stop, order._limit
            if stop is not None:
                if not (h >= stop if long else low <= stop):
                    continue
                if limit is not None:
                    order._stop = None  # triggered: a plain limit order from now on
            if limit is not None:
                if not (low <= limit if long else h >= limit):
                    continue
                if stop is not None and (limit <= stop if long else limit >= stop):
                    continue  # the limit was reached before the stop: not this bar
            triggered = True
            contingent = order._role in ("sl", "tp")
            if limit is not None:
                base = o if stop is None else stop
                price = min(base, limit) if long else max(base, limit)
            else:
                price = self.closes[i - 1] if on_close and not contingent else o
                if stop is not None:
                    price = max(price, stop) if long else min(price, stop)
            market = limit is None and stop is None
            bar = i - 1 if market and on_close and not contingent else i

            trade = order.parent_trade
            if trade is not None:  # SL, TP or close(): reduce or close the trade
                if trade.exit_bar is None:
                    size = copysign(min(abs(trade.size), abs(order.size)), order.size)
                    self._reduce(trade, price, size, bar, order._role)
                if not contingent and order in orders:
                    orders.remove(order)
                continue

            if not self._fill_entry(order, price, bar, long):
                continue
            if order.sl is not None or order.tp is not None:
                sl, tp = order.sl, order.tp
                if market or (
                    stop is not None
                    and limit is None
                    and tp is not None
                    and (
                        (long and tp <= h and (sl or -math.inf) < low)
                        or (not long and tp >= low and (sl or math.inf) > h)
                    )
                ):
                    reprocess = True
                elif low <= (sl or -math.inf) <= h or low <= (tp or -math.inf) <= h:
                    self._warn(
                        "%r filled on bar %d, whose range also reaches its SL/TP: "
                        "they are tested from the next bar on (the order within a bar is unknown)",
                        order,
                        i,
                    )
        if reprocess:
            self._process(i)

    def _fill_entry(self, order: Order, price: float, bar: int, long: bool) -> bool:
        """Size, net and open an entry order at `price`; False if it stays or was cancelled."""
        orders = self.orders
        size = order.size
        adj = price * (1 + copysign(self._entry_spread, size))
        mark = self.closes[self.i] if self._close_mark else price
        if -1 < size < 1:
            units = self._fraction_units(order, price, adj, mark)
            if not units:
                self._warn(
                    "%r cancelled on bar %d: not enough margin for one unit "
                    "(equity %.2f, available %.2f)",
                    order,
                    self.i,
                    self.equity(mark),
                    self.margin_available(mark),
                )
                orders.remove(order)
                return False
            need = copysign(units, size)
        else:
            need = size
        if not self.settings.hedging:
            for trade in list(self.trades):
                if (trade.size > 0) == long:
                    continue
                if abs(need) >= abs(trade.size):
                    self._close(trade, price, bar, "signal")
                    need += trade.size
                    if not self._whole and abs(need) <= 1e-9 * abs(trade.size):
                        need = 0.0  # float residue of a reversal sized in fractional units
                else:
                    self._reduce(trade, price, need, bar, "signal")
                    need = 0.0
                if not need:
                    break
        if need:
            cost = self._cost(need, order.size, price, adj)
            budget = self.margin_available(mark) * self._lev
            if cost > (budget if self._whole else budget * (1 + 1e-9)):
                self._warn(
                    "%r cancelled on bar %d: %.6g units cost %.2f, over the available margin %.2f",
                    order,
                    self.i,
                    abs(need),
                    cost,
                    budget,
                )
                orders.remove(order)
                return False
            self._open(adj, need, order.sl, order.tp, bar, order.tag)
        orders.remove(order)
        return True

    def _fraction_units(self, order: Order, price: float, adj: float, mark: float) -> float:
        """Units (unsigned) that a fraction-sized order buys or sells."""
        size = order.size
        fraction = abs(size)
        available = self.margin_available(mark)
        opposite = 0.0
        if self.settings.opposite_sizing == "equity" and not self.settings.hedging:
            # the opposite trades this order closes free their margin (less their exit costs)
            for t in self.trades:
                if (t.size > 0) != (size > 0):
                    opposite += abs(t.size)
                    exit_price = price * (1 - copysign(self._exit_spread, t.size))
                    available += abs(t.size) * mark / self._lev
                    available += t.size * (exit_price - mark) - self.fee(-t.size, exit_price)
            available = max(available, 0.0)
        if self._per_unit_fee:  # backtesting.py: the fee of the fraction, per unit
            per_unit = adj + self.fee(size, price) / fraction
            budget = available * self._lev * fraction
            units = float(int(budget // per_unit)) if self._whole else budget / per_unit
        else:
            if not self._whole and fraction == FULL:
                fraction = 1.0
            units = self._affordable(available * self._lev * fraction, adj, size)
            units = float(math.floor(units)) if self._whole else units
        if units <= 0 or (not self._whole and units * adj <= 1e-9 * abs(self.equity(mark))):
            return 0.0  # nothing to spend (or rounding dust of fractional units)
        return units + opposite

    def _affordable(self, budget: float, adj: float, size: float) -> float:
        """The most units (unsigned) whose value at `adj` plus the fee `_open` charges on them
        (at `adj` too) fits `budget`; the cost of the units returned never exceeds it.

        A ``[fixed, rate]`` fee is solved in closed form. A fee function is arbitrary, so it is
        bisected on the units, assuming the fee is nondecreasing in |size| and never a rebate of
        half the value or more (2 * budget / adj units then cost more than the budget); a fee
        breaking that still gets affordable units, maybe not the most.
        """

        def cost(units: float) -> float:
            return units * adj + self.fee(copysign(units, size), adj)

        if self._parts is not None:
            fixed, rate = self._parts
            units = (budget - fixed) / (adj * (1 + rate))
            while units > 0 and cost(units) > budget:  # its rounding: an ulp or two over
                units = math.nextafter(units, 0.0)
            return units
        units, over = 0.0, 2 * budget / adj  # cost(units) <= budget < cost(over)
        for _ in range(100):  # down to adjacent floats, or to dust when nothing fits
            mid = (units + over) / 2
            if mid in (units, over):
                break
            if cost(mid) <= budget:
                units = mid
            else:
                over = mid
        return units

    def _cost(self, need: float, size: float, price: float, adj: float) -> float:
        """Cash that opening `need` units needs: their value and the fee `_open` charges (at the
        spread-adjusted price; backtesting.py's per-unit sizing takes it at `price`)."""
        if self._per_unit_fee:
            return abs(need) * (adj + self.fee(size, price) / abs(size))
        return abs(need) * adj + self.fee(need, adj)

    def _open(
        self, price: float, size: float, sl: float | None, tp: float | None, bar: int, tag: object
    ) -> None:
        trade = Trade(self, size, price, bar, tag)
        self.trades.append(trade)
        self._cached = None
        fee = self.fee(size, price)
        self.cash -= fee
        trade._fee = fee
        if tp is not None:
            trade.tp = tp
        if sl is not None:
            trade.sl = sl

    def _reduce(self, trade: Trade, price: float, size: float, bar: int, reason: str) -> None:
        """Close `size` (signed against the trade) of `trade`: a piece of its own if partial."""
        left = trade.size + size
        if not self._whole and abs(left) <= 1e-12 * abs(trade.size):
            left = 0.0
        if not left:
            self._close(trade, price, bar, reason)
            return
        piece = Trade(self, -size, trade.entry_price, trade.entry_bar, trade.tag)
        piece._fee = trade._fee * abs(size) / abs(trade.size)
        trade._fee -= piece._fee
        trade.size = left
        for order in (trade._sl_order, trade._tp_order):
            if order is not None:
                order.size = -left
        self.trades.append(piece)
        self._close(piece, price, bar, reason)

    def _close(self, trade: Trade, price: float, bar: int, reason: str) -> None:
        self.trades.remove(trade)
        self._cached = None
        self._bounds = None
        for order in (trade._sl_order, trade._tp_order):
            if order is not None and order in self.orders:
                self.orders.remove(order)
        if self._exit_spread:
            price *= 1 - copysign(self._exit_spread, trade.size)
        trade.exit_price, trade.exit_bar, trade.exit_reason = price, bar, reason
        fee = self.fee(trade.size, price)
        self.cash += trade.size * (price - trade.entry_price) - fee
        if self.settings.trade_commission == "recomputed":  # backtesting.py: per piece
            trade.commission = fee + self.fee(trade.size, trade.entry_price)
        else:
            trade.commission = fee + trade._fee
        self.closed_trades.append(trade)
        self._on_close(trade)

    def trade_return(self, trade: Trade) -> float:
        """The trade's return: on its entry value (backtesting.py), or on the cash it cost."""
        size, entry = trade.size, trade.entry_price
        if self.settings.return_basis == "notional":
            gross = copysign(1.0, size) * (trade.exit_price / entry - 1.0)  # type: ignore[operator]
            return gross - trade.commission / (abs(size) * entry)
        return (trade.pl) / (abs(size) * entry + trade._fee)

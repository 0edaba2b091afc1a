"""Strategy registry: names on the wire -> strategy classes, plus their param schemas.

Built-ins are registered at import; `register_strategy` adds user ones
(`qm_jupyter.strategy_catalog` loads them from a folder and an entry-point group).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .builtin_strategies import BUILTIN_STRATEGIES
from .errors import ParamError
from .params import resolve_params
from .strategy import Strategy, VectorStrategy, _StrategyBase, function_strategy

StrategyLike = type[Strategy] | type[VectorStrategy] | Callable[..., Any] | str

_REGISTRY: dict[str, type[_StrategyBase]] = {}


def as_strategy(obj: StrategyLike) -> type[_StrategyBase]:
    """A registered name, a `Strategy`/`VectorStrategy` subclass, or a signals function."""
    if isinstance(obj, str):
        return get_strategy(obj)
    if isinstance(obj, type) and issubclass(obj, Strategy | VectorStrategy):
        return obj
    if callable(obj) and not isinstance(obj, type):
        return function_strategy(obj)
    raise TypeError(
        f"strategy must be a name, a Strategy/VectorStrategy subclass or a function, got {obj!r}"
    )


def register_strategy(obj: StrategyLike, name: str | None = None) -> type[_StrategyBase]:
    """Register a strategy under `name` (default: its `name` attribute) and return its class.

    Example::

        register_strategy(momentum)          # a signals function, listed as "momentum"
        run_backtest(df, "momentum", {"lookback": 50})
    """
    cls = as_strategy(obj)
    key = name or cls.name
    if not key:
        raise ValueError("a registered strategy needs a name")
    _REGISTRY[key] = cls
    return cls


def unregister_strategy(name: str) -> None:
    """Forget a registered strategy (used when a user's strategy file is reloaded)."""
    _REGISTRY.pop(name, None)


def get_strategy(name: str) -> type[_StrategyBase]:
    """The class registered as `name`; ParamError(param='strategy') if there is none."""
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise ParamError("strategy", f"unknown strategy '{name}' (known: {known})") from None


def list_strategies() -> list[dict[str, Any]]:
    """JSON-able listing: ``[{"name", "description", "params": {name: schema}}]``."""
    return [
        {
            "name": key,
            "description": cls.description,
            "params": {p: spec.describe() for p, spec in cls.params.items()},
        }
        for key, cls in sorted(_REGISTRY.items())
    ]


def validate_params(strategy: StrategyLike, params: dict[str, Any] | None) -> dict[str, Any]:
    """Resolved params (defaults filled in), or ParamError naming the bad parameter."""
    cls = as_strategy(strategy)
    resolved = resolve_params(cls.name, cls.params, params)
    cls(**resolved).check_params()
    return resolved


for _cls in BUILTIN_STRATEGIES:
    register_strategy(_cls)

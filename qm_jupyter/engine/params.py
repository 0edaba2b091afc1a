"""Strategy parameters: declaration (`Param`) and validation of user-supplied values.

Params arrive from JSON, so validation is strict: an int param takes an int (not a bool, not 10.5),
a float param takes an int or a finite float, a bool param takes a bool. Every failure is a
`ParamError` whose `.param` names the parameter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ParamError

_KINDS = {bool: "bool", int: "int", float: "float"}


@dataclass(frozen=True)
class Param:
    """A tunable strategy parameter; its type is the type of `default`.

    Example::

        class SmaCross(VectorStrategy):
            fast = Param(10, min=2, max=10_000, doc="fast SMA window (bars)")
    """

    default: bool | int | float
    min: float | None = None
    max: float | None = None
    doc: str = ""

    def __post_init__(self) -> None:
        if type(self.default) not in _KINDS:
            raise TypeError(f"Param default must be bool, int or float, not {self.default!r}")

    @property
    def kind(self) -> str:
        """'int', 'float' or 'bool' (the JSON-facing type name)."""
        return _KINDS[type(self.default)]

    def describe(self) -> dict[str, Any]:
        """JSON-able description, as listed by `GET /api/v1/strategies`."""
        out: dict[str, Any] = {"type": self.kind, "default": self.default}
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        if self.doc:
            out["description"] = self.doc
        return out

    def check(self, name: str, value: Any) -> bool | int | float:
        """Return `value` coerced to this param's type, or raise ParamError naming `name`."""
        kind = self.kind
        if kind == "bool":
            ok = isinstance(value, bool)
        elif kind == "int":
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok:
            raise ParamError(name, f"param '{name}' must be {kind}, got {value!r}")
        if kind == "float":
            value = float(value)
            if not math.isfinite(value):
                raise ParamError(name, f"param '{name}' must be finite, got {value!r}")
        if self.min is not None and value < self.min:
            raise ParamError(name, f"param '{name}' must be >= {self.min}, got {value!r}")
        if self.max is not None and value > self.max:
            raise ParamError(name, f"param '{name}' must be <= {self.max}, got {value!r}")
        return value


def resolve_params(
    owner: str, declared: Mapping[str, Param], given: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Defaults overlaid with `given`, each checked; unknown names are refused."""
    if given is None:
        given = {}
    if not isinstance(given, Mapping):
        raise ParamError("params", f"params must be an object, got {type(given).__name__}")
    for name in given:
        if name not in declared:
            known = ", ".join(declared) or "none"
            raise ParamError(
                str(name), f"unknown param '{name}' for strategy {owner} (known: {known})"
            )
    return {
        name: spec.check(name, given[name]) if name in given else spec.default
        for name, spec in declared.items()
    }

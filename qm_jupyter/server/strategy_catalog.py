"""Quants' own strategies, loaded by name from a folder and from installed packages.

Every ``*.py`` file in the strategies folder (``QuantMindExtension.strategies_dir``,
relative to the server's root_dir) and every object of the ``qm_jupyter.strategies``
entry-point group is registered with the engine. The server (to list and validate)
and each worker (to run) keep one catalog and reload it when a file changes, so a
quant edits a strategy file and runs it again without restarting anything. A file
that fails to import is reported by name with its error; the others still load.

A strategy file::

    # strategies/momentum.py
    from qm_jupyter.engine import Param, VectorStrategy

    class Momentum(VectorStrategy):
        \"\"\"Long while the close is above its close ``lookback`` bars ago.\"\"\"
        name = "momentum"
        lookback = Param(50, min=1, max=10_000)

        def signals(self, data):
            close = data["close"]
            return (close > close.shift(self.lookback)).to_numpy(dtype=float)
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
import traceback
from dataclasses import asdict, dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from ..engine import Strategy, VectorStrategy, register_strategy, unregister_strategy
from ..engine.builtin_strategies import BUILTIN_STRATEGIES

ENTRY_POINT_GROUP = "qm_jupyter.strategies"
#: The modules of strategy files are named under this (never importable elsewhere).
USER_MODULE_PREFIX = "qm_jupyter_user_strategies"


@dataclass(frozen=True)
class LoadError:
    """A strategy source that could not be loaded, and why."""

    source: str
    error: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


class StrategyCatalog:
    """The user strategies of one folder plus the entry-point group, kept up to date."""

    def __init__(self, folder: str | Path | None):
        self.folder = Path(folder) if folder else None
        self.errors: list[LoadError] = []
        self._loaded: dict[str, str] = {}  # strategy name -> source
        self._signature: tuple | None = None

    def refresh(self) -> None:
        """Reload everything when a strategy file was added, changed or removed."""
        signature = self._folder_signature()
        if signature == self._signature:
            return
        self._signature = signature
        self.clear()
        builtins = {cls.name for cls in BUILTIN_STRATEGIES}
        for point in entry_points(group=ENTRY_POINT_GROUP):
            self._load(f"entry point {point.name!r}", builtins, lambda p=point: {p.name: p.load()})
        for path in signature:
            self._load(str(path[0]), builtins, lambda p=Path(path[0]): _strategies_in_file(p))

    def clear(self) -> None:
        """Unregister every strategy this catalog loaded."""
        for name in self._loaded:
            unregister_strategy(name)
        self._loaded.clear()
        self.errors = []

    def source_of(self, name: str) -> str:
        """Where strategy ``name`` comes from: a file, an entry point, or ``builtin``."""
        return self._loaded.get(name, "builtin")

    def describe(self) -> dict[str, Any]:
        """Where user strategies come from, which loaded, and which failed."""
        return {
            "folder": str(self.folder) if self.folder else None,
            "entry_point_group": ENTRY_POINT_GROUP,
            "loaded": dict(self._loaded),
            "errors": [error.to_dict() for error in self.errors],
        }

    def _load(self, source: str, builtins: set[str], find) -> None:
        try:
            found = find()
            for name, obj in found.items():
                if name in builtins or name in self._loaded:
                    raise ValueError(f"strategy name {name!r} is already taken")
                register_strategy(obj, name=name)
                self._loaded[name] = source
        except (Exception, SystemExit) as error:  # a broken file must not take the server down
            last = traceback.extract_tb(error.__traceback__)[-1:] or None
            where = f" (line {last[0].lineno})" if last and last[0].filename == source else ""
            self.errors.append(LoadError(source, f"{type(error).__name__}: {error}{where}"))

    def _folder_signature(self) -> tuple:
        if self.folder is None or not self.folder.is_dir():
            return ()
        files = sorted(self.folder.glob("*.py"))
        return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)


def _strategies_in_file(path: Path) -> dict[str, Any]:
    """Import ``path`` afresh and return the strategy classes it defines, by name."""
    module_name = f"{USER_MODULE_PREFIX}.{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return {
        cls.name: cls
        for cls in vars(module).values()
        if inspect.isclass(cls)
        and issubclass(cls, Strategy | VectorStrategy)
        and cls.__module__ == module_name
    }

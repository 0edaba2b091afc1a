"""What a notebook run is asked to do, in the REST API's terms."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..engine import DataError, check_settings
from ..engine.broker import Commission
from ..engine.data import DataSource
from ..engine.registry import StrategyLike
from ..jobs import Job
from ..ws_logger import DEFAULT_PROGRESS_RATE


@dataclass(frozen=True)
class RunSettings:
    """The run options of ``POST /api/v1/backtest/run`` (plus the kernel's progress step)."""

    initial_balance: float = 10_000.0
    #: A rate, ``[fixed, rate]`` or (in a kernel only) a function ``(size, price) -> cash``.
    commission: Commission = 0.0
    periods_per_year: float | None = None
    progress_every: int = 100
    #: The engine's other run settings given (spread, ..., conventions, sl_stop, log_trades).
    broker: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        """Raise the engine's ``ParamError`` for a setting out of range, as a run would."""
        check_settings(
            self.initial_balance,
            self.commission,
            self.periods_per_year,
            self.progress_every,
            **self.broker,
        )

    def job(
        self,
        backtest_id: str,
        strategy: StrategyLike,
        params: dict[str, Any],
        data: pd.DataFrame | dict[str, Any],
        root_dir: str | os.PathLike[str] | None,
    ) -> Job:
        """A kernel's job (a run, or a sweep's trial) with these settings."""
        return Job(
            backtest_id=backtest_id,
            strategy=strategy,
            params=params,
            data=data,
            initial_balance=self.initial_balance,
            commission=self.commission,
            periods_per_year=self.periods_per_year,
            progress_every=self.progress_every,
            max_progress_rate=DEFAULT_PROGRESS_RATE,
            root_dir=root_dir,
            settings=self.broker,
        )

    def request(self, strategy: str, params: dict[str, Any], data: dict[str, Any]) -> dict:
        """The body of ``POST /api/v1/backtest/run`` (also a kernel run's description: a
        commission function shows as its name)."""
        commission = self.commission
        return {
            "strategy": strategy,
            "params": params,
            "data": data,
            "initial_balance": self.initial_balance,
            "commission": getattr(commission, "__name__", "function")
            if callable(commission)
            else commission,
            "periods_per_year": self.periods_per_year,
            **self.broker,
        }


def data_source(data: DataSource) -> pd.DataFrame | dict[str, Any]:
    """A DataFrame as is; a path as ``{"path": ...}``; a wire spec dict as is."""
    if isinstance(data, pd.DataFrame | dict):
        return data
    if isinstance(data, str | os.PathLike):
        return {"path": os.fspath(data)}
    raise DataError(f"data must be a DataFrame, a path or a spec dict, got {type(data).__name__}")


def describe_source(data: pd.DataFrame | dict[str, Any]) -> dict[str, Any]:
    """JSON-able description of a run's data (a DataFrame by its size)."""
    if isinstance(data, pd.DataFrame):
        return {"dataframe": {"rows": len(data)}}
    return data

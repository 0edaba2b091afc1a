"""The body of ``POST /api/v1/backtest/run``, validated before any work starts.

Every refusal names the field (and the value) that was wrong, so a 400 says exactly
what to fix. Data files are checked for place and size here; their contents are read
in the worker, where bad data ends the run with ``backtest_error``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..engine import (
    RUN_SETTINGS,
    DataError,
    ParamError,
    check_settings,
    validate_data_spec,
    validate_params,
)

FIELDS = (
    "strategy",
    "params",
    "data",
    "initial_balance",
    "commission",
    "periods_per_year",
    "client_request_id",
    *RUN_SETTINGS,
)


class RequestError(ValueError):
    """A run request that cannot be accepted; ``field`` names the culprit."""

    def __init__(self, message: str, field: str | None = None, status: int = 400):
        super().__init__(message)
        self.field = field
        self.status = status


@dataclass(frozen=True)
class RunRequest:
    """A validated request to run a backtest on the server."""

    strategy: str
    params: dict[str, Any]
    data: dict[str, Any]
    initial_balance: float = 10_000.0
    commission: float | list[float] = 0.0
    periods_per_year: float | None = None
    client_request_id: str | None = None
    #: The broker settings given (spread, margin, ..., conventions) and a vectorized strategy's
    #: stops (sl_stop, tp_stop, tsl_stop) and log_trades, for the engine as is.
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _number(body: dict[str, Any], name: str, default: float | None) -> float | None:
    value = body.get(name)
    if value is None:  # absent or null: the default (a null used to reach a comparison: a 500)
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RequestError(f"{name} must be a finite number, got {value!r}", name)
    return float(value)


def parse_run_request(
    body: Any,
    *,
    root_dir: str | Path,
    max_sample_bars: int,
    max_file_bytes: int,
) -> RunRequest:
    """Validate a decoded JSON body; raise :class:`RequestError` naming the bad field."""
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise RequestError(f"unknown field(s): {', '.join(unknown)}", unknown[0])

    strategy = body.get("strategy")
    if not isinstance(strategy, str) or not strategy:
        raise RequestError("strategy must be the name of a strategy", "strategy")
    params = body.get("params") or {}
    if not isinstance(params, dict):
        raise RequestError("params must be a JSON object", "params")
    try:
        params = validate_params(strategy, params)
    except ParamError as error:
        field = "strategy" if error.param in (None, "strategy") else f"params.{error.param}"
        raise RequestError(str(error), field) from None

    data = body.get("data")
    if not isinstance(data, dict):
        raise RequestError('data must be {"path": ...} or {"sample": "gbm", ...}', "data")
    try:
        data = validate_data_spec(data, root_dir, max_sample_bars=max_sample_bars)
    except DataError as error:
        raise RequestError(str(error), "data") from None
    if "path" in data:
        size = (Path(root_dir) / data["path"]).stat().st_size
        if size > max_file_bytes:
            raise RequestError(
                f"data.path {data['path']!r} is {size} bytes, over the limit of "
                f"{max_file_bytes} (QuantMindExtension.max_data_file_bytes)",
                "data.path",
            )

    initial_balance = _number(body, "initial_balance", 10_000.0)
    if initial_balance <= 0:
        raise RequestError(
            f"initial_balance must be positive, got {initial_balance!r}", "initial_balance"
        )
    commission = body.get("commission")
    if commission is None:
        commission = 0.0
    elif isinstance(commission, list):
        commission = [_number({"commission": x}, "commission", 0.0) for x in commission]
    else:
        commission = _number(body, "commission", 0.0)
    settings = {k: body[k] for k in RUN_SETTINGS if body.get(k) is not None}
    try:
        check_settings(initial_balance, commission, None, 1, **settings)
    except ParamError as error:
        raise RequestError(str(error), error.param) from None
    periods_per_year = _number(body, "periods_per_year", None)
    if periods_per_year is not None and periods_per_year <= 0:
        raise RequestError(
            f"periods_per_year must be positive, got {periods_per_year!r}", "periods_per_year"
        )
    client_request_id = body.get("client_request_id")
    if client_request_id is not None and (
        not isinstance(client_request_id, str) or not 0 < len(client_request_id) <= 200
    ):
        raise RequestError(
            "client_request_id must be a string of 1 to 200 characters", "client_request_id"
        )
    return RunRequest(
        strategy=strategy,
        params=params,
        data=data,
        initial_balance=initial_balance,
        commission=commission,
        periods_per_year=periods_per_year,
        client_request_id=client_request_id,
        settings=settings,
    )

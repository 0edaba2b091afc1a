"""Contract tests: the shipped OpenAPI document against a live server subprocess."""

from __future__ import annotations

import pytest
from server_process import JupyterServer


@pytest.fixture(scope="session")
def contract_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("contract")
    root = base / "root"
    (root / "data").mkdir(parents=True)
    (root / "data" / "prices.csv").write_text(
        "time,open,high,low,close\n"
        + "".join(
            f"2024-01-{day:02d},{100 + day},{101 + day},{99 + day},{100.5 + day}\n"
            for day in range(1, 29)
        )
    )
    server = JupyterServer(
        root,
        base / "runs.sqlite",
        base / "server.log",
        "--QuantMindExtension.workers=1",
        # Generated sweeps stay small: one local Dask worker, a few trials at most.
        "--QuantMindExtension.dask_workers=1",
        "--QuantMindExtension.max_sweep_trials=20",
    )
    server.start()
    yield server
    server.stop()

"""Quants' own strategies: a folder under root_dir and an entry-point group."""

from __future__ import annotations

import os
import sys
import textwrap

import pytest

MOMENTUM = '''
from qm_jupyter.engine import Param, VectorStrategy


class Momentum(VectorStrategy):
    """Long while the close is above its close `lookback` bars ago."""

    name = "momentum"
    lookback = Param(50, min=1, max=10_000)

    def signals(self, data):
        close = data["close"]
        return (close > close.shift(self.lookback)).to_numpy(dtype=float)
'''

PER_BAR = '''
from qm_jupyter.engine import Strategy


class EveryOtherBar(Strategy):
    """Buys on even bars, closes on odd ones: a per-bar strategy with state."""

    name = "every_other_bar"

    def next(self):
        if self.i % 2 == 0:
            self.buy()
        else:
            self.close()
            self.log("closed at bar %d", self.i)
'''

SAMPLE = {"sample": "gbm", "bars": 400, "seed": 5, "freq": "1D"}


@pytest.fixture
def strategies_dir(jp_root_dir):
    folder = jp_root_dir / "strategies"
    folder.mkdir()
    (folder / "momentum.py").write_text(MOMENTUM)
    (folder / "every_other.py").write_text(PER_BAR)
    (folder / "broken.py").write_text("def oops(:\n")
    (folder / "exits.py").write_text("import sys\nsys.exit(3)\n")
    return folder


async def test_folder_strategies_are_listed_with_their_params_and_errors(api, strategies_dir):
    status, reply = await api("GET", "api", "v1", "strategies")
    assert status == 200
    by_name = {s["name"]: s for s in reply["strategies"]}
    assert by_name["momentum"]["params"]["lookback"]["default"] == 50
    assert by_name["momentum"]["source"].endswith("strategies/momentum.py")
    assert by_name["momentum"]["description"].startswith("Long while the close")
    assert by_name["sma_crossover"]["source"] == "builtin"
    errors = {
        e["source"].rsplit("/", 1)[-1]: e["error"] for e in reply["user_strategies"]["errors"]
    }
    assert set(errors) == {"broken.py", "exits.py"}
    assert errors["broken.py"].startswith("SyntaxError")
    assert errors["exits.py"].startswith("SystemExit")


async def test_folder_strategies_run_by_name(api, start_run, wait_until_done, strategies_dir):
    vector = await start_run(strategy="momentum", params={"lookback": 20}, data=SAMPLE)
    per_bar = await start_run(strategy="every_other_bar", params={}, data=SAMPLE)
    vector_run = await wait_until_done(vector)
    assert vector_run["status"] == "completed", vector_run
    per_bar_run = await wait_until_done(per_bar)
    assert per_bar_run["status"] == "completed", per_bar_run
    assert per_bar_run["result"]["total_trades"] > 100
    _, page = await api("GET", "api", "v1", "backtest", per_bar, "events")
    modules = {e["data"]["module"] for e in page["events"] if e["type"] == "log_entry"}
    assert "strategy" in modules and "engine" in modules


async def test_bad_params_of_a_folder_strategy_name_the_parameter(api, strategies_dir):
    for params, words in [({"lookback": 0}, "lookback"), ({"window": 3}, "window")]:
        status, reply = await api(
            "POST", "api", "v1", "backtest", "run",
            body={"strategy": "momentum", "params": params, "data": SAMPLE},
        )  # fmt: skip
        assert status == 400
        assert reply["field"] == f"params.{words}" and words in reply["message"]


async def test_an_edited_file_is_reloaded(api, start_run, wait_until_done, strategies_dir):
    await api("GET", "api", "v1", "strategies")
    path = strategies_dir / "momentum.py"
    path.write_text(MOMENTUM.replace("Param(50,", "Param(7,"))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    _, reply = await api("GET", "api", "v1", "strategies")
    by_name = {s["name"]: s for s in reply["strategies"]}
    assert by_name["momentum"]["params"]["lookback"]["default"] == 7, reply["user_strategies"]
    run = await wait_until_done(await start_run(strategy="momentum", params={}, data=SAMPLE))
    assert run["status"] == "completed" and run["request"]["params"] == {"lookback": 7}


@pytest.fixture
def installed_package(tmp_path, monkeypatch):
    """A package that offers a strategy through the entry-point group, as pip would install it."""
    site = tmp_path / "site"
    (site / "qm_ep_strategies").mkdir(parents=True)
    (site / "qm_ep_strategies" / "__init__.py").write_text(
        textwrap.dedent(
            """
            def always_long(data):
                '''Long on every bar.'''
                return [1.0] * len(data)
            """
        )
    )
    dist = site / "qm_ep_strategies-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: qm-ep-strategies\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[qm_jupyter.strategies]\nalways_long = qm_ep_strategies:always_long\n"
        "missing = qm_ep_strategies:not_there\n"
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), *sys.path]))
    return site


async def test_entry_point_strategies_load_and_run(
    api, start_run, wait_until_done, installed_package
):
    _, reply = await api("GET", "api", "v1", "strategies")
    by_name = {s["name"]: s for s in reply["strategies"]}
    assert by_name["always_long"]["source"] == "entry point 'always_long'"
    errors = reply["user_strategies"]["errors"]
    assert [e["source"] for e in errors] == ["entry point 'missing'"]
    assert "not_there" in errors[0]["error"]
    run = await wait_until_done(await start_run(strategy="always_long", params={}, data=SAMPLE))
    assert run["status"] == "completed", run
    assert run["result"]["total_trades"] == 1

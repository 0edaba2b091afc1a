"""The usage examples in the engine's docstrings run as written."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import qm_jupyter.engine as engine

MODULES = [m.name for m in pkgutil.iter_modules(engine.__path__, "qm_jupyter.engine.")]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_docstring_strategy_examples_run():
    """The two classes and the function of the strategy module docstring, executed."""
    from qm_jupyter.engine import strategy

    text = strategy.__doc__
    code = "\n".join(line[4:] for line in text.splitlines() if line.startswith("    "))
    namespace = {
        "VectorStrategy": engine.VectorStrategy,
        "Strategy": engine.Strategy,
        "Param": engine.Param,
    }
    exec(code, namespace)
    data = {"sample": "gbm", "bars": 3000, "seed": 1}
    vec = engine.run_backtest(data, namespace["SmaCross"])
    bars = engine.run_backtest(data, namespace["SmaCrossBars"])
    assert vec.trades.entry_time.tolist() == bars.trades.entry_time.tolist()
    assert engine.run_backtest(data, namespace["momentum"]).metrics["total_trades"] > 0

"""A notebook executed headless (nbclient, ``jupyter nbconvert --execute``) saves the final
state of a run's display, even when the run ended between two cells.

Executors keep only the messages whose parent is the cell they execute; a run's thread
sends its last updates with the parent of the latest cell, so updates sent after that cell
went idle were lost to the saved notebook. The tests make that happen every time: the run
waits on a gate that opens a second after it started, and the executor pauses for a few
seconds after the starting cell (an ``on_cell_executed`` hook), so the run ends between
two cells.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient

SETUP = """\
import threading
import qm_jupyter as qm

gate = threading.Event()

def gated_momentum(data, lookback=60):
    gate.wait(30)
    return (data.close > data.close.shift(lookback)).to_numpy().astype(int)
"""
START = """\
run = qm.run_backtest(
    data={"sample": "gbm", "bars": 20_000, "seed": 1},
    strategy=gated_momentum,
    params={"lookback": 60},
)
threading.Timer(GATE_SECONDS, gate.set).start()
"""
AWAITED = "result = await run\nprint('trades', result.metrics['total_trades'])"
GATE_SECONDS, PAUSE_SECONDS = 1.0, 4.0
PAUSE_HOOK = """\
import time

def pause_after_the_starting_cell(cell, cell_index, execute_reply):
    if cell_index == 1:
        time.sleep({pause})
"""
NEVER_AWAITED = "print('done', run.done(), 'trades', run.widget.view.metrics['total_trades'])"


def notebook(last_cell: str) -> nbformat.NotebookNode:
    start = START.replace("GATE_SECONDS", repr(GATE_SECONDS))
    cells = [nbformat.v4.new_code_cell(source) for source in (SETUP, start, last_cell)]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    return nb


@pytest.fixture(autouse=True)
def no_server(monkeypatch):
    """The kernels run alone (the session's runtime dir is empty of servers)."""
    monkeypatch.delenv("QM_JUPYTER_URL", raising=False)
    monkeypatch.delenv("QM_JUPYTER_TOKEN", raising=False)


def printed_trades(nb: nbformat.NotebookNode) -> int:
    text = "".join(out.get("text", "") for out in nb.cells[-1].outputs)
    return int(re.search(r"trades (\d+)", text).group(1))


def assert_final_state(state: dict, trades: int) -> None:
    """The saved widget state shows the completed run: full bar, status, metrics."""
    models = [model["state"] for model in state.values()]
    bars = [m for m in models if m["_model_name"] == "FloatProgressModel"]
    assert [(b["value"], b["bar_style"]) for b in bars] == [(100.0, "success")]
    html = {
        cls: m["value"]
        for m in models
        if m["_model_name"] == "HTMLModel"
        for cls in m.get("_dom_classes", [])
    }
    assert "100.0% · 20,000/20,000 bars" in html["qm-stats"]
    assert f"{trades:,} trades" in html["qm-stats"]
    assert f'data-metric="Trades">{trades:,}<' in html["qm-outcome"]
    assert 'class="qm-status">completed<' in html["qm-header"]
    assert_static_png(html["qm-static"])
    figure = final_figure(models)
    assert figure[0]["type"] == "candlestick" and len(figure[0]["x"]) == 1_000  # run_chart's


def assert_static_png(html: str) -> None:
    """A static image (what a viewer without plotly's front end sees) of the final chart."""
    found = re.search(r'src="data:image/png;base64,([^"]+)"', html)
    assert found and base64.b64decode(found.group(1)).startswith(b"\x89PNG")


def final_figure(models: list[dict]) -> list[dict]:
    """The traces of the one plotly figure in the saved state, as the last cell left them."""
    figures = [m["_widget_data"] for m in models if "_widget_data" in m]
    assert len(figures) == 1
    return figures[0]


def assert_final_text(nb: nbformat.NotebookNode) -> None:
    """The text fallback of the run's display (what a plain-text reader sees) is final too."""
    texts = [out["data"]["text/plain"] for out in nb.cells[1].outputs if "data" in out]
    assert len(texts) == 1 and "[completed]" in texts[0] and "Total return" in texts[0]


@pytest.mark.parametrize("last_cell", [AWAITED, NEVER_AWAITED], ids=["awaited", "never-awaited"])
def test_nbclient_saves_the_final_state_of_a_run_that_ended_between_cells(last_cell):
    nb = notebook(last_cell)
    hooks: dict = {}
    exec(PAUSE_HOOK.format(pause=PAUSE_SECONDS), hooks)
    client = NotebookClient(
        nb,
        store_widget_state=True,
        timeout=120,
        on_cell_executed=hooks["pause_after_the_starting_cell"],
    )
    client.execute()
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert_final_state(state, printed_trades(nb))
    assert_final_text(nb)


@pytest.mark.parametrize("last_cell", [AWAITED, NEVER_AWAITED], ids=["awaited", "never-awaited"])
def test_nbconvert_html_report_shows_the_final_state(tmp_path, last_cell):
    path = tmp_path / "report.ipynb"
    nbformat.write(notebook(last_cell), path)
    config = tmp_path / "pause_config.py"
    config.write_text(
        PAUSE_HOOK.format(pause=PAUSE_SECONDS)
        + "c.ExecutePreprocessor.on_cell_executed = pause_after_the_starting_cell\n"
    )
    command = ["jupyter", "nbconvert", "--to", "html", "--execute", f"--config={config}"]
    subprocess.run(
        [sys.executable, "-m", *command, str(path)],
        check=True,
        capture_output=True,
        timeout=180,
    )
    html = (tmp_path / "report.html").read_text()
    found = re.search(
        r'<script type="application/vnd.jupyter.widget-state\+json">(.*?)</script>', html, re.S
    )
    trades = int(re.search(r"trades (\d+)", html).group(1))
    assert_final_state(json.loads(found.group(1))["state"], trades)


SWEEP_START = """\
def slow_momentum(data, lookback=60):
    time.sleep(1.0)  # in a Dask worker: the sweep ends while the executor pauses
    return (data.close > data.close.shift(lookback)).to_numpy().astype(int)

sweep = qm.sweep(
    {"sample": "gbm", "bars": 2_000, "seed": 1},
    slow_momentum,
    {"lookback": [20, 40, 60]},
    maximize="sharpe_ratio",
)
"""
#: Long enough for the kernel's Dask cluster to start and the three trials to run.
SWEEP_PAUSE_SECONDS = 20.0
SWEEP_AWAITED = "result = await sweep\nprint('best', result.best['params'])"


def sweep_notebook() -> nbformat.NotebookNode:
    nb = notebook(SWEEP_AWAITED)
    nb.cells[1] = nbformat.v4.new_code_cell("import time\n" + SWEEP_START)
    return nb


def test_a_sweep_executed_headless_saves_its_final_display_and_text(tmp_path):
    """The sweep ends between two cells too; its saved display is the final one (full bar,
    best params, heatmap as a figure and a PNG), and ``--to markdown`` reads its text."""
    path = tmp_path / "sweep.ipynb"
    nbformat.write(sweep_notebook(), path)
    config = tmp_path / "pause_config.py"
    config.write_text(
        PAUSE_HOOK.format(pause=SWEEP_PAUSE_SECONDS)
        + "c.ExecutePreprocessor.on_cell_executed = pause_after_the_starting_cell\n"
    )
    command = ["jupyter", "nbconvert", "--to", "notebook", "--execute", f"--config={config}"]
    subprocess.run(
        [sys.executable, "-m", *command, "--output", "executed.ipynb", str(path)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    nb = nbformat.read(tmp_path / "executed.ipynb", as_version=4)
    best = re.search(r"best \{'lookback': (\d+)\}", nb.cells[-1].outputs[0]["text"]).group(1)
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    models = [model["state"] for model in state.values()]
    bars = [m for m in models if m["_model_name"] == "FloatProgressModel"]
    assert [(b["value"], b["max"], b["bar_style"]) for b in bars] == [(3.0, 3.0, "success")]
    html = {
        cls: m["value"]
        for m in models
        if m["_model_name"] == "HTMLModel"
        for cls in m.get("_dom_classes", [])
    }
    assert "completed: 3/3 trials" in html["qm-sweep"]
    assert f"lookback={best}" in html["qm-sweep-best"]
    assert_static_png(html["qm-static"])
    heatmap = final_figure(models)
    assert heatmap[0]["type"] == "heatmap" and None not in heatmap[0]["z"][0]
    text = [out["data"]["text/plain"] for out in nb.cells[1].outputs if "data" in out]
    assert len(text) == 1 and "completed: 3/3 trials" in text[0] and "best: lookback=" in text[0]
    markdown = subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "markdown", "--stdout",
         str(tmp_path / "executed.ipynb")],
        check=True, capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    assert f"best: lookback={best}" in markdown and "[completed]" not in markdown
    assert "completed: 3/3 trials" in markdown

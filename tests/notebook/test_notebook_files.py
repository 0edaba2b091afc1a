"""The committed notebooks as a user opens them: valid, clean, and not modified by opening.

They are written by ``tests/notebook/refresh_notebooks.py`` (executed in kernels of a real
server with the extension). JupyterLab marks a notebook modified when opening it changes
anything: it sets ``metadata.kernelspec`` from the installed kernel spec (a notebook saying
``"Python 3"`` where ipykernel installs ``"Python 3 (ipykernel)"`` is dirty at once) and
``language_info`` from the kernel, and gives cells without ids ids (nbformat < 4.5).
``language_info.version`` is that of the Python that executed them; another Python's kernel
rewrites it, which no committed file can avoid.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from ipykernel.ipkernel import IPythonKernel
from refresh_notebooks import KERNEL, NOTEBOOKS, SAVED_CHART_MODULE, kernelspec_metadata

PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))


def test_every_notebook_is_checked():
    assert {path.name for path in PATHS} >= {"quickstart.ipynb", "custom_strategy.ipynb"}


@pytest.fixture(params=PATHS, ids=[path.name for path in PATHS])
def notebook(request) -> nbformat.NotebookNode:
    path: Path = request.param
    return nbformat.read(path, as_version=nbformat.NO_CONVERT)


def test_valid_nbformat_4_5_with_unique_cell_ids(notebook):
    nbformat.validate(notebook)
    assert (notebook.nbformat, notebook.nbformat_minor) >= (4, 5)
    ids = [cell.get("id") for cell in notebook.cells]
    assert all(ids) and len(set(ids)) == len(ids)


def test_jupyterlab_finds_nothing_to_change_on_opening(notebook):
    assert notebook.metadata.kernelspec == kernelspec_metadata(KERNEL)
    expected = {k: v for k, v in IPythonKernel.language_info.items() if k != "version"}
    stored = {k: v for k, v in notebook.metadata.language_info.items() if k != "version"}
    assert stored == expected


def test_outputs_have_no_error_and_nothing_on_stderr(notebook):
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(cell.execution_count for cell in code), "executed top to bottom"
    outputs = [output for cell in code for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    stderr = [output.text for output in outputs if output.get("name") == "stderr"]
    assert not stderr, stderr  # e.g. "no Jupyter server with the qm_jupyter extension found"
    assert not any("execution" in cell.metadata for cell in code), "no run timings stored"


def test_saved_charts_carry_no_front_end_code(notebook):
    """Each live chart model holds plotly.js (5 MB); a committed notebook keeps the static
    image and a stand-in module instead, so it stays small to clone, diff and open."""
    saved = notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    charts = [m["state"] for m in saved.values() if m["model_module"] == "anywidget"]
    assert charts, "every notebook shows at least one chart"
    assert all(chart["_esm"] == SAVED_CHART_MODULE for chart in charts)
    assert len(nbformat.writes(notebook)) < 2_000_000

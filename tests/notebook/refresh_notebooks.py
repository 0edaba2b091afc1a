"""Re-execute the committed notebooks as a user sees them: in kernels of a Jupyter server.

    .venv/bin/python tests/notebook/refresh_notebooks.py [notebooks/quickstart.ipynb ...]

A ``jupyter server`` with the extension is started on ``notebooks/`` (what ``scripts/run.sh``
does), and each notebook runs in a kernel that has the server's ``QM_JUPYTER_URL`` and
``QM_JUPYTER_TOKEN``, so the stored outputs are those of runs on the server, not the
no-server notice. The notebook's metadata is what JupyterLab writes itself when it opens
one (the installed kernelspec, the kernel's ``language_info``): opening it does not mark it
modified. Cell ids are kept; no timing metadata is stored.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))

from server_process import JupyterServer  # noqa: E402

from qm_jupyter.discovery import ENV_TOKEN, ENV_URL  # noqa: E402

NOTEBOOKS = TESTS.parent / "notebooks"
KERNEL = "python3"
PORT = 8888  # the README's address when it is free, so stored URLs read like a user's


def kernelspec_metadata(name: str = KERNEL) -> dict[str, str]:
    """``metadata.kernelspec`` as JupyterLab sets it from the installed kernel spec."""
    spec = KernelSpecManager().get_kernel_spec(name)
    return {"display_name": spec.display_name, "language": spec.language, "name": name}


def refresh(paths: list[Path]) -> None:
    with tempfile.TemporaryDirectory(prefix="qm-refresh-") as scratch:
        server = ReadmeServer(Path(scratch))
        server.start()
        try:
            environment = {ENV_URL: server.url, ENV_TOKEN: server.token}
            for path in paths:
                execute(path, environment)
                print(f"executed {path.name} on {server.url}")
        finally:
            server.stop()


def execute(path: Path, environment: dict[str, str]) -> None:
    notebook = nbformat.read(path, as_version=4)
    notebook.metadata["kernelspec"] = kernelspec_metadata()
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)  # timings of an earlier run: noise in every diff
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name=KERNEL,
        record_timing=False,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute(env={**os.environ, **environment})
    without_chart_code(notebook)
    nbformat.validate(notebook)
    nbformat.write(notebook, path)


#: Stands in for plotly's front end in committed notebooks: the chart's static image shows.
SAVED_CHART_MODULE = (
    "export default { render({ el }) { el.textContent = "
    "'Run the cell for the interactive chart (its static image is below).'; } };"
)


def without_chart_code(notebook: nbformat.NotebookNode) -> None:
    """Drop the 5 MB of plotly.js that every saved chart model carries (anywidget's ``_esm``):
    a committed notebook stays small, and a reader without a kernel sees each chart's static
    image; a run of the cell brings the interactive chart back."""
    saved = notebook.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json")
    for model in (saved or {}).get("state", {}).values():
        if model["model_module"] == "anywidget" and "_esm" in model["state"]:
            model["state"]["_esm"] = SAVED_CHART_MODULE


class ReadmeServer(JupyterServer):
    """The test server on ``notebooks/``, at the README's ``http://127.0.0.1:8888/`` when that
    port is free. Its root_dir is a link to ``notebooks/`` in ``scratch``, so that its own
    files (config, database, log), which go beside root_dir, stay out of the repository."""

    base_url = "/"

    def __init__(self, scratch: Path) -> None:
        root_dir = scratch / NOTEBOOKS.name
        root_dir.symlink_to(NOTEBOOKS, target_is_directory=True)
        super().__init__(root_dir, scratch / "runs.sqlite", scratch / "server.log")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", PORT)) != 0:
                self.port = PORT


if __name__ == "__main__":
    refresh([Path(arg).resolve() for arg in sys.argv[1:]] or sorted(NOTEBOOKS.glob("*.ipynb")))

"""A real browser: JupyterLab with the extension runs quickstart.ipynb in headless Chromium.

It checks what a quant sees - the widget's progress bar at 100% and Sharpe and max
drawdown with numbers - and saves a screenshot to ``artifacts/notebook-widget.png``.
Driven by Playwright's Python API on Debian's /usr/bin/chromium (no browser download).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
from playwright import sync_api
from server_process import JupyterServer

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = REPO / "artifacts" / "notebook-widget.png"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
NUMBER = r"-?[\d,]+\.\d+%?"

assert CHROMIUM.exists(), "the browser test needs Debian's chromium: apt-get install -y chromium"


class JupyterLab(JupyterServer):
    """The same server subprocess with JupyterLab left enabled (it serves /lab)."""

    def _environment(self) -> dict[str, str]:
        return dict(os.environ)


@pytest.fixture
def lab(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    notebook = nbformat.read(REPO / "notebooks" / "quickstart.ipynb", 4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    notebook.metadata.pop("widgets", None)  # no saved state: what shows is rendered live
    nbformat.write(notebook, root / "quickstart.ipynb")
    server = JupyterLab(root, tmp_path / "runs.sqlite", tmp_path / "server.log")
    server.start(timeout=120)
    yield server
    server.stop()


def test_quickstart_shows_a_live_widget_in_jupyterlab(lab):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1100})
        try:
            page.goto(f"{lab.url}lab/tree/quickstart.ipynb?token={lab.token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                                   timeout=120_000)  # fmt: skip
            news = page.get_by_role("button", name="No", exact=True)
            widget = page.locator(".qm-backtest").first
            # JupyterLab may drop the kernel socket it opened first and reconnect (a
            # jupyter_server race at kernel start), losing what was queued: run again then.
            for _attempt in range(3):
                page.wait_for_timeout(5_000)
                if news.count():
                    news.click()
                page.get_by_role("menuitem", name="Run", exact=True).click()
                page.get_by_text("Run All Cells", exact=True).click()
                try:
                    widget.wait_for(timeout=60_000)
                    break
                except sync_api.TimeoutError:
                    continue
            page.locator(".qm-metrics").first.wait_for(timeout=120_000)
            progress_text = widget.locator(".qm-progress-text").inner_text()
            assert progress_text.startswith("100.0%"), progress_text
            bar_width = widget.locator(".qm-progress .progress-bar").evaluate(
                "bar => bar.style.width || getComputedStyle(bar).width"
            )
            assert bar_width in ("100%", "100.0%"), bar_width
            metrics = page.locator(".qm-metrics").first.inner_text()
            assert re.search(rf"Sharpe\s+{NUMBER}", metrics), metrics
            assert re.search(rf"Max drawdown\s+{NUMBER}", metrics), metrics
            assert widget.locator("svg[aria-label='equity curve and drawdown']").count() == 1

            widget.scroll_into_view_if_needed()
            SCREENSHOT.parent.mkdir(exist_ok=True)
            widget.screenshot(path=str(SCREENSHOT))
        finally:
            browser.close()

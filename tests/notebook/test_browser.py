"""A real browser: JupyterLab with the extension runs quickstart.ipynb in headless Chromium.

It checks what a quant sees - the widget's progress bar at 100% and Sharpe and max
drawdown with numbers - and saves a screenshot to ``artifacts/notebook-widget.png``.
Driven by Playwright's Python API on Debian's /usr/bin/chromium (no browser download).
"""

from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path

import nbformat
import pytest
from playwright import sync_api
from server_process import JupyterServer

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = REPO / "artifacts" / "notebook-widget.png"
FAILURE_SCREENSHOT = REPO / "artifacts" / "notebook-widget-failure.png"  # the page, on failure
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
NUMBER = r"-?[\d,]+\.\d+%?"

assert CHROMIUM.exists(), "the browser test needs Debian's chromium: apt-get install -y chromium"


# JupyterLab settings of the test: every cell attached to the DOM (the default windowing mode,
# contentVisibility, leaves cells out of view unrendered, which Playwright sees as invisible),
# and no news or update prompts over the page.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


class JupyterLab(JupyterServer):
    """The same server subprocess with JupyterLab left enabled (it serves /lab)."""

    def _environment(self) -> dict[str, str]:
        settings_dir = self.root_dir.parent / "lab-settings"
        for plugin, settings in LAB_SETTINGS.items():
            path = settings_dir / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(settings))
        return {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(settings_dir)}


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

            SCREENSHOT.parent.mkdir(exist_ok=True)
            SCREENSHOT.unlink(missing_ok=True)
            screenshot_finished_widget(page, SCREENSHOT)
            width, height = png_size(SCREENSHOT)
            assert width >= 400 and height >= 200, (width, height)
        except BaseException:
            FAILURE_SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(FAILURE_SCREENSHOT), full_page=True)
            print(f"page at the failure: {FAILURE_SCREENSHOT}; server log:")
            print(lab.log_path.read_text(errors="replace")[-5000:])
            raise
        finally:
            browser.close()


def screenshot_finished_widget(page: sync_api.Page, path: Path, attempts: int = 5) -> None:
    """A screenshot of the finished widget, robust to JupyterLab re-rendering its cell.

    JupyterLab may replace the output's DOM nodes at any moment (the final state written into
    the notebook, a re-layout): a node resolved for a screenshot can be detached, or not laid
    out yet, by the time it is captured. Each attempt locates the widget afresh, waits for it
    to be visible, and captures it (Playwright scrolls to it and waits until it is still);
    failing that, it finds, scrolls to and measures the current node in one script, which no
    re-render can interrupt, and captures the page clipped to that box.
    """
    finished = page.locator(".qm-backtest", has=page.locator(".qm-metrics")).first
    errors: list[str] = []
    for _attempt in range(attempts):
        try:
            finished.wait_for(state="visible", timeout=30_000)
            page.wait_for_timeout(300)  # a re-render under way lands first
            finished.screenshot(path=str(path), timeout=10_000, animations="disabled")
            return
        except sync_api.Error as error:
            errors.append(str(error).splitlines()[0])
        box = page.evaluate(WIDGET_BOX)
        if box and box["width"] > 0 and box["height"] > 0:
            page.screenshot(path=str(path), clip=box, animations="disabled")
            return
        errors.append(f"no box: {box}")
    raise AssertionError(f"no screenshot of the widget in {attempts} attempts: {errors}")


# The finished widget's box in the viewport (JupyterLab scrolls panels, never the document).
WIDGET_BOX = """() => {
    const widget = [...document.querySelectorAll(".qm-backtest")]
        .find((element) => element.querySelector(".qm-metrics"));
    if (!widget) return null;
    widget.scrollIntoView({block: "start"});
    const r = widget.getBoundingClientRect();
    const height = Math.min(r.height, window.innerHeight - Math.max(r.y, 0));
    return {x: Math.max(r.x, 0), y: Math.max(r.y, 0), width: r.width, height: height};
}"""


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", header
    return struct.unpack(">II", header[16:24])

"""A real browser: JupyterLab with the extension runs the notebooks in headless Chromium.

quickstart.ipynb: what a quant sees - the widget's progress bar at 100%, Sharpe and max
drawdown with numbers, the interactive chart (plotly, rendered from the widget's own
bundle, zoomable) with its static image hidden - saved as ``artifacts/notebook-widget.png``.
sweep.ipynb: the sweep's heatmap and best params, saved as ``artifacts/notebook-sweep.png``.
Driven by Playwright's Python API on Debian's /usr/bin/chromium (no browser download).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import struct
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from playwright import sync_api
from server_process import JupyterServer

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "artifacts"
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
    """JupyterLab on a folder of the notebooks, their outputs and saved widget state cleared
    (what shows is rendered live), with the data they read."""
    root = tmp_path / "root"
    (root / "data").mkdir(parents=True)
    for name in ("quickstart.ipynb", "sweep.ipynb"):
        notebook = nbformat.read(REPO / "notebooks" / name, 4)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        notebook.metadata.pop("widgets", None)
        nbformat.write(notebook, root / name)
    for data in (REPO / "notebooks" / "data").iterdir():
        (root / "data" / data.name).write_bytes(data.read_bytes())
    server = JupyterLab(root, tmp_path / "runs.sqlite", tmp_path / "server.log")
    server.start(timeout=120)
    yield server
    server.stop()


@contextlib.contextmanager
def lab_page(lab: JupyterLab, name: str) -> Iterator[sync_api.Page]:
    """Chromium on JupyterLab's page of notebook ``name``; on failure the page is saved as
    ``artifacts/<name>-failure.png`` and the server log printed."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        # tall enough for a whole display: a screenshot of it needs no scrolling
        page = browser.new_page(viewport={"width": 1280, "height": 2400})
        try:
            page.goto(f"{lab.url}lab/tree/{name}?token={lab.token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                                   timeout=120_000)  # fmt: skip
            yield page
        except BaseException:
            failure = ARTIFACTS / f"{Path(name).stem}-failure.png"
            failure.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(failure), full_page=True)
            print(f"page at the failure: {failure}; server log:")
            print(lab.log_path.read_text(errors="replace")[-5000:])
            raise
        finally:
            browser.close()


def run_all_cells(page: sync_api.Page, shown: sync_api.Locator) -> None:
    """Run All Cells until ``shown`` appears. JupyterLab may drop the kernel socket it opened
    first and reconnect (a jupyter_server race at kernel start), losing what was queued: run
    again then."""
    news = page.get_by_role("button", name="No", exact=True)
    for _attempt in range(3):
        page.wait_for_timeout(5_000)
        if news.count():
            news.click()
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_text("Run All Cells", exact=True).click()
        try:
            shown.wait_for(timeout=60_000)
            return
        except sync_api.TimeoutError:
            continue


def test_quickstart_shows_a_live_widget_in_jupyterlab(lab):
    with lab_page(lab, "quickstart.ipynb") as page:
        widget = page.locator(".qm-backtest").first
        run_all_cells(page, widget)
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
        chart = widget.locator(".js-plotly-plot")
        chart.wait_for(timeout=60_000)  # plotly.js from the widget's bundle: no network
        # the equity (a server run's chart: backtest_complete's chart, or its equity_curve)
        chart.locator(".scatterlayer .js-line").first.wait_for(timeout=60_000)
        assert widget.locator(".qm-static-chart").is_hidden()  # the live chart, shown once
        zoomed, whole = zoom_by_dragging(page, chart)
        assert zoomed < 0.6 * whole, (zoomed, whole)
        screenshot = ARTIFACTS / "notebook-widget.png"
        screenshot.parent.mkdir(exist_ok=True)
        screenshot.unlink(missing_ok=True)
        screenshot_finished_widget(page, screenshot, ".qm-backtest", ".qm-metrics")
        width, height = png_size(screenshot)
        assert width >= 400 and height >= 200, (width, height)


def test_sweep_shows_its_heatmap_and_best_params_in_jupyterlab(lab):
    with lab_page(lab, "sweep.ipynb") as page:
        widget = page.locator(".qm-sweep-widget").first
        run_all_cells(page, widget)
        best = widget.locator(".qm-sweep-best").filter(has_text="Best (")
        best.wait_for(timeout=180_000)
        assert re.search(r"fast=\d+, slow=\d+", best.inner_text()), best.inner_text()
        assert "completed" in widget.locator(".qm-sweep-line").inner_text()
        heatmap = widget.locator(".js-plotly-plot")
        heatmap.locator(".hm, .heatmaplayer image").first.wait_for(timeout=60_000)
        assert heatmap.locator(".scatterlayer .point").count() == 1  # the best cell's star
        assert widget.locator(".qm-static-chart").is_hidden()
        assert widget.locator(".qm-trial").first.is_visible()
        screenshot = ARTIFACTS / "notebook-sweep.png"
        screenshot.parent.mkdir(exist_ok=True)
        screenshot.unlink(missing_ok=True)
        screenshot_finished_widget(page, screenshot, ".qm-sweep-widget", ".qm-best-metrics")
        width, height = png_size(screenshot)
        assert width >= 400 and height >= 200, (width, height)


def zoom_by_dragging(page: sync_api.Page, chart: sync_api.Locator) -> tuple[float, float]:
    """Drag across the middle third of the equity panel, as a user zooms; the shared x
    axis's span after and before (ms), read from plotly's laid-out figure."""
    span = "(chart) => chart._fullLayout.xaxis2.range.map((v) => new Date(v).getTime())"
    before = chart.evaluate(span)
    panel = chart.locator(".nsewdrag[data-subplot='x2y2']")
    panel.scroll_into_view_if_needed()
    box = panel.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 3, y)
    page.mouse.down()
    page.mouse.move(box["x"] + 2 * box["width"] / 3, y + 2, steps=8)
    page.mouse.up()
    page.wait_for_timeout(500)
    after = chart.evaluate(span)
    page.mouse.dblclick(box["x"] + box["width"] / 2, y)  # back to the whole run
    page.wait_for_timeout(500)
    return after[1] - after[0], before[1] - before[0]


def screenshot_finished_widget(
    page: sync_api.Page, path: Path, widget: str, finished_part: str, attempts: int = 5
) -> None:
    """A screenshot of the finished widget, robust to JupyterLab re-rendering its cell.

    JupyterLab may replace the output's DOM nodes at any moment (the final state written into
    the notebook, a re-layout): a node resolved for a screenshot can be detached, or not laid
    out yet, by the time it is captured. Each attempt locates the widget afresh, waits for it
    to be visible, and captures it (Playwright scrolls to it and waits until it is still);
    failing that, it finds, scrolls to and measures the current node in one script, which no
    re-render can interrupt, and captures the page clipped to that box.
    """
    finished = page.locator(widget, has=page.locator(finished_part)).first
    errors: list[str] = []
    for _attempt in range(attempts):
        try:
            finished.wait_for(state="visible", timeout=30_000)
            page.wait_for_timeout(300)  # a re-render under way lands first
            finished.screenshot(path=str(path), timeout=10_000, animations="disabled")
            return
        except sync_api.Error as error:
            errors.append(str(error).splitlines()[0])
        box = page.evaluate(WIDGET_BOX, [widget, finished_part])
        if box and box["width"] > 0 and box["height"] > 0:
            page.screenshot(path=str(path), clip=box, animations="disabled")
            return
        errors.append(f"no box: {box}")
    raise AssertionError(f"no screenshot of the widget in {attempts} attempts: {errors}")


# The finished widget's box in the viewport (JupyterLab scrolls panels, never the document).
WIDGET_BOX = """([selector, part]) => {
    const widget = [...document.querySelectorAll(selector)]
        .find((element) => element.querySelector(part));
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

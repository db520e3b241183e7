"""The in-cell dashboard in a real JupyterLab, driven by headless Chromium.

Screenshots go to ``artifacts/ui/`` (kept by CI).
"""

from __future__ import annotations

import pytest
from _lab import LabPage

pytestmark = pytest.mark.slow

WORK_CELL = """%%mesh --name ui-dash
import time
from distributed import get_client
def slow(i):
    time.sleep(0.1)
    return i
c = get_client()
futures = c.map(slow, range(40), key=[f"uiwork-{i}" for i in range(40)])
print("total", sum(c.gather(futures)))"""


def test_dashboard_shows_one_tile_per_worker_and_full_progress(lab: LabPage) -> None:
    lab.open_notebook(
        "ui_dashboard.ipynb", ["%load_ext mesh_magics\n%mesh up --workers 2 --threads 1", WORK_CELL]
    )
    lab.run_cell(0)
    lab.wait_cell_done(0, timeout=120_000)
    lab.run_cell(1)
    dash = lab.cell(1).locator(".mesh-dash")
    dash.wait_for(timeout=60_000)  # appears while the run goes (after the 1 s threshold)
    lab.wait_cell_done(1, timeout=120_000)
    assert "total 780" in lab.cell_output(1)
    lab.cell(1).locator('.mesh-progress-total[data-percent="100"]').wait_for(timeout=30_000)
    dash.locator(".mesh-pill.finished").wait_for(timeout=30_000)
    assert dash.locator(".mesh-tile").count() == 2  # one tile per worker
    assert "uiwork" in dash.locator(".mesh-groups").inner_text()
    assert "total 780" in dash.locator(".mesh-logs").inner_text()
    dash.locator(".mesh-summary table").wait_for()
    lab.screenshot("dashboard-cell", lab.cell(1))
    assert lab.page.console_errors == []


def test_cancel_button_in_the_cell_works_while_the_kernel_is_busy(lab: LabPage) -> None:
    """A blocking run: the kernel cannot get the click, so the button goes through the
    server extension straight to the scheduler."""
    lab.open_notebook(
        "ui_dash_cancel.ipynb",
        [
            "%load_ext mesh_magics\n%mesh up --workers 1",
            "%%mesh --name ui-busy\nimport time\nfor _ in range(300):\n"
            "    time.sleep(0.1)\nprint('should not get here')",
        ],
    )
    lab.run_cell(0)
    lab.wait_cell_done(0, timeout=120_000)
    lab.run_cell(1)
    lab.cell(1).locator(".mesh-dash .mesh-pill.running").wait_for(timeout=60_000)
    button = lab.cell(1).locator(".mesh-dash .mesh-head button")
    button.wait_for(timeout=30_000)
    button.click()
    lab.cell(1).locator(".jp-OutputArea").filter(has_text="RunCancelledError").wait_for(timeout=60_000)
    lab.wait_cell_done(1, timeout=30_000)
    assert "should not get here" not in lab.cell_output(1)
    lab.cell(1).locator(".mesh-pill.cancelled").wait_for(timeout=30_000)
    lab.screenshot("dashboard-cancelled", lab.cell(1))


def test_dask_dashboard_opens_through_the_jupyter_server(lab: LabPage) -> None:
    """The panel's Dashboard button goes through the server's proxy; Bokeh's websocket too."""
    lab.open_notebook("ui_dash_proxy.ipynb", ["%load_ext mesh_magics\n%mesh up --workers 1"])
    lab.run_cell(0)
    lab.wait_cell_done(0, timeout=120_000)
    meshes = lab.server.api("GET", "mesh/api/meshes")["meshes"]
    mesh = next(m for m in meshes if m["state"] == "connected")
    page = lab.page.context.new_page()
    page.goto(lab.server.url(f"mesh/api/meshes/{mesh['id']}/dashboard/status"))
    # Bokeh draws its plots only once its document arrived over the (proxied) websocket
    page.wait_for_selector("canvas", timeout=60_000)
    lab.screenshot("dask-dashboard-proxied", page.locator("body"))
    page.close()

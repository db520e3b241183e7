"""Single Dask dashboard plots as JupyterLab panes, with dask-labextension loaded beside us.

A JupyterLab where mesh-magics and dask-labextension (in the test extra) are both active: the
panel's "Plots" menu lists the selected mesh's plots as its scheduler reports them, and a plot
opens as a pane beside the notebook, its Bokeh page and websocket served through the
authenticated dashboard proxy. Opening it again shows the same pane. Screenshots go to
``artifacts/ui/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from _lab import LabPage, LabServer, browser_page, serving, skip_reason

pytestmark = pytest.mark.slow

DASK_PLUGIN = "dask-labextension:plugin"


@pytest.fixture(scope="module")
def both_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    pytest.importorskip("dask_labextension")
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    with serving(tmp_path_factory.mktemp("lab-dask"), log_name="jupyter-lab-dask.log", others=True) as server:
        yield server


@pytest.fixture()
def both(browser: Any, both_server: LabServer, request: pytest.FixtureRequest) -> Iterator[LabPage]:
    with browser_page(browser, request) as page:
        try:
            lab = LabPage(page, both_server)
            lab.goto()
            yield lab
        finally:
            both_server.shutdown_kernels()


def test_a_plot_opens_as_a_pane_beside_dask_labextension(both: LabPage) -> None:
    page = both.page
    page.wait_for_function(f"() => window.jupyterapp.isPluginActivated({DASK_PLUGIN!r})", timeout=30_000)
    commands = set(page.evaluate("() => window.jupyterapp.commands.listCommands()"))
    assert {"mesh-magics:open-plot", "mesh-magics:pick-plot"} <= commands
    assert any(c.startswith("dask:") for c in commands)  # theirs, under their own prefix

    panel = both.open_panel()
    both.open_notebook("ui_plots.ipynb", ["%load_ext mesh_magics\n%mesh up --workers 1"])
    both.run_cell(0)
    both.wait_cell_done(0, timeout=120_000)
    panel.locator('.jp-MeshPanel-mesh[data-state="connected"]').wait_for(timeout=30_000)

    panel.locator(".jp-MeshPanel-plots").first.click()
    menu = page.locator(".jp-MeshPlotMenu")
    menu.wait_for()
    labels = [t.strip() for t in menu.locator(".lm-Menu-itemLabel").all_inner_texts()]
    # the scheduler's own list (individual-plots.json), favourites first
    assert labels[:2] == ["Open Task Stream", "Open Progress"], labels
    assert "Open Workers Memory" in labels and len(labels) >= 20, labels
    menu.locator(".lm-Menu-item").filter(has_text="Task Stream").first.click()

    pane = page.locator(".jp-MeshPlot")
    pane.wait_for(timeout=30_000)
    src = pane.locator("iframe").get_attribute("src") or ""
    assert "/mesh/api/meshes/" in src and src.endswith("/dashboard/individual-task-stream"), src
    frame = page.frame_locator(".jp-MeshPlot iframe")
    # Bokeh draws on a canvas once its document arrived over the proxied websocket
    frame.locator("canvas").first.wait_for(timeout=60_000)
    # the pane sits beside the notebook, not over it
    assert page.locator(".jp-NotebookPanel").filter(has_text="%mesh up").first.is_visible()
    both.screenshot("plot-pane")

    both.execute(
        "mesh-magics:open-plot",
        {
            "mesh": pane.get_attribute("data-mesh-id"),
            "path": "/individual-task-stream",
            "name": "Task Stream",
        },
    )
    assert page.locator(".jp-MeshPlot").count() == 1
    assert page.console_errors == []

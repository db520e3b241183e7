"""The Mesh side panel in a real JupyterLab, driven by headless Chromium.

Screenshots go to ``artifacts/ui/`` (kept by CI).
"""

from __future__ import annotations

import pytest
from _lab import LabPage

pytestmark = pytest.mark.slow

SLEEPY_CELL = """%%mesh --name ui-sleep
import time
for _ in range(1200):
    time.sleep(0.1)
print("should not get here")"""


def test_extension_loads_without_console_errors(lab: LabPage) -> None:
    """The panel's tab is in the left sidebar; opening it shows a live panel; no console errors."""
    lab.panel_tab.wait_for(state="visible")
    panel = lab.open_panel()
    panel.locator('.jp-MeshPanel-connection[data-state="live"]').wait_for()
    banner = panel.locator(".jp-MeshPanel-banner")
    assert banner.is_hidden(), banner.inner_text()
    for section in ("meshes", "nodes", "active", "history"):
        assert panel.locator(f'[data-section="{section}"]').is_visible()
    # the commands are registered (palette + notebook toolbar)
    commands = lab.page.evaluate("() => window.jupyterapp.commands.listCommands()")
    assert {"mesh-magics:open-panel", "mesh-magics:insert-cell", "mesh-magics:mesh-up"} <= set(commands)
    lab.screenshot("panel-empty")
    assert lab.page.console_errors == []


def test_cancel_a_running_cell_from_the_panel(lab: LabPage) -> None:
    """Run a sleeping %%mesh cell, cancel it from the panel, see it end as cancelled everywhere."""
    panel = lab.open_panel()
    lab.open_notebook("ui_cancel.ipynb", ["%load_ext mesh_magics\n%mesh up --workers 1", SLEEPY_CELL])

    lab.run_cell(0)
    lab.wait_cell_done(0, timeout=120_000)
    mesh = panel.locator('.jp-MeshPanel-mesh[data-state="connected"]')
    mesh.wait_for(timeout=30_000)
    panel.locator(".jp-MeshPanel-tile").first.wait_for(timeout=30_000)
    assert panel.locator(".jp-MeshPanel-tile").count() == 1

    lab.run_cell(1)
    running = panel.locator('.jp-MeshPanel-active .jp-MeshPanel-run[data-status="running"]').filter(
        has_text="ui-sleep"
    )
    running.wait_for(timeout=60_000)
    run_id = running.get_attribute("data-run-id")
    assert run_id
    lab.screenshot("panel-running")

    running.locator(".jp-MeshPanel-cancel").click()

    # the cell ends with RunCancelledError, while the kernel was busy in that very run
    lab.cell(1).locator(".jp-OutputArea").filter(has_text="RunCancelledError").wait_for(timeout=60_000)
    lab.wait_cell_done(1, timeout=30_000)
    assert "should not get here" not in lab.cell_output(1)

    # the history shows it cancelled, and nothing is left in flight
    cancelled = panel.locator(
        f'.jp-MeshPanel-history .jp-MeshPanel-run[data-run-id="{run_id}"][data-status="cancelled"]'
    )
    cancelled.wait_for(timeout=30_000)
    panel.locator(f'.jp-MeshPanel-active [data-run-id="{run_id}"]').wait_for(state="detached")

    # its detail opens with the log tails
    cancelled.click()
    panel.locator(f'.jp-MeshPanel-detail[data-run-id="{run_id}"] .jp-MeshPanel-log').first.wait_for()
    lab.screenshot("panel-cancelled")
    lab.screenshot("cell-cancelled", lab.cell(1))

    # history filters: by status, then by text (other tests' runs may be there too)
    history = panel.locator('[data-section="history"]')
    status = panel.locator(".jp-MeshPanel-statusFilter")
    status.select_option("finished")
    cancelled.wait_for(state="detached", timeout=15_000)
    assert set(_statuses(history)) <= {"finished"}
    status.select_option("cancelled")
    cancelled.wait_for(timeout=15_000)
    assert set(_statuses(history)) == {"cancelled"}
    status.select_option("")
    search = panel.locator(".jp-MeshPanel-search")
    search.fill("no-such-text-anywhere")
    history.get_by_text("No run matches.").wait_for(timeout=15_000)
    search.fill("ui-sleep")
    cancelled.wait_for(timeout=15_000)
    lab.screenshot("panel-history-search")
    assert lab.page.console_errors == []


def test_history_filters_by_user(lab: LabPage, lab_server) -> None:
    """Runs of two users in the history the server reads: the user filter offers both and
    shows one user's runs only."""
    from mesh_magics.store.history import History

    path = lab_server.base / "user-data" / "mesh-magics" / "history.sqlite3"  # its default path
    with History(path) as h:
        for i, who in enumerate(["ui-ann", "ui-bob", "ui-ann"]):
            h.add(f"ui-user-{i}", mesh="tcp://127.0.0.1:9", source="# ui-user-filter", name=f"ui-user-{i}",
                  status="finished", user=who)  # fmt: skip
    panel = lab.open_panel()
    history = panel.locator('[data-section="history"]')
    # the "all" choices are there even with no mesh (an empty select once hid them)
    panel.locator('.jp-MeshPanel-meshFilter option[value=""]').wait_for(state="attached", timeout=15_000)
    assert panel.locator(".jp-MeshPanel-meshFilter option").first.inner_text() == "all meshes"
    panel.locator(".jp-MeshPanel-search").fill("ui-user-filter")
    history.locator('.jp-MeshPanel-run[data-run-id="ui-user-1"]').wait_for(timeout=15_000)
    user = panel.locator(".jp-MeshPanel-userFilter")
    user.locator('option[value="ui-bob"]').wait_for(state="attached", timeout=15_000)
    user.select_option("ui-ann")
    history.locator('.jp-MeshPanel-run[data-run-id="ui-user-1"]').wait_for(state="detached", timeout=15_000)
    assert sorted(_ids(history)) == ["ui-user-0", "ui-user-2"]
    lab.screenshot("panel-history-user")
    user.select_option("")
    history.locator('.jp-MeshPanel-run[data-run-id="ui-user-1"]').wait_for(timeout=15_000)
    assert user.evaluate("s => s.options[s.selectedIndex].text") == "all users"
    assert lab.page.console_errors == []


def _ids(history) -> list[str]:
    return history.locator(".jp-MeshPanel-run").evaluate_all("rows => rows.map(r => r.dataset.runId)")


def _statuses(history) -> list[str]:
    return history.locator(".jp-MeshPanel-run").evaluate_all("rows => rows.map(r => r.dataset.status)")


def test_commands_insert_visible_cells(lab: LabPage) -> None:
    """The toolbar/palette commands insert cells the user can see; %mesh up runs as a normal cell."""
    lab.open_notebook("ui_commands.ipynb", ["x = 1"])
    toolbar = lab.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-NotebookPanel-toolbar")
    toolbar.locator('[data-jp-item-name="mesh-insert-cell"]').wait_for()
    toolbar.locator('[data-jp-item-name="mesh-up"]').wait_for()

    lab.execute("mesh-magics:insert-cell")
    assert lab.active_cell()[1] == "%%mesh\n"

    lab.execute("mesh-magics:mesh-up", {"workers": 1}, wait=False)
    notebook = lab.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    notebook.locator(".jp-Cell").filter(has_text="%mesh up --workers 1").wait_for()
    index, source = lab.active_cell()
    assert source == "%load_ext mesh_magics\n%mesh up --workers 1"
    lab.wait_cell_done(index, timeout=120_000)
    panel = lab.open_panel()
    panel.locator('.jp-MeshPanel-mesh[data-state="connected"]').wait_for(timeout=30_000)
    panel.locator(".jp-MeshPanel-dashboard").first.wait_for()
    lab.screenshot("commands-mesh-up")
    assert lab.page.console_errors == []


BATCH_CELL = """%%mesh map range(3) --name ui-batch
if item == 1:
    raise ValueError("item one fails")
item * 10"""
CACHED_CELL = "%%mesh --cache --name ui-cached\n6 * 7"


def test_batch_items_and_cache_hits_in_the_panel(lab: LabPage) -> None:
    """A %%mesh map batch shows its item counts in the history and its items in the detail;
    a run served from the result cache is marked so and links to the run it replays."""
    panel = lab.open_panel()
    lab.open_notebook(
        "ui_batch_cache.ipynb",
        ["%load_ext mesh_magics\n%mesh up --workers 1", BATCH_CELL, CACHED_CELL, CACHED_CELL],
    )
    for i in range(4):
        lab.run_cell(i)
        lab.wait_cell_done(i, timeout=120_000)
    assert "2/3 finished, 1 failed" in lab.cell_output(1) and "item one fails" in lab.cell_output(1)
    assert "42" in lab.cell_output(3) and "cached (from run ui-cached" in lab.cell_output(3)
    # the notice is plain output, not the red of stderr
    assert lab.cell(3).locator('[data-mime-type="application/vnd.jupyter.stderr"]').count() == 0

    history = panel.locator('[data-section="history"]')
    panel.locator(".jp-MeshPanel-search").fill("ui-")
    batch = history.locator(".jp-MeshPanel-run").filter(has_text="ui-batch")
    batch.locator('[data-badge="batch"]').filter(has_text="batch 2/3").wait_for(timeout=30_000)
    assert "1 failed" in batch.locator('[data-badge="batch"]').get_attribute("title")
    batch.click()
    rows = panel.locator(".jp-MeshPanel-detail .jp-MeshPanel-items tbody tr")
    rows.first.wait_for(timeout=15_000)
    items = rows.evaluate_all("rows => rows.map(r => [r.dataset.item, r.dataset.status])")
    assert items == [["1", "failed"], ["0", "finished"], ["2", "finished"]], items
    assert "item one fails" in rows.first.inner_text()
    lab.screenshot("panel-batch-items")

    cached = history.locator(".jp-MeshPanel-run").filter(has_text="ui-cached")
    cached.first.wait_for(timeout=15_000)
    hit = cached.filter(has=lab.page.locator('[data-badge="cached"]'))
    hit.wait_for(timeout=30_000)
    assert cached.count() == 2 and hit.count() == 1
    original = cached.filter(has_not=lab.page.locator('[data-badge="cached"]')).get_attribute("data-run-id")
    hit.click()
    link = panel.locator(".jp-MeshPanel-detail .jp-MeshPanel-cachedFrom")
    link.wait_for(timeout=15_000)
    assert link.get_attribute("data-run-id") == original
    lab.screenshot("panel-cache-hit")
    link.click()
    panel.locator(f'.jp-MeshPanel-detail[data-run-id="{original}"]').wait_for(timeout=15_000)
    assert panel.locator('.jp-MeshPanel-detail [data-badge="cached"]').count() == 0
    assert lab.page.console_errors == []

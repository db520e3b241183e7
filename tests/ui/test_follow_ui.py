"""``%mesh follow`` in a real JupyterLab: the alert table fills in while Core mines new blocks.

The test process grows a regtest chain with Bitcoin Core's validation engine (the story of
tests/_follow.py); the notebook's kernel follows its data directory on its mesh. A
screenshot goes to ``artifacts/ui/``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from _lab import LabPage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the story of _follow.py
from _follow import NAME, Story  # noqa: E402

pytestmark = pytest.mark.slow


def test_the_alert_table_updates_as_blocks_arrive(lab: LabPage, tmp_path: Path) -> None:
    pytest.importorskip("pbk")
    from mesh_magics.chain.regtest import Regtest

    with Regtest(tmp_path / "node") as chain:
        story = Story(chain)
        story.funding(105)
        lab.open_notebook("ui_follow.ipynb", [
            "%load_ext mesh_magics\n%mesh up --workers 1 --threads 1 --cpu",
            f"%mesh follow {chain.datadir} --network regtest --min-share 0.01 --min-btc 60 --depth 3 --interval 0.2",
        ])  # fmt: skip
        lab.run_cell(0)
        lab.wait_cell_done(0, timeout=120_000)
        lab.run_cell(1)
        table = lab.cell(1).locator(".mesh-alerts")
        table.wait_for(timeout=60_000)
        table.locator(".mesh-pill.following").wait_for(timeout=60_000)
        lab.page.wait_for_function(  # the catch-up batch arrived
            "() => [...document.querySelectorAll('.mesh-alerts .mesh-head span')]"
            ".some(s => s.textContent.includes('block 105'))",
            timeout=240_000,
        )
        assert table.locator(".mesh-alerts-table tbody tr").count() == 0
        story.commit()
        story.reveal()
        story.mints()
        rune_tx, btc_tx = story.whales()
        rows = table.locator(".mesh-alerts-table tbody tr")
        lab.page.wait_for_function(
            "() => document.querySelectorAll('.mesh-alerts-table tbody tr').length === 2", timeout=240_000
        )
        first, second = rows.nth(0).inner_text(), rows.nth(1).inner_text()
        assert "BTC" in first and "100.00000000 BTC" in first  # newest first
        assert NAME in second and "6,000.00 W" in second and "59.88%" in second
        assert rows.nth(1).locator("td.txid").get_attribute("title") == rune_tx.txid
        assert "2 alerts" in table.locator(".mesh-head").inner_text()
        lab.screenshot("follow-alerts", lab.cell(1))
        assert lab.page.console_errors == []

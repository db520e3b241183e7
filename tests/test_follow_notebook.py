"""The notebook side of following the tip: the alert table's text fallbacks, the session's history
row through the core recorder, and ``%mesh follow`` in a real kernel while Core mines new blocks."""

from __future__ import annotations

import json

import dask
import pandas as pd
import pytest
from _follow import NAME, Story
from _kernel import Kernel

from mesh_magics.core.recorder import RunRecorder
from mesh_magics.dashboard.alerts import AlertTable, alerts_snapshot
from mesh_magics.runes.tip.alerts import ALERT_COLUMNS, alert_line, display_rows, format_units
from mesh_magics.store.history import History

ALERTS = pd.DataFrame(
    [
        ["rune", 114, "ab" * 32, "2024-04-20", "cd" * 32, "111:1", NAME, "W", 2, 600_000, 1_002_000,
         600_000 / 1_002_000, "bcrt1qalice", "bcrt1qcarol"],
        ["btc", 114, "ab" * 32, "2024-04-20", "ef" * 32, None, None, "₿", 8, 100 * 10**8, None, None, None, None],
        ["rune", 115, "aa" * 32, "2024-04-20", "12" * 32, "111:1", NAME, "W", 2, 2**100, 2**101, 0.5, None, "x"],
    ],
    columns=ALERT_COLUMNS,
)  # fmt: skip


def test_amounts_are_shown_exactly_with_their_divisibility():
    assert format_units(600_000, 2) == "6,000.00"
    assert format_units(5, 8) == "0.00000005"
    assert format_units(2**100, 0) == f"{2**100:,}"  # u128: no float on the way
    assert format_units(2**100, 2) == f"{2**100 // 100:,}.{2**100 % 100:02d}"
    rows = display_rows(ALERTS)
    assert [r["block"] for r in rows] == [115, 114, 114]  # newest first
    assert rows[1] | {"txid": ""} == {"kind": "btc", "block": 114, "rune": "BTC", "amount": "100.00000000 BTC",
                                      "share": "", "txid": "", "sender": "", "receiver": ""}  # fmt: skip
    assert rows[2]["amount"] == "6,000.00 W" and rows[2]["share"] == "59.88%"
    assert alert_line(rows[2]) == (
        f"block 114 rune alert: {NAME} 6,000.00 W (59.88% of supply) tx {'cd' * 32} bcrt1qalice -> bcrt1qcarol"
    )


def test_the_alert_table_has_a_text_fallback_and_stays_bounded():
    w = AlertTable(title="/data/node", network="regtest", max_rows=2)
    empty = alerts_snapshot(w)
    assert empty["text/plain"].splitlines() == [
        "follow /data/node (regtest): ready, nothing indexed yet, 0 alerts",
        "  no alerts yet",
    ]
    w.show(display_rows(ALERTS), status="following", height=115, tip=116, n_alerts=3, reorgs=1, retracted=2,
           note="reorg: block 114 replaced")  # fmt: skip
    assert len(w.rows) == 2  # the newest two of three
    text = w.snapshot()["text/plain"].splitlines()
    assert (
        text[0]
        == "follow /data/node (regtest): following, block 115 (tip 116), 3 alerts, 1 reorg, 2 retracted"
    )
    assert text[1] == "  reorg: block 114 replaced"
    assert text[2].split() == ["block", "rune", "amount", "share", "txid", "from", "to"]
    assert text[3].split()[:3] == ["115", NAME, f"{2**100 // 100:,}.{2**100 % 100:02d}"]
    assert text[4].split()[:4] == ["114", "BTC", "100.00000000", "BTC"]
    html = w.snapshot()["text/html"]
    assert html.count("<tr>") == 3 and "&lt;" not in NAME and "reorg: block 114 replaced" in html
    bundle = w._repr_mimebundle_()
    assert (
        bundle["text/plain"] == w.snapshot()["text/plain"]
        and "application/vnd.jupyter.widget-view+json" in bundle
    )


def test_a_session_row_goes_through_the_core_recorder(tmp_path):
    with dask.config.set({"mesh.history.path": str(tmp_path / "h.sqlite3")}):
        rec = RunRecorder(mesh="tcp://127.0.0.1:1", kernel_id="k", session="s")
        row = rec.open_session(name="follow /node", source="%mesh follow /node --network regtest")
        row.note(["block 114 rune alert: X"], {"follow": {"alerts": 1}})
        with History(tmp_path / "h.sqlite3") as h:
            got = h.get(row.id)
            assert got["status"] == "running" and got["stdout_tail"] == "block 114 rune alert: X"
            assert got["summary"] == {"follow": {"alerts": 1}} and got["source"].startswith("%mesh follow")
        row.note(["block 115 btc alert: Y"])
        row.end("finished", summary={"follow": {"alerts": 2}})
        row.end("failed")  # once: the first end stands
        with History(tmp_path / "h.sqlite3") as h:
            got = h.get(row.id)
        rec.close()
    assert got["status"] == "finished" and got["finished"] >= got["started"]
    assert got["stdout_tail"].splitlines() == ["block 114 rune alert: X", "block 115 btc alert: Y"]
    assert got["summary"]["follow"] == {"alerts": 2} and got["summary"]["duration"] >= 0


# -- %mesh follow in a real kernel --------------------------------------------------------


@pytest.fixture()
def kernel(tmp_path):
    k = Kernel({"DASK_MESH__HISTORY__PATH": str(tmp_path / "history.sqlite3"),
                "DASK_MESH__REGISTRY__PATH": str(tmp_path / "registry")})  # fmt: skip
    yield k
    k.close()


def ok(cell):
    assert cell.status == "ok", cell.all_text
    return cell


@pytest.mark.kernel
def test_mesh_follow_in_a_kernel_streams_alerts_into_the_table_and_the_history(kernel, tmp_path):
    pytest.importorskip("pbk")
    from mesh_magics.chain.regtest import Regtest

    with Regtest(tmp_path / "node") as chain:
        story = Story(chain)
        story.funding(105)
        ok(kernel.run("%load_ext mesh_magics"))
        ok(kernel.run("%mesh up --workers 1 --threads 1 --cpu", timeout=120))
        bad = kernel.run(f"%mesh follow {chain.datadir} --network mainnet")
        assert bad.status == "error" and "are regtest's, not mainnet's" in bad.all_text
        bad = kernel.run(f"%mesh follow {chain.datadir} --network regtest --min-share 5")
        assert bad.status == "error" and "--min-share must be a share of supply in (0, 1]" in bad.all_text
        c = ok(kernel.run(f"%mesh follow {chain.datadir} --network regtest --min-share 0.01 --min-btc 60 --depth 3 "
                          "--interval 0.2 -o fs"))  # fmt: skip
        shown = [m.content["data"] for m in c.msgs if m.type == "display_data"]
        assert shown and shown[0]["text/plain"].startswith(f"follow {chain.datadir} (regtest): following")
        assert "application/vnd.jupyter.widget-view+json" in shown[0]
        ok(kernel.run("assert fs.follow.wait_for(lambda f: f.height == 105, 240), fs.follow", timeout=260))
        story.commit()
        story.reveal()
        story.mints()
        rune_tx, btc_tx = story.whales()
        # the follow counts its alerts before its batch reaches the table: wait for the table too
        c = ok(kernel.run("assert fs.follow.wait_for(lambda f: f.n_alerts == 2, 240), fs.follow\n"
                          "import time\n_until = time.time() + 60\n"
                          "while ', 2 alerts' not in fs.text() and time.time() < _until:\n    time.sleep(0.05)\n"
                          "print(fs.text())", timeout=320))  # fmt: skip
        text = c.all_text
        assert "6,000.00 W" in text and "59.88%" in text and "100.00000000 BTC" in text
        assert text.index("BTC") < text.index(NAME)  # newest first; the BTC alert follows the rune one
        # the widget streamed: a comm update carried the alert rows while the follow ran
        updates = [m.content["data"]["state"] for m in kernel.msgs if m.type == "comm_msg"
                   and "rows" in m.content.get("data", {}).get("state", {})]  # fmt: skip
        assert any(any(r["txid"] == rune_tx.txid for r in u["rows"]) for u in updates)
        c = ok(kernel.run("%mesh follow --stop"))
        assert f"at block {story.whale_height}: 2 alert(s), 0 reorg(s)" in c.all_text
        c = ok(kernel.run("%mesh follow --stop"))
        assert "no follow is running" in c.all_text
    c = ok(kernel.run(
        "import json\nfrom mesh_magics.store.history import History\n"
        "r = History().query(1, grep='follow')[0]\n"
        "print(json.dumps({k: r[k] for k in ('status', 'name', 'source', 'stdout_tail', 'summary')}))"
    ))  # fmt: skip
    row = json.loads(c.texts("stream")[-1])
    assert row["status"] == "finished" and row["name"] == f"follow {chain.datadir}"
    assert row["source"].startswith(f"%mesh follow {chain.datadir} --network regtest")
    lines = row["stdout_tail"].splitlines()
    assert (
        f"block {story.whale_height} rune alert: {NAME} 6,000.00 W (59.88% of supply) tx {rune_tx.txid}"
        in "\n".join(lines)
    )
    assert any(
        line.startswith(f"block {story.whale_height} btc alert: BTC 100.00000000 BTC tx {btc_tx.txid}")
        for line in lines
    )
    assert (
        row["summary"]["follow"]["alerts"] == 2 and row["summary"]["follow"]["height"] == story.whale_height
    )

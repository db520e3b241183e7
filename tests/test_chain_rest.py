"""Following a node's tip over REST, against a real HTTP server on 127.0.0.1 (real sockets).

The server answers as Core's REST interface does (``/rest/chaininfo.json``,
``/rest/blockhashbyheight/<h>.bin``, ``/rest/block/<hash>.bin``,
``/rest/spenttxouts/<hash>.bin``) from the Core-written fixture chain: its blocks as Core
stored them, its spent coins from Core's undo records (read with the reference parser).
It can switch branches (the stale block at 110, then the best chain: a reorg at the tip)
and play an older node without ``spenttxouts``.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest
from _chain import cached, main_chain

from mesh_magics.chain.blocklist import from_blocks
from mesh_magics.chain.format.framing import dexor
from mesh_magics.chain.format.undo import parse_block_undo, serialize_spent_txouts
from mesh_magics.chain.source.index import read_index
from mesh_magics.chain.source.rest import RestFollower
from mesh_magics.errors import ChainError

pytest.importorskip("pbk")
pytest.importorskip("plyvel")


@pytest.fixture(scope="module")
def main(tmp_path_factory):
    return cached(tmp_path_factory, "chain-main", main_chain)


class Node:
    """What the fake node serves: one branch of blocks, and Core's undo data for every block."""

    def __init__(self, fixture) -> None:
        blocks_dir = fixture.datadir / "blocks"
        rev = np.fromfile(blocks_dir / "rev00000.dat", dtype=np.uint8)
        dexor(rev, fixture.key, 0)
        self.spent = {}
        for e in read_index(blocks_dir):
            if e.undo_pos > 0:
                size = int.from_bytes(rev[e.undo_pos - 4 : e.undo_pos].tobytes(), "little")
                coins = parse_block_undo(rev[e.undo_pos : e.undo_pos + size].tobytes())
                self.spent[e.hash[::-1].hex()] = serialize_spent_txouts(coins)
        self.raw = {b.hash_hex: b.raw for b in fixture.best + fixture.stale}
        self.branch: list[str] = []
        self.has_spent = True
        self.requests: list[str] = []


def _server(node: Node) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def _send(self, code: int, body: bytes, kind: str = "application/octet-stream") -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):  # noqa: N802  (http.server's name)
            node.requests.append(self.path)
            parts = self.path.split("/")
            if self.path == "/rest/chaininfo.json":
                info = {"chain": "regtest", "blocks": len(node.branch) - 1, "bestblockhash": node.branch[-1]}
                return self._send(200, json.dumps(info).encode(), "application/json")
            if parts[2] == "blockhashbyheight" and parts[3].endswith(".bin"):
                h = int(parts[3][:-4])
                if h >= len(node.branch):
                    return self._send(404, b"Block height out of range\r\n", "text/plain")
                return self._send(200, bytes.fromhex(node.branch[h])[::-1])
            if parts[2] == "block" and parts[3].endswith(".bin") and parts[3][:-4] in node.raw:
                return self._send(200, node.raw[parts[3][:-4]])
            if parts[2] == "spenttxouts" and node.has_spent:
                h = parts[3][:-4]
                if h in node.raw:
                    return self._send(200, node.spent.get(h, b"\x01\x00"))
            return self._send(404, b"Not found\r\n", "text/plain")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture()
def served(main):
    node = Node(main)
    server = _server(node)
    yield node, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _ref(main, lo: int) -> dict[str, pd.DataFrame]:
    ref = from_blocks(main.raws, "regtest")
    return {
        n: getattr(ref, n)[getattr(ref, n)["height"] >= lo].reset_index(drop=True)
        for n in ("blocks", "txs", "outputs", "inputs")
    }


def test_following_the_tip_through_a_reorg(main, served):
    node, url = served
    node.branch = [b.hash_hex for b in main.best[:110]] + [
        main.stale[0].hash_hex
    ]  # the stale block is the tip
    f = RestFollower(url, "regtest", start=100, reorg_depth=6)
    up = f.poll()
    assert up.tip == 110 and [h for h, _ in up.added] == list(range(100, 111)) and not up.removed
    assert f.tables()["blocks"]["hash"].iloc[-1] == main.stale[0].hash_hex
    node.branch = [b.hash_hex for b in main.best]  # the longer branch wins: 110 is replaced, 111..113 added
    up = f.poll()
    assert up.removed == [(110, main.stale[0].hash_hex)]
    assert [h for h, _ in up.added] == [110, 111, 112, 113] and up.tip == 113
    assert f.poll().added == []  # nothing new
    got, want = f.tables(), _ref(main, 100)
    for name in ("blocks", "txs", "outputs"):
        pd.testing.assert_frame_equal(got[name], want[name])
    ins, wins = got["inputs"], want["inputs"]
    same = [
        "height",
        "tx_index",
        "vin",
        "prev_txid",
        "prev_vout",
        "sequence",
        "prev_value",
        "prev_script",
        "leaf_script",
        "prev_address",
    ]
    pd.testing.assert_frame_equal(ins[same], wins[same])  # values and scripts: from spenttxouts
    read_here = (
        wins["prev_height"] >= 100
    )  # heights and coinbase flags: known for coins created in blocks read here
    assert (ins.loc[read_here, "prev_height"] == wins.loc[read_here, "prev_height"]).all()
    assert ins.loc[~read_here, "prev_height"].isna().all()
    assert any(p.startswith("/rest/spenttxouts/") for p in node.requests)


def test_an_older_node_without_spenttxouts(main, served):
    node, url = served
    node.branch = [b.hash_hex for b in main.best]
    node.has_spent = False
    f = RestFollower(url, "regtest", start=0)
    assert len(f.poll().added) == 114
    got, want = f.tables(), _ref(main, 0)
    for name in ("blocks", "txs", "outputs", "inputs"):  # read from genesis: every prevout resolved here
        pd.testing.assert_frame_equal(got[name], want[name])


def test_sealed_blocks_are_handed_over(main, served):
    node, url = served
    node.branch = [b.hash_hex for b in main.best]
    f = RestFollower(url, "regtest", start=105, reorg_depth=3)
    f.poll()
    sealed = f.take_sealed()
    assert sealed["blocks"]["height"].tolist() == list(range(105, 111))
    assert [b.height for b in f.blocks] == [111, 112, 113]


def test_follow_backs_off_while_nothing_changes(main, served):
    node, url = served
    node.branch = [b.hash_hex for b in main.best[:112]]
    f = RestFollower(url, "regtest", start=111)
    waits = []

    def sleep(seconds):
        waits.append(seconds)
        if len(waits) == 4:
            node.branch.append(main.best[112].hash_hex)  # a new block arrives

    updates = list(f.follow(interval=1, max_interval=5, polls=7, sleep=sleep))
    assert [u.added for u in updates] == [[(111, main.best[111].hash_hex)], [(112, main.best[112].hash_hex)]]
    assert waits == [1, 2, 4, 5, 1]  # doubled up to the cap, back to 1 after news


def test_a_reorg_deeper_than_the_depth_is_an_error(main, served):
    node, url = served
    node.branch = [b.hash_hex for b in main.best[:110]] + [main.stale[0].hash_hex]
    f = RestFollower(url, "regtest", start=108, reorg_depth=0)
    f.poll()
    node.branch = [b.hash_hex for b in main.best]
    with pytest.raises(ChainError, match="a reorg deeper than reorg_depth=0"):
        f.poll()


def test_an_unreachable_node(main):
    f = RestFollower("http://127.0.0.1:9", "regtest", timeout=2)
    with pytest.raises(ChainError, match="cannot reach the node's REST interface"):
        f.poll()

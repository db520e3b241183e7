"""``DatadirFollower``: a data directory's tip followed while Bitcoin Core's engine writes it.

A node that runs keeps its block index in memory (an embedded libbitcoinkernel writes none
until it closes); the follower reads the blocks and undo records the node appends, links
them and takes the most-work connected tip, and resumes from the index's positions when the
index is on disk."""

from __future__ import annotations

import pytest

from mesh_magics.chain.source.index import read_index
from mesh_magics.chain.source.tail import DatadirFollower
from mesh_magics.errors import ChainError

pytest.importorskip("pbk")
from mesh_magics.chain.regtest import Regtest  # noqa: E402


def heights(up):
    return [h for h, _ in up.added], [h for h, _ in up.removed]


def test_following_while_core_writes_the_files_through_reorgs(tmp_path):
    with Regtest(tmp_path / "node", xor_key=bytes(range(1, 9))) as c:
        c.mine(n=3)
        assert read_index(c.datadir / "blocks", copy=True) == []  # nothing of the index on disk yet
        f = DatadirFollower(c.datadir, "regtest", start=0, reorg_depth=2)
        up = f.poll()
        assert heights(up) == ([0, 1, 2, 3], []) and up.tip == 3
        assert [x for _, x in up.added] == [c.block(h).hash_hex for h in range(4)]
        assert f.poll().added == []
        c.mine(n=2)
        assert heights(f.poll()) == ([4, 5], [])
        old5 = c.block(5).hash_hex
        s1 = c.mine(parent=c.block(4))  # a competing branch, longer: Core switches
        s2 = c.mine(parent=s1)
        up = f.poll()
        assert up.removed == [(5, old5)] and up.added == [(5, s1.hash_hex), (6, s2.hash_hex)]
        assert f.seal() == [(h, c.block(h).hash_hex) for h in range(5)]  # the last reorg_depth stay
        got = f.tables(5, 6).compute(scheduler="sync")
        assert got["blocks"]["hash"].tolist() == [s1.hash_hex, s2.hash_hex]
        assert got["inputs"]["prev_txid"].tolist() == ["0" * 64] * 2  # coinbases only
        with pytest.raises(ChainError, match="not all held"):
            f.tables(3, 6)
        # a branch from below the sealed blocks: deeper than reorg_depth
        fork = c.block(3)
        for _ in range(5):
            fork = c.mine(parent=fork)
        with pytest.raises(ChainError, match="a reorg deeper than reorg_depth=2"):
            f.poll()


def test_resuming_from_the_index_once_the_node_flushed_it(tmp_path):
    node = tmp_path / "node"
    with Regtest(node) as c:
        c.mine(n=5)
        first = [c.block(h).hash_hex for h in range(6)]
    f = DatadirFollower(node, "regtest", start=4)  # the node stopped: its index is on disk
    assert f.poll().added == [(4, first[4]), (5, first[5])]
    with Regtest(node) as c:  # running again: new blocks only in the files
        c.mine(n=2)
        up = f.poll()
        assert up.added == [(6, c.block(6).hash_hex), (7, c.block(7).hash_hex)] and up.tip == 7
        txs = f.tables(4, 7).txs.compute(scheduler="sync")
        assert txs["height"].tolist() == [4, 5, 6, 7]
    # the tip by default, and bad input
    assert DatadirFollower(node, "regtest").poll().added == [(7, up.added[-1][1])]
    assert DatadirFollower(node, "regtest", start=9).poll().added == []  # not there yet
    with pytest.raises(ChainError, match="are regtest's, not signet's: pass network='regtest'"):
        DatadirFollower(node, "signet")
    with pytest.raises(ChainError, match="reorg_depth must be 0 or more"):
        DatadirFollower(node, "regtest", reorg_depth=-1)

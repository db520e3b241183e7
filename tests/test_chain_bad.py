"""Bad input: each damage to a Core-written data directory is a clear error, or a block set aside.

Truncated block and undo files, a record with another network's magic, a block whose
merkle root does not match its transactions, an index entry pointing past the end of a
file or at another block, a record whose size disagrees with its block, undo data that
does not line up with its block (right checksum, wrong shape) or that is another
block's. Each raises a :class:`~mesh_magics.errors.ChainError` naming the file, the
offset and the block (height and hash) with what to do; with ``on_bad="skip"`` the
block is left out, listed in ``.bad`` with its reason, and the other blocks (their
prevouts from undo data included) are as they were. Never a silently wrong table.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from _chain import cached, copy_datadir, main_chain

import mesh_magics.chain as chain
from mesh_magics.chain.blocklist import from_blocks
from mesh_magics.chain.format.build import compact
from mesh_magics.chain.format.tx import double_sha256
from mesh_magics.chain.format.undo import Coin, read_varint, serialize_block_undo, write_varint
from mesh_magics.chain.source.index import read_index
from mesh_magics.errors import ChainError

pytest.importorskip("pbk")
plyvel = pytest.importorskip("plyvel")
MAGIC = bytes.fromhex("fabfb5da")


@pytest.fixture(scope="module")
def main(tmp_path_factory):
    return cached(tmp_path_factory, "chain-main", main_chain)


@pytest.fixture()
def node(main, tmp_path):
    return copy_datadir(main, tmp_path / "node")


def _entry(node: Path, height: int, main) -> object:
    want = main.best[height].hash
    return next(e for e in read_index(node / "blocks") if e.hash == want)


def _write(node: Path, name: str, offset: int, plain: bytes, key: bytes) -> None:
    """Write ``plain`` at ``offset`` of a blk/rev file as Core would: XOR'd by file offset."""
    data = bytes(b ^ key[(offset + i) % 8] for i, b in enumerate(plain))
    with open(node / "blocks" / name, "r+b") as f:
        f.seek(offset)
        f.write(data)


def _set_index(node: Path, block_hash: bytes, **changes: int) -> None:
    """Rewrite a block's index record with some of file, data_pos, undo_pos changed."""
    db = plyvel.DB(str(node / "blocks" / "index"), compression=None)
    try:
        v = db.get(b"b" + block_hash)
        p, fields = 0, []
        for _ in range(4):
            n, p = read_varint(v, p)
            fields.append(n)
        status = fields[2]
        tail = {}
        for name, bit in (("file", 8 | 16), ("data_pos", 8), ("undo_pos", 16)):
            if status & bit:
                tail[name], p = read_varint(v, p)
        tail.update(changes)
        out = (
            b"".join(write_varint(n) for n in fields) + b"".join(write_varint(tail[k]) for k in tail) + v[p:]
        )
        db.put(b"b" + block_hash, out)
    finally:
        db.close()


def _skipped(node: Path, main, height: int, reason: str) -> pd.DataFrame:
    got = chain.read(node, on_bad="skip").compute(scheduler="sync")
    bad = got["bad"]
    assert bad["height"].tolist() == [height] and reason in bad["reason"].iloc[0]
    assert bad["hash"].iloc[0] == main.best[height].hash_hex
    ref = from_blocks(main.raws, "regtest")
    for name in ("blocks", "txs", "outputs", "inputs"):
        want = getattr(ref, name)
        want = want[want["height"] != height].reset_index(drop=True)
        pd.testing.assert_frame_equal(got[name].reset_index(drop=True), want)  # the rest is untouched
    return bad


def test_a_truncated_block_file(main, node):
    e = _entry(node, 113, main)
    os.truncate(node / "blocks" / "blk00000.dat", e.data_pos + 40)
    with pytest.raises(
        ChainError,
        match=rf"block 113 \({main.best[113].hash_hex}\) in blk00000.dat at offset {e.data_pos - 8}: .*runs past the end of blk00000.dat.*truncated",
    ):
        chain.read(node).blocks.compute(scheduler="sync")
    bad = _skipped(node, main, 113, "truncated")
    assert bad["file"].iloc[0] == "blk00000.dat" and bad["offset"].iloc[0] == e.data_pos - 8


def test_a_truncated_undo_file(main, node):
    e = _entry(node, 113, main)
    os.truncate(node / "blocks" / "rev00000.dat", e.undo_pos + 1)
    with pytest.raises(ChainError, match=r"block 113 .* in rev00000.dat at offset \d+: .*truncated"):
        chain.read(node).txs.compute(scheduler="sync")
    _skipped(node, main, 113, "truncated")


def test_an_index_entry_past_the_end_of_the_file(main, node):
    size = (node / "blocks" / "blk00000.dat").stat().st_size
    _set_index(node, main.best[50].hash, data_pos=size + 1000)
    with pytest.raises(
        ChainError,
        match=r"block 50 \(.*\) in blk00000.dat at offset \d+: the index places it past the end of blk00000.dat",
    ):
        chain.read(node).blocks.compute(scheduler="sync")
    _skipped(node, main, 50, "past the end")


def test_an_index_entry_pointing_at_another_block(main, node):
    other = _entry(node, 71, main)
    _set_index(node, main.best[70].hash, data_pos=other.data_pos)
    with pytest.raises(
        ChainError,
        match=rf"block 70 .*: the block here hashes to {main.best[71].hash_hex}.*index and the block files disagree",
    ):
        chain.read(node).blocks.compute(scheduler="sync")


def test_a_record_with_another_networks_magic(main, node):
    e = _entry(node, 60, main)
    _write(node, "blk00000.dat", e.data_pos - 8, bytes.fromhex("f9beb4d9"), main.key)
    with pytest.raises(
        ChainError,
        match=r"block 60 .* offset \d+: the record magic there is f9beb4d9, mainnet's magic, not regtest's",
    ):
        chain.read(node).blocks.compute(scheduler="sync")
    _skipped(node, main, 60, "mainnet's magic")


def test_a_block_whose_merkle_root_does_not_match(main, node):
    e = _entry(node, 108, main)
    raw = main.best[108].raw
    where = raw.index(b"\x6a" + bytes(300)) + 100  # inside the big OP_RETURN: still parses
    _write(node, "blk00000.dat", e.data_pos + where, b"\x01", main.key)
    with pytest.raises(
        ChainError,
        match=rf"block 108 \({main.best[108].hash_hex}\) in blk00000.dat at offset {e.data_pos - 8}: its merkle root does not match its 5 transactions",
    ):
        chain.read(node).txs.compute(scheduler="sync")
    got = chain.read(node, on_bad="skip").compute(scheduler="sync")
    spends_108 = got["inputs"][got["inputs"]["prev_height"] == 108]
    assert (
        len(spends_108) == 261 and spends_108["prev_value"].notna().all()
    )  # blocks 109 and 110 still know the coins they spend
    _skipped(node, main, 108, "merkle root")


def test_a_record_size_that_disagrees_with_its_block(main, node):
    e = _entry(node, 30, main)
    size = len(main.best[30].raw)
    _write(node, "blk00000.dat", e.data_pos - 4, (size + 1).to_bytes(4, "little"), main.key)
    with pytest.raises(
        ChainError, match=r"block 30 .* it does not parse: .*bytes left after its last transaction"
    ):
        chain.read(node).blocks.compute(scheduler="sync")


def test_undo_data_that_does_not_line_up_with_its_block(main, node):
    """A record with the right checksum but one coin where block 112's transaction has two inputs."""
    e = _entry(node, 112, main)
    body = serialize_block_undo([[Coin(1, True, 5000, b"\x51")]])
    checksum = double_sha256(main.best[111].hash + body)
    end = max(x.undo_pos for x in read_index(node / "blocks") if x.undo_pos > 0) + 4096  # past the used part
    record = MAGIC + len(body).to_bytes(4, "little") + body + checksum
    _write(node, "rev00000.dat", end, record, main.key)
    _set_index(node, main.best[112].hash, undo_pos=end + 8)
    with pytest.raises(
        ChainError,
        match=rf"block 112 .* in rev00000.dat at offset {end}: its undo record does not line up with the block: its count of coins differs from a transaction's inputs \(1 against 2\)",
    ):
        chain.read(node).inputs.compute(scheduler="sync")
    _skipped(node, main, 112, "does not line up")
    assert e.undo_pos != end + 8


def test_undo_data_of_another_block(main, node):
    _set_index(node, main.best[109].hash, undo_pos=_entry(node, 108, main).undo_pos)
    with pytest.raises(ChainError, match=r"block 109 .* rev00000.dat .*checksum does not match"):
        chain.read(node).inputs.compute(scheduler="sync")
    _skipped(node, main, 109, "checksum")


def test_a_bad_on_bad_is_refused(main):
    with pytest.raises(ChainError, match="on_bad must be 'raise' or 'skip'"):
        chain.read(main.datadir, on_bad="ignore")


def test_compact_helper_widths():
    assert [len(compact(n)) for n in (252, 253, 65535, 65536, 2**32)] == [1, 3, 3, 5, 9]

"""Reading a data directory Bitcoin Core wrote (through libbitcoinkernel) on a real LocalCluster.

Every table is checked against the transactions that built the chain: the reference
tables of the best chain's raw blocks (whose prevouts come from the outputs they spend)
and, explicitly, the txids, values, scripts, addresses and spent coins of each
transaction the test built. Then: the stale branch left out, the index-less plan giving
the same tables, the XOR key, heights read alone still getting their prevouts from undo
data, Parquet written once and reopened, a node's lock on its index, and Core still
loading the directory after a read.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pandas as pd
import pytest
from _chain import LEAF, XOR_KEY, cached, copy_datadir, main_chain, small_chain

import mesh_magics.chain as chain
from mesh_magics.chain.blocklist import from_blocks
from mesh_magics.chain.format.address import address
from mesh_magics.chain.source.index import HAVE_UNDO, read_index
from mesh_magics.errors import ChainError

pytest.importorskip("pbk")
pytest.importorskip("plyvel")
NAMES = ("blocks", "txs", "outputs", "inputs")


@pytest.fixture(scope="module")
def main(tmp_path_factory):
    return cached(tmp_path_factory, "chain-main", main_chain)


def _equal(got: dict, ref, names=NAMES) -> None:
    for name in names:
        pd.testing.assert_frame_equal(got[name].reset_index(drop=True), getattr(ref, name))


def test_every_table_equals_the_reference_of_the_best_chain(main, dask_client):
    tables = chain.read(main.datadir, partition_blocks=40)
    assert tables.network == "regtest" and tables.npartitions == 3
    assert tables.heights == [(0, 39), (40, 79), (80, 113)]
    got = tables.compute()
    _equal(got, from_blocks(main.raws, "regtest"))
    assert len(got["bad"]) == 0
    assert got["inputs"]["prev_value"].notna().sum() == len(got["inputs"]) - len(
        main.best
    )  # all but coinbases


def test_tables_hold_what_each_transaction_was_built_with(main):
    got = chain.read(main.datadir).compute(scheduler="sync")
    txs, ins, outs = (got[n].set_index(["height", "tx_index"]) for n in ("txs", "inputs", "outputs"))
    for height, b in main.built:
        row = txs[txs["txid"] == b.txid]
        assert len(row) == 1 and row.index[0][0] == height
        key = row.index[0]
        assert row["fee"].iloc[0] == b.fee and row["input_value"].iloc[0] == b.fee + sum(
            o.value for o in b.tx.outputs
        )
        spent = ins.loc[[key]].sort_values("vin")
        assert spent["prev_txid"].tolist() == [i.prev_txid_hex for i in b.tx.inputs]
        made = outs.loc[[key]].sort_values("vout")
        assert made["value"].tolist() == [o.value for o in b.tx.outputs]
        assert made["script"].tolist() == [lock.script for lock in b.locks]
        assert made["address"].astype(object).where(made["address"].notna(), None).tolist() == [
            address(lock.script, "regtest") for lock in b.locks
        ]
    # each spent coin, as the undo data gives it, is the output it spends
    created = got["outputs"].merge(
        got["txs"][["height", "tx_index", "txid", "is_coinbase"]], on=["height", "tx_index"]
    )
    spends = got["inputs"][got["inputs"]["prev_value"].notna()]
    joined = spends.merge(
        created, left_on=["prev_txid", "prev_vout"], right_on=["txid", "vout"], suffixes=("", "_out")
    )
    assert len(joined) == len(spends)
    assert (joined["prev_value"] == joined["value"]).all() and (
        joined["prev_script"] == joined["script"]
    ).all()
    assert (joined["prev_height"] == joined["height_out"]).all()
    assert (joined["prev_is_coinbase"] == joined["is_coinbase"]).all()
    assert (joined["prev_address"].fillna("-") == joined["address"].fillna("-")).all()
    kinds = set(joined["script_type"])
    assert {"p2pk", "p2pkh", "p2sh", "p2wsh", "p2tr"} <= kinds  # every compressed-script form of undo
    assert {len(s) for s in joined.loc[joined["script_type"] == "p2pk", "prev_script"]} == {35, 67}
    leaves = got["inputs"]["leaf_script"].dropna().tolist()
    assert LEAF in leaves and any(len(leaf) > 600 for leaf in leaves)  # the big leaf, annex skipped


def test_the_stale_branch_is_in_the_files_but_not_in_the_tables(main):
    entries = {e.hash: e for e in read_index(main.datadir / "blocks")}
    stale = entries[main.stale[0].hash]
    assert stale.height == 110 and stale.status & HAVE_UNDO  # Core connected it once, then reorganised
    blocks = chain.read(main.datadir).blocks.compute(scheduler="sync")
    assert blocks["hash"].tolist() == [b.hash_hex for b in main.best]
    assert main.stale[0].hash_hex not in set(blocks["hash"])
    # asked for, the stale tip is read with its own undo data
    alt = chain.read(main.datadir, tip=main.stale[0].hash_hex).compute(scheduler="sync")
    assert alt["blocks"]["hash"].iloc[-1] == main.stale[0].hash_hex and len(alt["blocks"]) == 111
    _equal(alt, from_blocks([b.raw for b in main.best[:110]] + [main.stale[0].raw], "regtest"))


def test_without_the_index_the_tables_are_the_same(main):
    got = chain.read(main.datadir, index=False, partition_blocks=50).compute(scheduler="sync")
    _equal(got, from_blocks(main.raws, "regtest"))


def test_the_files_are_obfuscated_and_the_key_is_applied(main, tmp_path):
    blocks = main.datadir / "blocks"
    assert (blocks / "xor.dat").read_bytes() == XOR_KEY
    head = (blocks / "blk00000.dat").read_bytes()[:8]
    assert head[:4] != bytes.fromhex("fabfb5da")  # on disk: obfuscated
    assert bytes(a ^ b for a, b in zip(head, XOR_KEY))[:4] == bytes.fromhex("fabfb5da")
    wrong = copy_datadir(main, tmp_path / "wrong")
    (wrong / "blocks" / "xor.dat").write_bytes(bytes(8))
    with pytest.raises(ChainError, match="no network's magic: blocks/xor.dat|not a Bitcoin Core block file"):
        chain.read(wrong)


def test_a_zero_key_or_no_xor_dat_reads_the_same(tmp_path):
    fx = small_chain(tmp_path / "old", key=bytes(8))
    (fx.datadir / "blocks" / "xor.dat").unlink()  # a directory from before Core 28
    _equal(chain.read(fx.datadir, "regtest").compute(scheduler="sync"), from_blocks(fx.raws, "regtest"))


def test_heights_read_alone_still_know_their_prevouts(main):
    got = chain.read(main.datadir, start=108, end=111).compute(scheduler="sync")
    assert got["blocks"]["height"].tolist() == [108, 109, 110]
    spends = got["inputs"][got["inputs"]["vin"].ge(0) & ~got["inputs"]["prev_txid"].eq("0" * 64)]
    assert spends["prev_value"].notna().all() and spends["prev_height"].min() == 1  # coins from block 1
    ref = from_blocks(main.raws, "regtest")
    want = ref.inputs[ref.inputs["height"].between(108, 110)].reset_index(drop=True)
    pd.testing.assert_frame_equal(got["inputs"].reset_index(drop=True), want)


def test_parquet_is_written_once_and_reopened(main, tmp_path, dask_client):
    tables = chain.read(main.datadir, partition_blocks=30)
    reopened = tables.to_parquet(tmp_path / "pq")
    assert reopened.heights == tables.heights and reopened.npartitions == 4
    assert sorted(p.name for p in (tmp_path / "pq" / "txs").iterdir()) == [
        f"part-0000{i}.parquet" for i in range(4)
    ]
    _equal(reopened.compute(), from_blocks(main.raws, "regtest"))
    again = chain.open(tmp_path / "pq")
    assert again.txs.npartitions == 4 and int(again.txs["fee"].sum().compute()) > 0
    with pytest.raises(ChainError, match="already holds chain tables"):
        tables.to_parquet(tmp_path / "pq")
    with pytest.raises(ChainError, match="no _chain.json"):
        chain.open(tmp_path)


def test_a_running_node_holds_the_index_lock(main, tmp_path):
    node = copy_datadir(main, tmp_path / "live")
    code = textwrap.dedent(
        """
        import sys, pbk
        cm = pbk.load_chainman(sys.argv[1], pbk.ChainType.REGTEST)
        print(cm.get_active_chain().height, flush=True)
        sys.stdin.read()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(node)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "113"  # Core has the directory open
        with pytest.raises(ChainError, match="locked by a running node.*stop bitcoind.*copy_index=True"):
            chain.read(node)
        got = chain.read(node, copy_index=True).blocks.compute(scheduler="sync")
        assert len(got) == 114
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)


def test_core_still_loads_the_directory_after_a_read(main, tmp_path):
    """plyvel's default (snappy) would rewrite the index so that Core can no longer load it."""
    from mesh_magics.chain.regtest import Regtest

    node = copy_datadir(main, tmp_path / "after")
    chain.read(node).blocks.compute(scheduler="sync")
    with Regtest(node) as c:
        assert c.tip.height == 113 and c.tip.hash == main.best[-1].hash


def test_the_datadir_can_be_given_as_its_parent_or_blocks_dir(main, tmp_path):
    root = tmp_path / "dot-bitcoin"
    copy_datadir(main, root / "regtest")
    for where, net in ((root, "regtest"), (root / "regtest", None), (root / "regtest" / "blocks", "regtest")):
        assert chain.read(where, net).heights == [(0, 113)]
    with pytest.raises(ChainError, match="are regtest's, not mainnet's: pass network='regtest'"):
        chain.read(root / "regtest", "mainnet")
    with pytest.raises(ChainError, match="no blk\\*.dat files"):
        chain.read(tmp_path / "nothing-here")

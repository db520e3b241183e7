"""The chain tables fed from bitcoin-etl exports: what the export carries equals the node's tables.

The exports are written here from the Core-written fixture chain, field by field as
bitcoin-etl writes them (two files, one gzipped, with block records); what they do not
carry (tx weight, prevout height and coinbase flag, witnesses) is null, never guessed.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest
from _chain import cached, main_chain

import mesh_magics.chain as chain
from mesh_magics.chain.format.address import address
from mesh_magics.errors import ChainError

pytest.importorskip("pbk")
ETL_TYPE = {"p2pkh": "pubkeyhash", "p2sh": "scripthash", "p2wpkh": "witness_v0_keyhash", "p2wsh": "witness_v0_scripthash",
            "p2tr": "witness_v1_taproot", "p2pk": "pubkey", "multisig": "multisig", "nulldata": "nulldata",
            "nonstandard": "nonstandard", "witness_unknown": "witness_unknown", "anchor": "witness_unknown"}  # fmt: skip
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def main(tmp_path_factory):
    return cached(tmp_path_factory, "chain-main", main_chain)


@pytest.fixture(scope="module")
def node_tables(main):
    return chain.read(main.datadir).compute(scheduler="sync")


def _export(t: dict, lo: int, hi: int) -> list[dict]:
    """bitcoin-etl's records of heights [lo, hi): blocks, then transactions."""
    blocks, txs, ins, outs = (
        t[n][t[n]["height"].between(lo, hi - 1)] for n in ("blocks", "txs", "inputs", "outputs")
    )
    recs = [{"type": "block", "number": int(b.height), "hash": b.hash, "timestamp": int(b.time), "size": int(b.size),
             "weight": int(b.weight), "transaction_count": int(b.n_tx)} for b in blocks.itertuples()]  # fmt: skip
    for tx in txs.itertuples():
        mine = ins[(ins["height"] == tx.height) & (ins["tx_index"] == tx.tx_index)]
        made = outs[(outs["height"] == tx.height) & (outs["tx_index"] == tx.tx_index)]
        inputs = [] if tx.is_coinbase else [
            {"index": int(i.vin), "spent_transaction_hash": i.prev_txid, "spent_output_index": int(i.prev_vout),
             "script_hex": "", "sequence": int(i.sequence), "type": ETL_TYPE[_kind(i.prev_script)],
             "addresses": [a] if (a := address(i.prev_script, "regtest")) else [], "value": int(i.prev_value)}
            for i in mine.itertuples()
        ]  # fmt: skip
        recs.append({
            "type": "transaction", "hash": tx.txid, "size": int(tx.size), "virtual_size": int(tx.vsize),
            "block_number": int(tx.height), "block_timestamp": 0, "index": int(tx.tx_index), "is_coinbase": bool(tx.is_coinbase),
            "inputs": inputs,
            "outputs": [{"index": int(o.vout), "script_hex": o.script.hex(), "type": ETL_TYPE[o.script_type],
                         "addresses": [o.address] if isinstance(o.address, str) else [], "value": int(o.value)} for o in made.itertuples()],
            "input_count": len(inputs), "output_count": len(made), "output_value": int(tx.output_value),
        })  # fmt: skip
    return recs


def _kind(script: bytes) -> str:
    from mesh_magics.chain.format.address import script_type

    return script_type(script)


def test_exports_feed_the_same_tables(main, node_tables, tmp_path, dask_client):
    with open(tmp_path / "part-0.json", "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in _export(node_tables, 0, 108))
    with gzip.open(tmp_path / "part-1.json.gz", "wt") as f:
        f.writelines(json.dumps(r) + "\n" for r in _export(node_tables, 108, 114))
    tables = chain.from_bitcoin_etl(str(tmp_path / "part-*"), "regtest")
    assert tables.npartitions == 2
    got = tables.compute()
    node = {k: v.reset_index(drop=True) for k, v in node_tables.items()}
    pd.testing.assert_frame_equal(got["outputs"].reset_index(drop=True), node["outputs"])
    pd.testing.assert_frame_equal(
        got["blocks"].drop(columns="prev_hash").reset_index(drop=True),
        node["blocks"].drop(columns="prev_hash"),
    )
    assert got["blocks"]["prev_hash"].isna().all()
    txs, want = got["txs"].reset_index(drop=True), node["txs"]
    carried = [c for c in want.columns if c not in ("weight", "n_in")]
    pd.testing.assert_frame_equal(txs[carried], want[carried], check_dtype=False)
    assert txs["weight"].isna().all()  # not exported: null, not 4 x vsize
    spends = node["inputs"][node["inputs"]["prev_value"].notna()].reset_index(drop=True)
    ins = got["inputs"].reset_index(drop=True)
    same = ["height", "tx_index", "vin", "prev_txid", "prev_vout", "sequence", "prev_value"]
    pd.testing.assert_frame_equal(ins[same], spends[same], check_dtype=False)
    rebuilt = ins["prev_script"].notna()
    assert (ins.loc[rebuilt, "prev_script"] == spends.loc[rebuilt, "prev_script"]).all()
    no_address = set(spends.loc[~rebuilt, "prev_script"].map(_kind))
    assert no_address == {"p2pk", "nonstandard"}  # a script without an address cannot be rebuilt
    assert ins[["prev_height", "prev_is_coinbase", "leaf_script"]].isna().all().all()
    # value analytics work on them alike
    a = chain.whale_transactions(tables, min_btc=1)
    b = chain.whale_transactions(chain.read(main.datadir), min_btc=1)
    assert a["txid"].tolist() == b["txid"].tolist() and a["fee"].tolist() == b["fee"].tolist()
    tables.to_parquet(tmp_path / "pq")  # null weights are written, the schema relaxed for them


def test_a_bad_record_names_its_file_and_line():
    sample = (
        ROOT / "tests" / "data" / "runes" / "bitcoin_etl.jsonl"
    )  # the Runes loader's fixture: not full records
    with pytest.raises(
        ChainError,
        match=r"bitcoin_etl.jsonl:1: not a bitcoin-etl transaction.*'aa11' is not a 64-digit hex txid",
    ):
        chain.from_bitcoin_etl(str(sample)).compute(scheduler="sync")
    with pytest.raises(ChainError, match="no bitcoin-etl export at"):
        chain.from_bitcoin_etl("/nonexistent/*.json")

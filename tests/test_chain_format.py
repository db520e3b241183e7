"""The reference reader of Bitcoin's serialization, on real data: the genesis block and
the transactions of ord's ledger scenarios (txids as ord's tests state them)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from mesh_magics.chain.format.tx import merkle_root, parse_block, parse_tx, tx_from_hex
from mesh_magics.errors import ChainError

SHARED = Path(__file__).resolve().parents[2] / "shared"
SCENARIOS = SHARED / "ledger_scenarios_public.json"
GENESIS_HASH = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"


def _scenarios() -> list[dict]:
    if not SCENARIOS.exists():
        pytest.skip(f"{SCENARIOS} not present")
    return json.loads(SCENARIOS.read_text())


def _genesis_block() -> bytes:
    coinbase = bytes.fromhex(_scenarios()[0]["blocks"][0]["txs"][0])
    merkle = tx_from_hex(coinbase.hex()).txid
    header = struct.pack("<i32s32sIII", 1, bytes(32), merkle, 1231006505, 0x1D00FFFF, 2083236893)
    return header + b"\x01" + coinbase


def test_the_genesis_block_hashes_to_its_known_hash():
    block = parse_block(_genesis_block())
    assert block.header.hash_hex == GENESIS_HASH
    assert block.txs[0].txid_hex == "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
    assert block.txs[0].is_coinbase and block.txs[0].outputs[0].value == 50 * 100_000_000
    assert block.size == 285 and block.weight == 285 * 4  # no witness: weight is 4 x size
    assert block.header.work == 0x100010001  # difficulty 1


def test_scenario_transactions_parse_and_their_txids_are_ords():
    ids = set()
    for scenario in _scenarios():
        for b in scenario["blocks"]:
            for raw in b["txs"]:
                tx = tx_from_hex(raw)
                assert tx.size == len(raw) // 2 and tx.base_size <= tx.size
                assert tx.has_witness == (raw[8:12] == "0001")
                ids.add(tx.txid_hex)
        for rune in scenario["expect"]["runes"]:
            assert rune["etching_txid"] in ids
        for balance in scenario["expect"]["balances"]:
            assert balance["txid"] in ids


def test_witness_transactions_keep_their_witness_apart_from_the_txid():
    reveal = next(
        tx_from_hex(raw)
        for s in _scenarios()
        for b in s["blocks"]
        for raw in b["txs"]
        if tx_from_hex(raw).has_witness
    )
    assert reveal.txid != reveal.wtxid and reveal.inputs[0].witness
    assert reveal.vsize < reveal.size and reveal.weight == reveal.base_size * 3 + reveal.size


def test_bad_bytes_are_named_errors():
    raw = bytes.fromhex(_scenarios()[0]["blocks"][0]["txs"][0])
    with pytest.raises(ChainError, match="truncated"):
        parse_tx(raw[:-10])
    with pytest.raises(ChainError, match="bytes after the transaction's end"):
        tx_from_hex(raw.hex() + "00")
    with pytest.raises(ChainError, match="not a hex transaction"):
        tx_from_hex("zz")
    block = bytearray(_genesis_block())
    block[40] ^= 1  # the merkle root no longer matches
    with pytest.raises(ChainError, match="merkle root does not match"):
        parse_block(bytes(block))
    assert merkle_root([]) == bytes(32)

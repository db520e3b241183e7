"""The reference reader of Bitcoin's serialization, on real data: the genesis block and
the transactions of ord's ledger scenarios (txids as ord's tests state them)."""

from __future__ import annotations

import struct

import pytest
from _shared import shared_json

from mesh_magics.chain.format.tx import merkle_root, parse_block, parse_tx, tx_from_hex
from mesh_magics.errors import ChainError

GENESIS_HASH = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"


def _scenarios() -> list[dict]:
    return shared_json("ledger_scenarios_public.json")


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


@pytest.mark.parametrize(
    ("script", "net", "kind", "addr"),
    [  # BIP 173 / BIP 350 test vectors, and the genesis block's pay-to-pubkey-hash address
        (
            "0014751e76e8199196d454941c45d1b3a323f1433bd6",
            "mainnet",
            "p2wpkh",
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        ),
        (
            "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
            "mainnet",
            "p2tr",
            "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
        ),
        (
            "76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888ac",
            "mainnet",
            "p2pkh",
            "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
        ),
        (
            "a914e9c3dd0c07aac76179ebc76a6c78d4d67c6c160a87",
            "mainnet",
            "p2sh",
            "3P14159f73E4gFr7JterCCQh9QjiTjiZrG",
        ),
        (
            "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262",
            "testnet3",
            "p2wsh",
            "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
        ),
        ("6a5d0114", "mainnet", "nulldata", None),
        ("51", "regtest", "nonstandard", None),
    ],
)
def test_script_types_and_addresses(script, net, kind, addr):
    from mesh_magics.chain.format.address import address, script_type

    raw = bytes.fromhex(script)
    assert script_type(raw) == kind and address(raw, net) == addr


def test_block_lists_become_the_chain_tables_with_prevouts_resolved():
    from mesh_magics.chain.blocklist import from_blocks

    scenario = _scenarios()[0]
    f = from_blocks(scenario["blocks"], scenario["network"])
    n_txs = sum(len(b["txs"]) for b in scenario["blocks"])
    assert len(f.blocks) == len(scenario["blocks"]) and len(f.txs) == n_txs
    assert list(f.txs["txid"]) == [tx_from_hex(r).txid_hex for b in scenario["blocks"] for r in b["txs"]]
    spent = f.inputs[f.inputs["prev_value"].notna()]
    assert len(spent) == n_txs - len(scenario["blocks"])  # every non-coinbase input was created earlier
    outs = f.outputs.merge(f.txs[["height", "tx_index", "txid"]], on=["height", "tx_index"])
    joined = spent.merge(outs, left_on=["prev_txid", "prev_vout"], right_on=["txid", "vout"])
    assert len(joined) == len(spent)
    assert (joined["prev_value"] == joined["value"]).all() and (
        joined["prev_script"] == joined["script"]
    ).all()
    assert (joined["prev_height"] == joined["height_y"]).all()
    fees = f.txs[~f.txs["is_coinbase"]]
    assert (fees["fee"] == fees["input_value"] - fees["output_value"]).all()
    with pytest.raises(ChainError, match="expected 1: give blocks in order"):
        from_blocks([scenario["blocks"][0], scenario["blocks"][2]], "regtest")

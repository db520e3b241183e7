"""The regtest builder: transactions with chosen inputs, outputs and witnesses, validated by Core.

The commit/reveal flow the Runes ledger will build (a P2TR output committing to a leaf
that pushes data, spent by the script path six confirmations later, with an OP_RETURN
output) comes out of the tables with its leaf script and P2TR prevout; a custom
scriptSig/witness spends any script; a block Core rejects says Core's reason.
"""

from __future__ import annotations

import pytest

import mesh_magics.chain as chain
from mesh_magics.chain.format.build import push
from mesh_magics.chain.regtest import Lock, Regtest, Utxo, subsidy
from mesh_magics.errors import ChainError

pytest.importorskip("pbk")


def test_commit_then_reveal_by_the_script_path(tmp_path):
    commitment = bytes.fromhex("0a1b2c3d4e")
    leaf = push(commitment) + b"\x75\x51"  # <commitment> OP_DROP OP_TRUE
    runestone = b"\x6a\x5d" + push(bytes.fromhex("0204d7c783d3d4e6dae723"))
    with Regtest(tmp_path / "node", xor_key=bytes(range(1, 9))) as c:
        first = c.mine()
        c.mine(n=100)
        commit = c.tx(
            [first.coinbase], [(10_000, Lock.taproot(leaf)), (first.coinbase.value - 20_000, Lock.op_true())]
        )
        at = c.mine([commit]).height
        c.mine(n=4)  # the reveal's block makes six confirmations
        reveal = c.tx([commit.utxo(0)], [(0, runestone), (546, Lock.op_true())])
        done = c.mine([reveal])
        assert done.height - at + 1 == 6
    tables = chain.read(tmp_path / "node").compute(scheduler="sync")
    ins = tables["inputs"]
    row = ins[ins["height"] == done.height].iloc[-1]
    assert row["leaf_script"] == leaf and commitment in row["leaf_script"]
    assert row["prev_script"][:2] == b"\x51\x20" and row["prev_height"] == at  # a P2TR prevout, and when
    outs = tables["outputs"]
    assert outs[(outs["height"] == done.height) & (outs["vout"] == 0)]["script"].tolist()[-1] == runestone


def test_a_custom_lock_is_spent_with_the_given_script_sig(tmp_path):
    with Regtest(tmp_path / "node") as c:
        first = c.mine()
        c.mine(n=100)
        two = Lock.raw(b"\x52\x87")  # OP_2 OP_EQUAL: anyone who pushes 2
        paid = c.tx([first.coinbase], [(10**8, two)])
        c.mine([paid])
        spend = c.tx(
            [Utxo(paid.tx.txid, 0, 10**8, Lock.custom(b"\x52\x87", script_sig=b"\x52"))],
            [(10**8 - 500, Lock.op_true())],
        )
        c.mine([spend])
        wrong = c.tx(
            [Utxo(spend.tx.txid, 0, 10**8 - 500, Lock.custom(b"\x51", witness=[b"\x01"]))],
            [(1, Lock.op_true())],
        )
        with pytest.raises(
            ChainError, match=r"Core rejected block 104 .*Witness provided for non-witness script"
        ):
            c.mine([wrong])  # a witness on a bare OP_TRUE: Core's own words come back
        assert c.tip.height == 103


def test_rejections_say_cores_reason_and_subsidy_halves(tmp_path):
    assert subsidy(149) == 50 * 10**8 and subsidy(150) == 25 * 10**8
    with Regtest(tmp_path / "node") as c:
        first = c.mine()
        too_soon = c.tx([first.coinbase], [(10, Lock.op_true())])
        with pytest.raises(ChainError, match="bad-txns-premature-spend-of-coinbase"):
            c.mine([too_soon])
        with pytest.raises(ChainError, match="exceed the inputs"):
            c.tx([first.coinbase], [(first.coinbase.value + 1, Lock.op_true())])
        with pytest.raises(ChainError, match="cannot spend"):
            Lock.raw(b"\x00").unlock(None)

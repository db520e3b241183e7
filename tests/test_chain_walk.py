"""The columnar walker against the reference parser, on generated transactions, both paths.

Hypothesis writes blocks of random transactions (legacy and segwit, up to hundreds of
inputs and outputs, scripts and witness items across every CompactSize width, standard
and odd scripts, annexes); :func:`mesh_magics.chain.columnar.build` must give exactly the
tables :func:`mesh_magics.chain.blocklist.from_blocks` gives, compiled (numba) and as
plain Python. Undo records, Core's VARINT and amount compression are checked the same
way against the reference reader and writer.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mesh_magics.chain import columnar
from mesh_magics.chain.blocklist import from_blocks
from mesh_magics.chain.format import jit, scripts, secp
from mesh_magics.chain.format.address import address, network, script_type
from mesh_magics.chain.format.build import assemble_block, make_tx, serialize_tx
from mesh_magics.chain.format.tx import TxIn, TxOut
from mesh_magics.chain.format.undo import (
    Coin,
    compress_amount,
    compress_script,
    decompress_amount,
    parse_block_undo,
    read_varint,
    serialize_block_undo,
    write_varint,
)
from mesh_magics.chain.format.undocols import UndoError, undo_columns
from mesh_magics.chain.format.walk import walk_blocks
from mesh_magics.errors import ChainError

ROOT = Path(__file__).resolve().parents[1]
MODES = ["numba", "python"] if jit.HAVE_NUMBA else ["python"]
EDGE_LENGTHS = [0, 1, 20, 75, 252, 253, 254, 520, 65535, 65536]
MAX_MONEY = 21_000_000 * 100_000_000


def _mode(name: str):
    return jit.python_only() if name == "python" else nullcontext()


def _standard(draw) -> bytes:
    kind = draw(st.integers(0, 11))
    h = draw(st.binary(min_size=32, max_size=32))
    return [
        b"\x76\xa9\x14" + h[:20] + b"\x88\xac",
        b"\xa9\x14" + h[:20] + b"\x87",
        b"\x00\x14" + h[:20],
        b"\x00\x20" + h,
        b"\x51\x20" + h,
        bytes((0x52 + kind % 15, 2 + kind)) + (h * 2)[: 2 + kind],  # witness v2..16
        b"\x51\x02\x4e\x73",
        b"\x6a\x5d" + h[: kind + 1],
        b"\x21\x03" + h + b"\xac",
        b"\x41\x04" + h + h + b"\xac",
        b"\x51\x21\x02" + h + b"\x51\xae",
        b"\x00\x15" + h[:21],  # v0 of an odd length: nonstandard
    ][kind]


@st.composite
def scripts_(draw, big: bool = True) -> bytes:
    if draw(st.booleans()):
        return _standard(draw)
    n = draw(st.sampled_from(EDGE_LENGTHS if big else EDGE_LENGTHS[:6]))
    return bytes((draw(st.integers(0, 255)),)) * n


@st.composite
def transactions(draw) -> list[bytes]:
    """A few transactions; some inputs spend outputs of earlier ones."""
    out, made = [], []
    for _ in range(draw(st.integers(1, 4))):
        n_in = draw(
            st.sampled_from([1, 2, 3, 253, 300]) if draw(st.integers(0, 9)) == 0 else st.integers(1, 4)
        )
        segwit = draw(st.booleans())
        ins = []
        for k in range(n_in):
            if made and draw(st.booleans()):
                txid, vout = made.pop(draw(st.integers(0, len(made) - 1)))
            else:
                txid, vout = draw(st.binary(min_size=32, max_size=32)), draw(st.integers(0, 2**32 - 1))
            witness = ()
            if segwit and k % 2 == 0:
                items = draw(st.lists(scripts_(big=n_in < 50), max_size=4))
                if items and draw(st.booleans()):
                    items.append(b"\x50" + bytes(draw(st.integers(0, 3))))  # an annex
                witness = tuple(items)
            sig = draw(scripts_(big=False)) if draw(st.booleans()) else b""
            ins.append(TxIn(txid, vout, sig, draw(st.integers(0, 2**32 - 1)), witness))
        n_out = draw(st.sampled_from([0, 253, 260]) if draw(st.integers(0, 9)) == 0 else st.integers(1, 4))
        outs = [TxOut(draw(st.integers(0, MAX_MONEY)), draw(scripts_(big=n_out < 50))) for _ in range(n_out)]
        tx = make_tx(ins, outs, draw(st.integers(-(2**31), 2**31 - 1)), draw(st.integers(0, 2**32 - 1)))
        out.append(serialize_tx(ins, outs, tx.version, tx.locktime))
        made += [(tx.txid, v) for v in range(n_out)]
    return out


def _blocks(tx_lists: list[list[bytes]]) -> list[bytes]:
    coinbase = make_tx([TxIn(bytes(32), 0xFFFFFFFF, b"\x51\x00", 0xFFFFFFFF)], [TxOut(5, b"\x51")])
    cb = serialize_tx(coinbase.inputs, coinbase.outputs, coinbase.version)
    blocks, prev = [], bytes(32)
    for txs in tx_lists:
        raw = assemble_block(prev, [cb, *txs], 1, bits=0x2100FFFF)  # any header meets this target
        blocks.append(raw)
        prev = bytes(32)  # hashes are not linked here: the walker does not need them
    return blocks


def _build(blocks: list[bytes], net: str = "regtest") -> dict[str, pd.DataFrame]:
    buf = np.frombuffer(b"".join(blocks), dtype=np.uint8).copy()
    pos = np.cumsum([0] + [len(b) for b in blocks])
    spans = [columnar.Span(h, int(pos[h]), int(pos[h + 1]), "mem", 0) for h in range(len(blocks))]
    return columnar.frames(columnar.build(buf, spans, network(net)).tables)


PREV = ["prev_value", "prev_script", "prev_height", "prev_is_coinbase", "prev_address"]


@pytest.mark.parametrize("mode", MODES)
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(
    tx_lists=st.lists(transactions(), min_size=1, max_size=3),
    net=st.sampled_from(["mainnet", "regtest", "signet"]),
)
def test_the_walker_gives_the_reference_tables(mode, tx_lists, net):
    blocks = _blocks(tx_lists)
    ref = from_blocks([{"height": h, "block": b} for h, b in enumerate(blocks)], net)
    with _mode(mode):
        got = _build(blocks, net)
    for name in ("blocks", "outputs"):
        pd.testing.assert_frame_equal(got[name], getattr(ref, name))
    pd.testing.assert_frame_equal(
        got["txs"].drop(columns=["input_value", "fee"]), ref.txs.drop(columns=["input_value", "fee"])
    )
    pd.testing.assert_frame_equal(got["inputs"].drop(columns=PREV), ref.inputs.drop(columns=PREV))
    assert got["inputs"][PREV].isna().all().all()  # no undo data: prevouts unknown, not guessed


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(tx_lists=st.lists(transactions(), min_size=1, max_size=3))
def test_raw_blocks_on_the_mesh_resolve_prevouts_as_the_reference(tx_lists):
    from mesh_magics.chain.reader import read_blocks

    blocks = _blocks(tx_lists)
    ref = from_blocks(blocks, "regtest")
    got = read_blocks([b.hex() for b in blocks], "regtest", partition_blocks=2).compute(scheduler="sync")
    for name in ("blocks", "txs", "outputs", "inputs"):
        pd.testing.assert_frame_equal(got[name].reset_index(drop=True), getattr(ref, name))


@st.composite
def coins(draw) -> Coin:
    script = draw(scripts_(big=False))
    if draw(st.integers(0, 3)) == 0:  # a real uncompressed key: compressed as code 4/5 with x only
        script = b"\x41" + secp.pubkey(draw(st.integers(1, 2**64)), compressed=False) + b"\xac"
    value = draw(st.one_of(st.integers(0, 21 * 10**14), st.sampled_from([0, 1, 10**8, 546, 10**15 + 7])))
    return Coin(draw(st.integers(0, 10**7)), draw(st.booleans()), value, script)


@pytest.mark.parametrize("mode", MODES)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(txs=st.lists(st.lists(coins(), min_size=1, max_size=5), max_size=6))
def test_undo_records_read_in_bulk_as_the_reference(mode, txs):
    raw = serialize_block_undo(txs)
    assert parse_block_undo(raw) == txs  # the writer and the reference reader agree
    n_in = [1] + [len(c) for c in txs]  # the coinbase, then the spending transactions
    tx_arr = np.zeros((len(n_in), 9), dtype=np.int64)
    tx_arr[:, 4] = n_in
    tx_arr[:, 6] = np.cumsum([0] + n_in[:-1])
    blocks = np.array([[len(n_in), 0, 0]], dtype=np.int64)
    ubuf = np.frombuffer(raw + b"\x00", dtype=np.uint8).copy()
    with _mode(mode):
        u = undo_columns(ubuf, np.array([0]), np.array([len(raw)]), blocks, tx_arr, sum(n_in))
    flat = [c for tx in txs for c in tx]
    assert not u.has_coin[0] and u.has_coin[1:].all()
    assert u.value[1:].tolist() == [c.value for c in flat]
    assert u.height[1:].tolist() == [c.height for c in flat]
    assert u.is_coinbase[1:].tolist() == [c.is_coinbase for c in flat]
    got = [
        u.script_data[u.script_offsets[i] : u.script_offsets[i + 1]].tobytes() for i in range(1, sum(n_in))
    ]
    assert got == [c.script if len(c.script) <= 10_000 else b"\x6a" for c in flat]


def test_undo_that_does_not_line_up_is_named():
    raw = serialize_block_undo([[Coin(5, False, 1000, b"\x51")]])
    ubuf = np.frombuffer(raw + b"\x00", dtype=np.uint8).copy()
    tx_arr = np.zeros((2, 9), dtype=np.int64)
    tx_arr[:, 4] = [1, 2]  # the block's second tx has two inputs; the record holds one coin
    tx_arr[:, 6] = [0, 1]
    with pytest.raises(UndoError, match="coins differs from a transaction's inputs"):
        undo_columns(ubuf, np.array([0]), np.array([len(raw)]), np.array([[2, 0, 0]]), tx_arr, 3)
    with pytest.raises(UndoError, match="count of transactions differs"):
        undo_columns(
            ubuf, np.array([0]), np.array([len(raw)]), np.array([[3, 0, 0]]), np.zeros((3, 9), np.int64), 3
        )
    tx_arr[:, 4] = [1, 1]
    with pytest.raises(UndoError, match="truncated"):
        undo_columns(ubuf, np.array([0]), np.array([len(raw) - 2]), np.array([[2, 0, 0]]), tx_arr, 2)
    with pytest.raises(UndoError, match="bytes left after its last coin"):
        undo_columns(ubuf, np.array([0]), np.array([len(raw) + 1]), np.array([[2, 0, 0]]), tx_arr, 2)


@given(n=st.integers(0, 2**63 - 1))
def test_core_varint_and_amounts_round_trip(n):
    raw = write_varint(n)
    assert read_varint(raw + b"\xff", 0) == (n, len(raw))
    if n <= 21 * 10**14 * 10:
        assert decompress_amount(compress_amount(n)) == n


def test_compressed_script_forms_are_cores():
    """nSize 0..5 for the six special forms; the others are stored raw behind nSize = 6 + length."""
    key = secp.pubkey(7, compressed=False)
    cases = {
        b"\x76\xa9\x14" + bytes(20) + b"\x88\xac": 0,
        b"\xa9\x14" + bytes(20) + b"\x87": 1,
        b"\x21" + secp.pubkey(7) + b"\xac": secp.pubkey(7)[0],
        b"\x41" + key + b"\xac": 4 | (key[-1] & 1),
        b"\x51": 7,
    }
    for script, code in cases.items():
        assert compress_script(script)[0] == code
    off_curve = b"\x41\x04" + bytes(63) + b"\x07\xac"  # not a point: kept raw
    assert compress_script(off_curve)[0] == 6 + 67


@pytest.mark.parametrize("mode", MODES)
@settings(max_examples=80, deadline=None)
@given(
    batch=st.lists(scripts_(big=False), min_size=1, max_size=30),
    net=st.sampled_from(["mainnet", "testnet4", "regtest"]),
)
def test_script_types_and_addresses_in_bulk_are_the_reference(mode, batch, net):
    buf = np.frombuffer(b"".join(batch) + b"\x00", dtype=np.uint8).copy()
    ln = np.array([len(s) for s in batch])
    off = np.concatenate([[0], np.cumsum(ln)[:-1]])
    with _mode(mode):
        codes = scripts.classify(buf, off, ln)
        o, data, valid = scripts.addresses(buf, off, ln, codes, network(net))
    assert [scripts.SCRIPT_TYPES[c] for c in codes] == [script_type(s) for s in batch]
    got = [data[o[i] : o[i + 1]].tobytes().decode() if valid[i] else None for i in range(len(batch))]
    assert got == [address(s, net) for s in batch]


def test_a_truncated_block_is_reported_by_index():
    blocks = _blocks([[serialize_tx([TxIn(bytes(32), 1, b"", 0)], [TxOut(1, b"\x51")])]])
    buf = np.frombuffer(blocks[0], dtype=np.uint8).copy()
    for mode in MODES:
        with _mode(mode), pytest.raises(Exception, match="truncated|count larger|bytes left") as info:
            walk_blocks(buf, np.array([0]), np.array([len(buf) - 3]))
        assert info.value.block == 0


def _sample_blocks() -> list[bytes]:
    """Deterministic blocks: legacy and segwit spends, standard and odd scripts, an annex."""
    import random

    rng = random.Random(7)
    txs = []
    for k in range(12):
        ins = [
            TxIn(rng.randbytes(32), rng.randrange(4), rng.randbytes(k * 7), rng.randrange(2**32),
                 (rng.randbytes(72), rng.randbytes(33 + k), b"\xc0" + rng.randbytes(32)) if k % 2 else ())
            for _ in range(1 + k % 3)
        ]  # fmt: skip
        outs = [TxOut(rng.randrange(2**50), s) for s in
                (b"\x00\x14" + rng.randbytes(20), b"\x51\x20" + rng.randbytes(32), b"\x76\xa9\x14" + rng.randbytes(20) + b"\x88\xac",
                 b"\xa9\x14" + rng.randbytes(20) + b"\x87", b"\x6a\x5d" + rng.randbytes(k), rng.randbytes(k))[: 1 + k % 6]]  # fmt: skip
        txs.append(serialize_tx(ins, outs, 2, k))
    return _blocks([txs[:5], txs[5:]])


@pytest.mark.skipif(not jit.HAVE_NUMBA, reason="numba is not installed")
@pytest.mark.parametrize(
    ("setup", "check"),
    [
        ('sys.modules["numba"] = None', "assert not jit.HAVE_NUMBA and not hashing.LIBCRYPTO"),
        ('os.environ["MESH_MAGICS_LIBCRYPTO"] = "0"', "assert jit.HAVE_NUMBA and not hashing.LIBCRYPTO"),
    ],
    ids=["numba-missing", "no-libcrypto"],
)
def test_without_numba_or_libcrypto_the_tables_are_the_same(setup, check):
    """A fresh interpreter where ``import numba`` fails (or OpenSSL is not used): the same tables."""
    import pickle

    code = textwrap.dedent(
        f"""
        import os, sys, pickle
        {setup}
        from mesh_magics.chain.format import jit, hashing
        {check}
        import test_chain_walk as t
        blocks = pickle.loads(sys.stdin.buffer.read())
        sys.stdout.buffer.write(pickle.dumps(t._build(blocks, "mainnet")))
        """
    )
    blocks = _sample_blocks()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    out = subprocess.run(
        [sys.executable, "-c", code], input=pickle.dumps(blocks), capture_output=True, env=env
    )
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    other = pickle.loads(out.stdout)
    compiled = _build(blocks, "mainnet")
    for name in ("blocks", "txs", "outputs", "inputs"):
        pd.testing.assert_frame_equal(other[name], compiled[name])
    assert len(compiled["inputs"]) > 12 and compiled["inputs"]["leaf_script"].notna().any()


@pytest.mark.parametrize("mode", MODES)
def test_compact_sizes_of_every_width(mode):
    """253 inputs and outputs (0xfd counts), a 65,536-byte script (0xfe), 253-byte witness items."""
    ins = [TxIn(bytes([i % 256]) * 32, i, b"", 0, (bytes(253), b"\x51" * (i % 3))) for i in range(253)]
    outs = [TxOut(i, b"\x00\x14" + bytes(20)) for i in range(252)] + [TxOut(7, b"\x6a" * 65536)]
    legacy = serialize_tx([TxIn(bytes(32), 0, bytes(65535), 1)], [TxOut(1, bytes(253))], 1)
    blocks = _blocks([[serialize_tx(ins, outs), legacy]])
    ref = from_blocks(blocks, "mainnet")
    with _mode(mode):
        got = _build(blocks, "mainnet")
    assert len(got["inputs"]) == 255 and len(got["outputs"]) == 255
    for name in ("blocks", "outputs"):
        pd.testing.assert_frame_equal(got[name], getattr(ref, name))
    pd.testing.assert_frame_equal(got["inputs"].drop(columns=PREV), ref.inputs.drop(columns=PREV))


@pytest.mark.parametrize("net", ["mainnet", "testnet3", "testnet4", "signet", "regtest"])
def test_the_network_is_told_by_the_first_records_magic(tmp_path, net):
    from mesh_magics.chain.format.address import NETWORKS
    from mesh_magics.chain.source.plan import NET_DIRS, locate

    blocks = tmp_path / NET_DIRS[net] / "blocks" if NET_DIRS[net] else tmp_path / "blocks"
    blocks.mkdir(parents=True)
    key = bytes.fromhex("0102030405060708")
    (blocks / "xor.dat").write_bytes(key)
    magic = NETWORKS[net].magic
    (blocks / "blk00000.dat").write_bytes(
        bytes(b ^ key[i] for i, b in enumerate(magic + b"\x50\x00\x00\x00"))
    )
    src = locate(tmp_path)
    assert src.network.name == net and src.blocks_dir == blocks and src.key == key
    other = "regtest" if net != "regtest" else "mainnet"
    with pytest.raises(ChainError, match=f"are {net}'s, not {other}'s: pass network='{net}'"):
        locate(blocks, other)

"""Bitcoin's serialization, written: transactions, coinbases, headers, blocks, legacy sighashes.

The inverse of :mod:`.tx`, for fixtures and benchmarks: :func:`serialize_tx` writes a
transaction from :class:`~.tx.TxIn` / :class:`~.tx.TxOut` (BIP 144 form when an input
has a witness) and :func:`make_tx` parses it back, txid included; :func:`coinbase`
writes a coinbase with its BIP 34 height (and BIP 141 witness commitment);
:func:`assemble_block` a whole block, its merkle root computed and its nonce ground
against the header's target (cheap on regtest, whose target takes about two tries).
:func:`push` is a minimal script push; :func:`legacy_sighash` the digest a pre-segwit
signature (P2PK, P2PKH) commits to with ``SIGHASH_ALL``.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from ...errors import ChainError
from .tx import Tx, TxIn, TxOut, double_sha256, merkle_root, parse_tx

__all__ = [
    "REGTEST_BITS",
    "assemble_block",
    "coinbase",
    "compact",
    "legacy_sighash",
    "make_tx",
    "push",
    "serialize_tx",
    "witness_commitment",
]

#: regtest's proof-of-work limit as compact bits (about one header in two meets it)
REGTEST_BITS = 0x207FFFFF


def compact(n: int) -> bytes:
    """CompactSize."""
    if n < 0xFD:
        return bytes((n,))
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "little")
    if n <= 0xFFFFFFFF:
        return b"\xfe" + n.to_bytes(4, "little")
    return b"\xff" + n.to_bytes(8, "little")


def push(data: bytes) -> bytes:
    """A script push of ``data`` with the smallest opcode (OP_0 / OP_1..16 for the one-byte cases)."""
    n = len(data)
    if n == 0:
        return b"\x00"
    if n == 1 and 1 <= data[0] <= 16:
        return bytes((0x50 + data[0],))
    if n < 0x4C:
        return bytes((n,)) + data
    if n <= 0xFF:
        return b"\x4c" + bytes((n,)) + data
    if n <= 0xFFFF:
        return b"\x4d" + n.to_bytes(2, "little") + data
    return b"\x4e" + n.to_bytes(4, "little") + data


def serialize_tx(
    inputs: Sequence[TxIn],
    outputs: Sequence[TxOut],
    version: int = 2,
    locktime: int = 0,
    *,
    witness: bool = True,
) -> bytes:
    """A transaction's bytes; with ``witness`` and any input witness, the BIP 144 form."""
    segwit = witness and any(i.witness for i in inputs)
    out = bytearray(struct.pack("<i", version))
    if segwit:
        out += b"\x00\x01"
    out += compact(len(inputs))
    for i in inputs:
        out += i.prev_txid + struct.pack("<I", i.prev_vout) + compact(len(i.script_sig)) + i.script_sig
        out += struct.pack("<I", i.sequence)
    out += compact(len(outputs))
    for o in outputs:
        out += struct.pack("<q", o.value) + compact(len(o.script)) + o.script
    if segwit:
        for i in inputs:
            out += compact(len(i.witness)) + b"".join(compact(len(w)) + w for w in i.witness)
    out += struct.pack("<I", locktime)
    return bytes(out)


def make_tx(inputs: Sequence[TxIn], outputs: Sequence[TxOut], version: int = 2, locktime: int = 0) -> Tx:
    """The :class:`~.tx.Tx` (txid, sizes) of the transaction :func:`serialize_tx` writes."""
    raw = serialize_tx(inputs, outputs, version, locktime)
    tx, _ = parse_tx(raw)
    return tx


def legacy_sighash(inputs: Sequence[TxIn], outputs: Sequence[TxOut], index: int, script_code: bytes,
                   version: int = 2, locktime: int = 0) -> bytes:  # fmt: skip
    """The ``SIGHASH_ALL`` digest of input ``index`` of a pre-segwit spend (``script_code``: the prevout's script)."""
    blank = [
        TxIn(i.prev_txid, i.prev_vout, script_code if k == index else b"", i.sequence)
        for k, i in enumerate(inputs)
    ]
    return double_sha256(
        serialize_tx(blank, outputs, version, locktime, witness=False) + struct.pack("<I", 1)
    )


def _height_push(height: int) -> bytes:
    if 1 <= height <= 16:
        return bytes((0x50 + height,))
    if height == 0:
        return b"\x00"
    return push(height.to_bytes((height.bit_length() + 8) // 8, "little"))


def witness_commitment(wtxids: Sequence[bytes]) -> bytes:
    """BIP 141's commitment output script for a block's wtxids (the coinbase's counted as zeros)."""
    root = merkle_root([bytes(32), *wtxids[1:]])
    return b"\x6a\x24\xaa\x21\xa9\xed" + double_sha256(root + bytes(32))


def coinbase(
    height: int, outputs: Sequence[TxOut], commitment: bytes | None = None, extra: bytes = b""
) -> Tx:
    """A coinbase for ``height`` (BIP 34), its outputs, and the witness commitment script if given."""
    sig = _height_push(height) + push(extra or b"\x00")
    outs = list(outputs) + ([TxOut(0, commitment)] if commitment is not None else [])
    witness = (bytes(32),) if commitment is not None else ()
    return make_tx([TxIn(bytes(32), 0xFFFFFFFF, sig, 0xFFFFFFFF, witness)], outs, version=2)


def _target(bits: int) -> int:
    exponent, mantissa = bits >> 24, bits & 0x007FFFFF
    return mantissa << (8 * (exponent - 3)) if exponent > 3 else mantissa >> (8 * (3 - exponent))


def assemble_block(prev_hash: bytes, txs: Sequence[bytes], time: int, bits: int = REGTEST_BITS,
                   version: int = 0x20000000, txids: Sequence[bytes] | None = None) -> bytes:  # fmt: skip
    """A block of raw transactions (the coinbase first) on ``prev_hash`` (internal order), nonce ground.

    ``txids`` (internal order) saves parsing the transactions again when the caller has them.
    """
    ids = list(txids) if txids is not None else [parse_tx(raw)[0].txid for raw in txs]
    target = _target(bits)
    root = merkle_root(ids)
    for nonce in range(1 << 32):
        header = struct.pack("<i32s32sIII", version, prev_hash, root, time, bits, nonce)
        if int.from_bytes(double_sha256(header), "little") <= target:
            return header + compact(len(txs)) + b"".join(txs)
    raise ChainError("no nonce meets the target; use regtest's bits")  # pragma: no cover

"""Bitcoin's serialization, read one object at a time: transactions, headers, blocks.

The reference reader: plain Python over ``bytes``/``memoryview``, clear over fast. It is
what the Runes ledger reads raw transactions with, and what the columnar block reader
(:mod:`mesh_magics.chain`) is tested against. Hashes are kept as 32 raw bytes in the
serialization's (internal) order; the ``*_hex`` properties give the usual display form
(byte-reversed hex, as ``bitcoin-cli`` prints txids and block hashes).

Formats (BIP 144 for witness transactions): a transaction is ``version`` (int32 LE),
``[marker 0x00, flag 0x01]`` when any input has a witness, the inputs (CompactSize count;
each ``prev txid (32) | prev vout (uint32) | script_sig (CompactSize + bytes) | sequence
(uint32)``), the outputs (CompactSize count; each ``value (int64) | script_pubkey``), the
witnesses (per input, a CompactSize count of CompactSize-prefixed items) and ``locktime``
(uint32). The txid hashes the serialization without marker, flag and witnesses; the
wtxid hashes all of it. A block is an 80-byte header and a CompactSize count of
transactions.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from ...errors import ChainError

__all__ = [
    "Block",
    "Header",
    "Tx",
    "TxIn",
    "TxOut",
    "compact_size",
    "double_sha256",
    "merkle_root",
    "parse_block",
    "parse_header",
    "parse_tx",
    "tx_from_hex",
]

_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_U64 = struct.Struct("<Q")
_HEADER = struct.Struct("<i32s32sIII")
NULL_TXID = bytes(32)


def double_sha256(data: bytes | memoryview) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def compact_size(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    """The CompactSize at ``pos`` and the position after it."""
    try:
        first = data[pos]
        if first < 0xFD:
            return first, pos + 1
        width = {0xFD: 2, 0xFE: 4, 0xFF: 8}[first]
        if pos + 1 + width > len(data):
            raise IndexError
        return int.from_bytes(data[pos + 1 : pos + 1 + width], "little"), pos + 1 + width
    except IndexError:
        raise ChainError(f"truncated CompactSize at offset {pos}") from None


def _take(data: bytes | memoryview, pos: int, n: int, what: str) -> tuple[bytes, int]:
    end = pos + n
    if n < 0 or end > len(data):
        raise ChainError(f"truncated {what} at offset {pos}: needs {n} bytes, {len(data) - pos} left")
    return bytes(data[pos:end]), end


@dataclass(frozen=True, slots=True)
class TxIn:
    prev_txid: bytes  # internal byte order
    prev_vout: int
    script_sig: bytes
    sequence: int
    witness: tuple[bytes, ...] = ()

    @property
    def prev_txid_hex(self) -> str:
        return self.prev_txid[::-1].hex()

    @property
    def is_coinbase(self) -> bool:
        return self.prev_txid == NULL_TXID and self.prev_vout == 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class TxOut:
    value: int  # satoshis
    script: bytes


@dataclass(frozen=True, slots=True)
class Tx:
    version: int
    inputs: tuple[TxIn, ...]
    outputs: tuple[TxOut, ...]
    locktime: int
    txid: bytes  # internal byte order
    wtxid: bytes
    size: int  # bytes with witnesses
    base_size: int  # bytes without

    @property
    def txid_hex(self) -> str:
        return self.txid[::-1].hex()

    @property
    def wtxid_hex(self) -> str:
        return self.wtxid[::-1].hex()

    @property
    def weight(self) -> int:
        return self.base_size * 3 + self.size

    @property
    def vsize(self) -> int:
        return (self.weight + 3) // 4

    @property
    def is_coinbase(self) -> bool:
        return len(self.inputs) == 1 and self.inputs[0].is_coinbase

    @property
    def has_witness(self) -> bool:
        return self.size != self.base_size


def parse_tx(data: bytes | memoryview, pos: int = 0) -> tuple[Tx, int]:
    """The transaction serialized at ``pos`` and the position after it."""
    start = pos
    if pos + 4 > len(data):
        raise ChainError(f"truncated transaction at offset {pos}")
    (version,) = _I32.unpack_from(data, pos)
    pos += 4
    segwit = pos + 1 < len(data) and data[pos] == 0 and data[pos + 1] == 1
    if segwit:
        pos += 2
    body_start = pos
    n_in, pos = compact_size(data, pos)
    raw_inputs = []
    for _ in range(n_in):
        prev, pos = _take(data, pos, 32, "input outpoint")
        if pos + 4 > len(data):
            raise ChainError(f"truncated input at offset {pos}")
        (vout,) = _U32.unpack_from(data, pos)
        n, pos = compact_size(data, pos + 4)
        script_sig, pos = _take(data, pos, n, "script_sig")
        if pos + 4 > len(data):
            raise ChainError(f"truncated input sequence at offset {pos}")
        (sequence,) = _U32.unpack_from(data, pos)
        pos += 4
        raw_inputs.append((prev, vout, script_sig, sequence))
    n_out, pos = compact_size(data, pos)
    outputs = []
    for _ in range(n_out):
        if pos + 8 > len(data):
            raise ChainError(f"truncated output value at offset {pos}")
        (value,) = _U64.unpack_from(data, pos)
        n, pos = compact_size(data, pos + 8)
        script, pos = _take(data, pos, n, "script_pubkey")
        outputs.append(TxOut(value, script))
    body_end = pos
    witnesses: list[tuple[bytes, ...]] = [()] * n_in
    if segwit:
        for i in range(n_in):
            n_items, pos = compact_size(data, pos)
            items = []
            for _ in range(n_items):
                n, pos = compact_size(data, pos)
                item, pos = _take(data, pos, n, "witness item")
                items.append(item)
            witnesses[i] = tuple(items)
    if pos + 4 > len(data):
        raise ChainError(f"truncated locktime at offset {pos}")
    (locktime,) = _U32.unpack_from(data, pos)
    pos += 4
    raw = bytes(data[start:pos])
    if segwit:
        base = raw[:4] + raw[body_start - start : body_end - start] + raw[-4:]
    else:
        base = raw
    inputs = tuple(TxIn(p, v, s, q, w) for (p, v, s, q), w in zip(raw_inputs, witnesses))
    tx = Tx(
        version,
        inputs,
        tuple(outputs),
        locktime,
        double_sha256(base),
        double_sha256(raw),
        len(raw),
        len(base),
    )
    return tx, pos


def tx_from_hex(text: str) -> Tx:
    """A whole transaction from hex (``getrawtransaction``); trailing bytes are an error."""
    try:
        data = bytes.fromhex(text)
    except ValueError as e:
        raise ChainError(f"not a hex transaction: {e}") from None
    tx, end = parse_tx(data)
    if end != len(data):
        raise ChainError(f"{len(data) - end} bytes after the transaction's end (offset {end})")
    return tx


@dataclass(frozen=True, slots=True)
class Header:
    version: int
    prev_hash: bytes  # internal byte order
    merkle_root: bytes
    time: int
    bits: int
    nonce: int
    hash: bytes

    @property
    def hash_hex(self) -> str:
        return self.hash[::-1].hex()

    @property
    def prev_hash_hex(self) -> str:
        return self.prev_hash[::-1].hex()

    @property
    def work(self) -> int:
        """The expected number of hashes to find a block at this target (Core's ``GetBlockProof``)."""
        exponent, mantissa = self.bits >> 24, self.bits & 0x007FFFFF
        target = mantissa << (8 * (exponent - 3)) if exponent > 3 else mantissa >> (8 * (3 - exponent))
        return (1 << 256) // (target + 1) if target > 0 else 0


def parse_header(data: bytes | memoryview, pos: int = 0) -> Header:
    if pos + 80 > len(data):
        raise ChainError(f"truncated block header at offset {pos}")
    raw = bytes(data[pos : pos + 80])
    version, prev, merkle, time, bits, nonce = _HEADER.unpack(raw)
    return Header(version, prev, merkle, time, bits, nonce, double_sha256(raw))


@dataclass(frozen=True, slots=True)
class Block:
    header: Header
    txs: tuple[Tx, ...]
    size: int

    @property
    def weight(self) -> int:
        return 80 * 4 + (self.size - 80 - sum(t.size for t in self.txs)) * 4 + sum(t.weight for t in self.txs)


def merkle_root(txids: Sequence[bytes]) -> bytes:
    """The merkle root of txids in internal byte order (the last one doubled on odd levels)."""
    level = list(txids)
    if not level:
        return bytes(32)
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [double_sha256(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def parse_block(data: bytes | memoryview, pos: int = 0, *, check_merkle: bool = True) -> Block:
    """The block serialized at ``pos`` (its header, then its transactions)."""
    start = pos
    header = parse_header(data, pos)
    n, pos = compact_size(data, pos + 80)
    txs = []
    for _ in range(n):
        tx, pos = parse_tx(data, pos)
        txs.append(tx)
    if check_merkle and merkle_root([t.txid for t in txs]) != header.merkle_root:
        raise ChainError(
            f"block {header.hash_hex}: its merkle root does not match its {n} transactions (offset {start})"
        )
    return Block(header, tuple(txs), pos - start)

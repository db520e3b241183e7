"""Core's undo data (``rev*.dat``), read and written one coin at a time: the reference.

A ``CBlockUndo`` is a CompactSize count of ``CTxUndo``, one per *non-coinbase*
transaction in block order; a ``CTxUndo`` is a CompactSize count of coins, one per input
in input order. Each coin (Core ``src/undo.h``, ``TxInUndoFormatter``) is:

* ``VARINT(height * 2 + is_coinbase)``; then, if height > 0, one byte 0 (the
  ``nVersion`` older formats kept);
* ``VARINT(CompressAmount(value))``;
* the compressed script (``ScriptCompression``): ``VARINT(nSize)``, then nSize 0 = P2PKH
  (20-byte hash), 1 = P2SH (20), 2/3 = P2PK with a compressed key (32-byte x, the code
  is the key's prefix), 4/5 = P2PK with an uncompressed key (x; y's parity is
  ``nSize & 1``, so y is recomputed on the curve), and nSize >= 6 a raw script of
  nSize - 6 bytes (over 10,000 bytes: replaced by ``OP_RETURN``, as Core does).

``VARINT`` is Core's MSB-first base-128 with "+1 per continuation byte", not CompactSize.

The REST endpoint ``/rest/spenttxouts/<hash>.bin`` (Core 30) sends the same coins as
plain ``CTxOut`` s (value int64, CompactSize script) in a CompactSize count per tx,
*including* an empty list for the coinbase: :func:`parse_spent_txouts`. Heights and
coinbase flags are not in it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ...errors import ChainError
from .secp import decompress
from .tx import compact_size

__all__ = [
    "Coin",
    "compress_amount",
    "compress_script",
    "decompress_amount",
    "decompress_script",
    "parse_block_undo",
    "parse_spent_txouts",
    "read_varint",
    "serialize_block_undo",
    "serialize_spent_txouts",
    "write_varint",
]

MAX_SCRIPT_SIZE = 10_000
_SPECIAL_SIZES = (20, 20, 32, 32, 32, 32)


@dataclass(frozen=True, slots=True)
class Coin:
    """A spent output as undo data keeps it."""

    height: int
    is_coinbase: bool
    value: int
    script: bytes


def read_varint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    """Core's VARINT at ``pos`` and the position after it."""
    n = 0
    while True:
        if pos >= len(data):
            raise ChainError(f"truncated VARINT at offset {pos}")
        b = data[pos]
        pos += 1
        if n > (0xFFFFFFFFFFFFFFFF >> 7):
            raise ChainError(f"VARINT too large at offset {pos - 1}")
        n = (n << 7) | (b & 0x7F)
        if b & 0x80:
            n += 1
        else:
            return n, pos


def write_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if out else 0))
        if n <= 0x7F:
            break
        n = (n >> 7) - 1
    return bytes(reversed(out))


def compress_amount(n: int) -> int:
    if n == 0:
        return 0
    e = 0
    while n % 10 == 0 and e < 9:
        n //= 10
        e += 1
    if e < 9:
        d = n % 10
        n //= 10
        return 1 + (n * 9 + d - 1) * 10 + e
    return 1 + (n - 1) * 10 + 9


def decompress_amount(x: int) -> int:
    if x == 0:
        return 0
    x -= 1
    e = x % 10
    x //= 10
    if e < 9:
        d = x % 9 + 1
        x //= 9
        n = x * 10 + d
    else:
        n = x + 1
    return n * 10**e


def compress_script(script: bytes) -> bytes:
    """Core's ``CompressScript`` (with its nSize prefix) of an output script."""
    n = len(script)
    if n == 25 and script[:3] == b"\x76\xa9\x14" and script[23:] == b"\x88\xac":
        return b"\x00" + script[3:23]
    if n == 23 and script[:2] == b"\xa9\x14" and script[22] == 0x87:
        return b"\x01" + script[2:22]
    if n == 35 and script[0] == 33 and script[34] == 0xAC and script[1] in (2, 3):
        return script[1:34]
    if n == 67 and script[0] == 65 and script[66] == 0xAC and script[1] == 4:
        x, y = int.from_bytes(script[2:34], "big"), int.from_bytes(script[34:66], "big")
        try:
            on_curve = decompress(x, bool(y & 1)) == y
        except ChainError:
            on_curve = False
        if on_curve:
            return bytes((4 | (y & 1),)) + script[2:34]
    return write_varint(n + 6) + script


def decompress_script(code: int, payload: bytes) -> bytes:
    """The script of a special compressed form (``code`` 0..5) and its 20/32 payload bytes."""
    if code == 0:
        return b"\x76\xa9\x14" + payload + b"\x88\xac"
    if code == 1:
        return b"\xa9\x14" + payload + b"\x87"
    if code in (2, 3):
        return b"\x21" + bytes((code,)) + payload + b"\xac"
    y = decompress(int.from_bytes(payload, "big"), bool(code & 1))
    return b"\x41\x04" + payload + y.to_bytes(32, "big") + b"\xac"


def _read_coin(data: bytes | memoryview, pos: int) -> tuple[Coin, int]:
    code, pos = read_varint(data, pos)
    height, is_coinbase = code >> 1, bool(code & 1)
    if height > 0:
        _, pos = read_varint(data, pos)
    amount, pos = read_varint(data, pos)
    size, pos = read_varint(data, pos)
    if size < 6:
        n = _SPECIAL_SIZES[size]
        if pos + n > len(data):
            raise ChainError(f"truncated compressed script at offset {pos}")
        script = decompress_script(size, bytes(data[pos : pos + n]))
        pos += n
    else:
        n = size - 6
        if pos + n > len(data):
            raise ChainError(f"truncated script at offset {pos}: needs {n} bytes")
        script = b"\x6a" if n > MAX_SCRIPT_SIZE else bytes(data[pos : pos + n])
        pos += n
    value = decompress_amount(amount)
    if value > 0x7FFFFFFFFFFFFFFF:
        raise ChainError(f"undo amount out of range at offset {pos}")
    return Coin(height, is_coinbase, value, script), pos


def parse_block_undo(data: bytes | memoryview) -> list[list[Coin]]:
    """The coins of a ``CBlockUndo`` (without its record prefix and checksum); all bytes must be used."""
    n_tx, pos = compact_size(data, 0)
    out = []
    for _ in range(n_tx):
        n_in, pos = compact_size(data, pos)
        coins = []
        for _ in range(n_in):
            coin, pos = _read_coin(data, pos)
            coins.append(coin)
        out.append(coins)
    if pos != len(data):
        raise ChainError(f"{len(data) - pos} bytes after the undo data's end (offset {pos})")
    return out


def _cs(n: int) -> bytes:
    if n < 0xFD:
        return bytes((n,))
    return b"\xfd" + n.to_bytes(2, "little") if n <= 0xFFFF else b"\xfe" + n.to_bytes(4, "little")


def serialize_block_undo(txs: list[list[Coin]]) -> bytes:
    """A ``CBlockUndo`` as Core writes it (the inverse of :func:`parse_block_undo`)."""
    out = bytearray(_cs(len(txs)))
    for coins in txs:
        out += _cs(len(coins))
        for c in coins:
            out += write_varint(c.height * 2 + int(c.is_coinbase))
            if c.height > 0:
                out += b"\x00"
            out += write_varint(compress_amount(c.value)) + compress_script(c.script)
    return bytes(out)


def parse_spent_txouts(data: bytes | memoryview) -> list[list[tuple[int, bytes]]]:
    """``/rest/spenttxouts/<hash>.bin``: per transaction (coinbase first, empty) its spent (value, script)."""
    n_tx, pos = compact_size(data, 0)
    out = []
    for _ in range(n_tx):
        n, pos = compact_size(data, pos)
        outs = []
        for _ in range(n):
            if pos + 8 > len(data):
                raise ChainError(f"truncated spent output at offset {pos}")
            (value,) = struct.unpack_from("<q", data, pos)
            size, pos = compact_size(data, pos + 8)
            if pos + size > len(data):
                raise ChainError(f"truncated spent output script at offset {pos}")
            outs.append((value, bytes(data[pos : pos + size])))
            pos += size
        out.append(outs)
    if pos != len(data):
        raise ChainError(f"{len(data) - pos} bytes after the spent outputs' end (offset {pos})")
    return out


def serialize_spent_txouts(txs: list[list[Coin]]) -> bytes:
    """The REST body for a block whose non-coinbase transactions spent ``txs`` (see the module doc)."""
    out = bytearray(_cs(len(txs) + 1) + _cs(0))
    for coins in txs:
        out += _cs(len(coins))
        for c in coins:
            out += struct.pack("<q", c.value) + _cs(len(c.script)) + c.script
    return bytes(out)

"""Undo records in bulk: the spent coin of every input of many blocks, as numpy arrays.

The compiled counterpart of :func:`.undo.parse_block_undo` (same format, same answers):
:func:`undo_columns` walks the undo records of a walk's blocks (:mod:`.walk`) and checks
that they line up with the blocks: one ``CTxUndo`` per non-coinbase transaction, one
coin per input. Per input row of the walk it gives the spent coin's height, coinbase
flag, value and script (coinbase inputs have none). Uncompressed P2PK keys (codes 4/5)
get their y from :func:`.secp.decompress` afterwards, in Python: they are rare.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import jit
from .secp import decompress

__all__ = ["UndoColumns", "UndoError", "undo_columns"]

_REASONS = {
    1: "truncated",
    2: "its count of transactions differs from the block's non-coinbase transactions",
    3: "its count of coins differs from a transaction's inputs",
    4: "bytes left after its last coin",
    5: "a VARINT too large",
    6: "an amount out of range",
}
_MAX = 0x7FFFFFFFFFFFFFFF


@jit.kernel
def _varint(data, p, end):
    n = 0
    while True:
        if p >= end:
            return 0, -1
        b = data[p]
        p += 1
        if n > (0x7FFFFFFFFFFFFFFF >> 7):
            return 0, -2
        n = (n << 7) | (b & 0x7F)
        if b & 0x80:
            n += 1
        else:
            return n, p


@jit.kernel
def _cs(data, p, end):
    if p >= end:
        return 0, -1
    b = data[p]
    if b < 0xFD:
        return int(b), p + 1
    w = 2 if b == 0xFD else (4 if b == 0xFE else 8)
    if p + 1 + w > end or w == 8:
        return 0, -1
    v = 0
    for k in range(w):
        v |= int(data[p + 1 + k]) << (8 * k)
    return v, p + 1 + w


@jit.kernel
def _undo(data, starts, ends, blk_first_tx, blk_n_tx, tx_first_in, tx_n_in, cols):
    """cols[i]: height, coinbase, value, code, payload offset, script length (-1: no coin)."""
    for b in range(starts.shape[0]):
        p = starts[b]
        end = ends[b]
        n, p = _cs(data, p, end)
        if p < 0:
            return 1, b, end, 0, 0
        if n != blk_n_tx[b] - 1:
            return 2, b, starts[b], n, blk_n_tx[b] - 1
        for t in range(1, blk_n_tx[b]):
            tx = blk_first_tx[b] + t
            n, p = _cs(data, p, end)
            if p < 0:
                return 1, b, end, 0, 0
            if n != tx_n_in[tx]:
                return 3, b, p, n, tx_n_in[tx]
            for j in range(n):
                row = tx_first_in[tx] + j
                code, p = _varint(data, p, end)
                if p < 0:
                    return 1 if p == -1 else 5, b, end, 0, 0
                height = code >> 1
                if height > 0:
                    _dummy, p = _varint(data, p, end)
                    if p < 0:
                        return 1 if p == -1 else 5, b, end, 0, 0
                x, p = _varint(data, p, end)
                if p < 0:
                    return 1 if p == -1 else 5, b, end, 0, 0
                value = 0
                if x > 0:
                    x -= 1
                    e = x % 10
                    x //= 10
                    if e < 9:
                        d = x % 9 + 1
                        x //= 9
                        if x > (0x7FFFFFFFFFFFFFFF - 9) // 10:
                            return 6, b, p, 0, 0
                        value = x * 10 + d
                    else:
                        value = x + 1
                    for _e in range(e):
                        if value > 0x7FFFFFFFFFFFFFFF // 10:
                            return 6, b, p, 0, 0
                        value *= 10
                size, p = _varint(data, p, end)
                if p < 0:
                    return 1 if p == -1 else 5, b, end, 0, 0
                if size < 6:
                    take = 20 if size < 2 else 32
                    length = 25 if size == 0 else (23 if size == 1 else (35 if size < 4 else 67))
                else:
                    take = size - 6
                    length = take if take <= 10000 else 1
                if p + take > end:
                    return 1, b, p, 0, 0
                cols[row, 0] = height
                cols[row, 1] = code & 1
                cols[row, 2] = value
                cols[row, 3] = size if size < 6 else (6 if take <= 10000 else 7)
                cols[row, 4] = p
                cols[row, 5] = length
                p += take
        if p != end:
            return 4, b, p, 0, 0
    return 0, -1, 0, 0, 0


@jit.kernel
def _scripts(data, cols, out_off, out):
    for i in range(cols.shape[0]):
        code = cols[i, 3]
        if cols[i, 5] < 0:
            continue
        q = out_off[i]
        p = cols[i, 4]
        if code == 0:
            out[q] = 0x76
            out[q + 1] = 0xA9
            out[q + 2] = 20
            for j in range(20):
                out[q + 3 + j] = data[p + j]
            out[q + 23] = 0x88
            out[q + 24] = 0xAC
        elif code == 1:
            out[q] = 0xA9
            out[q + 1] = 20
            for j in range(20):
                out[q + 2 + j] = data[p + j]
            out[q + 22] = 0x87
        elif code == 2 or code == 3:
            out[q] = 33
            out[q + 1] = code
            for j in range(32):
                out[q + 2 + j] = data[p + j]
            out[q + 34] = 0xAC
        elif code == 4 or code == 5:
            out[q] = 65
            out[q + 1] = 4
            for j in range(32):
                out[q + 2 + j] = data[p + j]
            out[q + 66] = 0xAC  # y (bytes 34..65) is filled in afterwards
        elif code == 6:
            for j in range(cols[i, 5]):
                out[q + j] = data[p + j]
        else:
            out[q] = 0x6A  # Core replaces an over-long script with OP_RETURN


@dataclass
class UndoColumns:
    """Per input row: the spent coin (``has_coin`` False for coinbase inputs)."""

    has_coin: np.ndarray
    height: np.ndarray
    is_coinbase: np.ndarray
    value: np.ndarray
    script_offsets: np.ndarray  # int32, n + 1
    script_data: np.ndarray


@dataclass
class UndoError(Exception):
    """The undo record of block ``block`` (an index) is bad: ``reason`` at ``pos``."""

    block: int
    pos: int
    reason: str


def undo_columns(
    ubuf: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    blocks: np.ndarray,
    txs: np.ndarray,
    n_inputs: int,
) -> UndoColumns:
    """The coins of undo records ``ubuf[starts[b]:ends[b]]`` for a walk's ``blocks`` and ``txs`` arrays.

    ``blocks``/``txs`` are :class:`.walk.Walk` arrays (columns n_tx, first_tx / first_in,
    n_in); a record that does not line up raises :class:`UndoError`.
    """
    cols = np.full((n_inputs, 6), -1, dtype=np.int64)
    status, b, pos, got, want = jit.run(
        _undo,
        ubuf,
        np.ascontiguousarray(starts, dtype=np.int64),
        np.ascontiguousarray(ends, dtype=np.int64),
        np.ascontiguousarray(blocks[:, 1]),
        np.ascontiguousarray(blocks[:, 0]),
        np.ascontiguousarray(txs[:, 6]),
        np.ascontiguousarray(txs[:, 4]),
        cols,
    )
    if status:
        reason = _REASONS[int(status)]
        if status in (2, 3):
            reason += f" ({got} against {want})"
        raise UndoError(int(b), int(pos), reason)
    has = cols[:, 5] >= 0
    lengths = np.where(has, cols[:, 5], 0)
    offsets = np.zeros(n_inputs + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    out = np.zeros(int(offsets[-1]), dtype=np.uint8)
    jit.run(_scripts, ubuf, cols, offsets, out)
    for row in np.flatnonzero((cols[:, 3] == 4) | (cols[:, 3] == 5)).tolist():
        q, p = int(offsets[row]), int(cols[row, 4])
        x = int.from_bytes(ubuf[p : p + 32].tobytes(), "big")
        y = decompress(x, bool(cols[row, 3] & 1))
        out[q + 34 : q + 66] = np.frombuffer(y.to_bytes(32, "big"), dtype=np.uint8)
    if offsets[-1] >= 2**31:
        raise OverflowError("more than 2 GiB of spent scripts in one partition: make partitions smaller")
    return UndoColumns(
        has,
        np.where(has, cols[:, 0], 0),
        cols[:, 1] == 1,
        np.where(has, cols[:, 2], 0),
        offsets.astype(np.int32),
        out,
    )

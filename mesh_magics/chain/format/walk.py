"""The columnar block walker: the offsets of every field of many blocks, as numpy arrays.

A block cannot be parsed vectorised (every position depends on earlier CompactSizes), so
one compiled loop (:mod:`.jit`) walks the blocks of a buffer and records *where* each
field is; everything else is vectorised over those offsets: values and outpoints are
gathered from the buffer, txids hashed (:mod:`.hashing`), scripts classified and
encoded as addresses (:mod:`.scripts`). Two passes: the first counts transactions,
inputs and outputs per block (and checks every length against the bytes left), the
second fills arrays of exactly that size.

:func:`walk_blocks` returns a :class:`Walk`; its arrays (int64) are

* ``blocks[b]``: ``n_tx, first_tx, weight``;
* ``txs[t]``: ``start, end, body_start, body_end, n_in, n_out, first_in, first_out,
  segwit`` (the txid hashes ``[start, start+4) + [body_start, body_end) + [end-4, end)``);
* ``inputs[i]``: ``outpoint, script_sig, script_sig_len, sequence, n_witness, leaf,
  leaf_len, tx`` (offsets into the buffer; ``leaf`` is -1 when the witness has no
  tapscript, see :func:`mesh_magics.chain.schema.leaf_script`);
* ``outputs[o]``: ``value, script, script_len, tx``.

A block that does not parse is reported by index (:class:`WalkError`); the caller turns
it into a :class:`~mesh_magics.errors.ChainError` naming its file and offset, with the
reference parser's message.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import jit

__all__ = ["BLK", "IN", "OUT", "TX", "Walk", "WalkError", "walk_blocks"]


class BLK:
    N_TX, FIRST_TX, WEIGHT = range(3)
    WIDTH = 3


class TX:
    START, END, BODY, BODY_END, N_IN, N_OUT, FIRST_IN, FIRST_OUT, SEGWIT = range(9)
    WIDTH = 9


class IN:
    OUTPOINT, SIG, SIG_LEN, SEQUENCE, N_WITNESS, LEAF, LEAF_LEN, TX = range(8)
    WIDTH = 8


class OUT:
    VALUE, SCRIPT, SCRIPT_LEN, TX = range(4)
    WIDTH = 4


_REASONS = {
    1: "truncated",
    2: "bytes left after its last transaction",
    3: "a count larger than the bytes left",
    4: "no transactions",
}


@jit.kernel
def _cs(data, p, end):
    """CompactSize at p: (value, next position), next = -1 when truncated, value -1 when huge."""
    if p >= end:
        return 0, -1
    b = data[p]
    if b < 0xFD:
        return int(b), p + 1
    w = 2 if b == 0xFD else (4 if b == 0xFE else 8)
    if p + 1 + w > end:
        return 0, -1
    v = 0
    for k in range(w):
        v |= int(data[p + 1 + k]) << (8 * k)
    if w == 8 and int(data[p + 8]) >= 0x80:
        v = -1
    return v, p + 1 + w


@jit.kernel
def _walk(data, starts, ends, fill, blk, tx, tin, tout):
    """Both passes (``fill`` False: count only). Returns (status, block, pos, n_tx, n_in, n_out)."""
    it = 0
    ii = 0
    io = 0
    for b in range(len(starts)):
        p = starts[b] + 80
        end = ends[b]
        if p > end:
            return 1, b, starts[b], it, ii, io
        n_tx, p = _cs(data, p, end)
        if p < 0:
            return 1, b, end, it, ii, io
        if n_tx == 0:
            return 4, b, p, it, ii, io
        if n_tx < 0 or n_tx > (end - p) // 10:
            return 3, b, p, it, ii, io
        weight = 4 * (p - starts[b])
        if fill:
            blk[b, 0] = n_tx
            blk[b, 1] = it
        for _t in range(n_tx):
            s = p
            if p + 4 > end:
                return 1, b, p, it, ii, io
            p += 4
            seg = p + 1 < end and data[p] == 0 and data[p + 1] == 1
            if seg:
                p += 2
            body = p
            n_in, p = _cs(data, p, end)
            if p < 0:
                return 1, b, end, it, ii, io
            if n_in < 0 or n_in > (end - p) // 41:
                return 3, b, p, it, ii, io
            first_in = ii
            for _i in range(n_in):
                if fill:
                    tin[ii, 0] = p
                    tin[ii, 7] = it
                p += 36
                n, p = _cs(data, p, end)
                if p < 0:
                    return 1, b, end, it, ii, io
                if n < 0 or p + n + 4 > end:
                    return 1, b, p, it, ii, io
                if fill:
                    tin[ii, 1] = p
                    tin[ii, 2] = n
                    tin[ii, 3] = p + n
                    tin[ii, 4] = 0
                    tin[ii, 5] = -1
                    tin[ii, 6] = 0
                p += n + 4
                ii += 1
            n_out, p = _cs(data, p, end)
            if p < 0:
                return 1, b, end, it, ii, io
            if n_out < 0 or n_out > (end - p) // 9:
                return 3, b, p, it, ii, io
            first_out = io
            for _o in range(n_out):
                if fill:
                    tout[io, 0] = p
                    tout[io, 3] = it
                n, p = _cs(data, p + 8, end)
                if p < 0:
                    return 1, b, end, it, ii, io
                if n < 0 or p + n > end:
                    return 1, b, p, it, ii, io
                if fill:
                    tout[io, 1] = p
                    tout[io, 2] = n
                p += n
                io += 1
            body_end = p
            if seg:
                for k in range(n_in):
                    n_items, p = _cs(data, p, end)
                    if p < 0:
                        return 1, b, end, it, ii, io
                    if n_items < 0 or n_items > end - p:
                        return 3, b, p, it, ii, io
                    o1 = o2 = o3 = -1
                    l1 = l2 = l3 = 0
                    for _w in range(n_items):
                        n, p = _cs(data, p, end)
                        if p < 0:
                            return 1, b, end, it, ii, io
                        if n < 0 or p + n > end:
                            return 1, b, p, it, ii, io
                        o3, l3, o2, l2, o1, l1 = o2, l2, o1, l1, p, n
                        p += n
                    if fill:
                        row = first_in + k
                        tin[row, 4] = n_items
                        if n_items >= 3 and l1 > 0 and data[o1] == 0x50:
                            tin[row, 5] = o3
                            tin[row, 6] = l3
                        elif n_items >= 2:
                            tin[row, 5] = o2
                            tin[row, 6] = l2
            if p + 4 > end:
                return 1, b, p, it, ii, io
            p += 4
            size = p - s
            base = (body_end - body) + 8 if seg else size
            weight += base * 3 + size
            if fill:
                tx[it, 0] = s
                tx[it, 1] = p
                tx[it, 2] = body if seg else s + 4
                tx[it, 3] = body_end if seg else p - 4
                tx[it, 4] = n_in
                tx[it, 5] = n_out
                tx[it, 6] = first_in
                tx[it, 7] = first_out
                tx[it, 8] = 1 if seg else 0
            it += 1
        if p != end:
            return 2, b, p, it, ii, io
        if fill:
            blk[b, 2] = weight
    return 0, -1, 0, it, ii, io


@dataclass
class Walk:
    """The offsets of a buffer's blocks (see the module doc)."""

    blocks: np.ndarray
    txs: np.ndarray
    inputs: np.ndarray
    outputs: np.ndarray


@dataclass
class WalkError(Exception):
    """Block ``block`` (an index into the starts given) does not parse: ``reason`` at ``pos``."""

    block: int
    pos: int
    reason: str


def walk_blocks(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> Walk:
    """The offsets of the blocks at ``buf[starts[b]:ends[b]]`` (a :class:`WalkError` if one does not parse)."""
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    ends = np.ascontiguousarray(ends, dtype=np.int64)
    empty = np.zeros((0, 1), dtype=np.int64)
    status, b, pos, n_tx, n_in, n_out = jit.run(_walk, buf, starts, ends, False, empty, empty, empty, empty)
    if status:
        raise WalkError(int(b), int(pos), _REASONS[int(status)])
    w = Walk(
        np.zeros((len(starts), BLK.WIDTH), dtype=np.int64),
        np.zeros((n_tx, TX.WIDTH), dtype=np.int64),
        np.zeros((n_in, IN.WIDTH), dtype=np.int64),
        np.zeros((n_out, OUT.WIDTH), dtype=np.int64),
    )
    status, b, pos, *_ = jit.run(_walk, buf, starts, ends, True, w.blocks, w.txs, w.inputs, w.outputs)
    assert status == 0, "the fill pass disagrees with the count pass"
    return w


def gather_fixed(buf: np.ndarray, offsets: np.ndarray, width: int) -> np.ndarray:
    """``buf[offsets[i] : offsets[i] + width]`` for every i, as an (n, width) uint8 array."""
    if len(offsets) == 0:
        return np.zeros((0, width), dtype=np.uint8)
    return buf[offsets[:, None] + np.arange(width, dtype=np.int64)]


def read_le(buf: np.ndarray, offsets: np.ndarray, width: int, dtype: str) -> np.ndarray:
    """Little-endian integers of ``width`` bytes at ``offsets`` (``dtype`` '<i8', '<u4', ...)."""
    return np.ascontiguousarray(gather_fixed(buf, offsets, width)).view(dtype).reshape(-1)

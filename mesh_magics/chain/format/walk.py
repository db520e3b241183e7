"""The columnar block walker: every field of many blocks, as numpy arrays, in one compiled pass.

A block cannot be parsed vectorised (every position depends on earlier CompactSizes), so
one compiled loop (:mod:`.jit`) walks the blocks of a buffer and records each field while
its bytes are in cache: integers (values as two 32-bit halves, vouts, sequences), the
prevouts' txids as display hex, and the output scripts and tapscript leaves copied into
contiguous buffers (the layout of Arrow binary columns). The rest is vectorised over
those arrays: txids hashed (:mod:`.hashing`), scripts classified and encoded as
addresses (:mod:`.scripts`). Two passes: the first counts transactions, inputs, outputs
and script bytes per block (and checks every length against the bytes left), the second
fills arrays of exactly that size.

:func:`walk_blocks` returns a :class:`Walk`; its int64 arrays are

* ``blocks[b]``: ``n_tx, first_tx, weight``;
* ``txs[t]``: ``start, end, body_start, body_end, n_in, n_out, first_in, first_out,
  segwit`` (the txid hashes ``[start, start+4) + [body_start, body_end) + [end-4, end)``);
* ``inputs[i]``: ``outpoint`` (its offset in the buffer), ``vout, sequence, n_witness,
  leaf, leaf_len, tx`` (``leaf``: the offset in ``leaves``, -1 when the witness has no
  tapscript, see :func:`mesh_magics.chain.schema.leaf_script`);
* ``outputs[o]``: ``value_lo, value_hi, script, script_len, tx`` (``script``: the
  offset in ``scripts``);

and ``scripts``, ``leaves`` (uint8) and ``prev_hex`` (64 ASCII bytes per input).

A block that does not parse is reported by index (:class:`WalkError`); the caller turns
it into a :class:`~mesh_magics.errors.ChainError` naming its file and offset, with the
reference parser's message.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import jit

__all__ = [
    "BLK",
    "IN",
    "OUT",
    "TX",
    "Walk",
    "WalkError",
    "gather_fixed",
    "hex_reversed",
    "read_le",
    "walk_blocks",
]


class BLK:
    N_TX, FIRST_TX, WEIGHT = range(3)
    WIDTH = 3


class TX:
    START, END, BODY, BODY_END, N_IN, N_OUT, FIRST_IN, FIRST_OUT, SEGWIT = range(9)
    WIDTH = 9


class IN:
    OUTPOINT, VOUT, SEQUENCE, N_WITNESS, LEAF, LEAF_LEN, TX = range(7)
    WIDTH = 7


class OUT:
    VALUE_LO, VALUE_HI, SCRIPT, SCRIPT_LEN, TX = range(5)
    WIDTH = 5


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
def _u32(data, p):
    return int(data[p]) | (int(data[p + 1]) << 8) | (int(data[p + 2]) << 16) | (int(data[p + 3]) << 24)


@jit.kernel
def _walk(data, starts, ends, fill, blk, tx, tin, tout, scripts, leaves, prev_hex, hexchars):
    """Both passes (``fill`` False: count only).

    Returns (status, block, pos, n_tx, n_in, n_out, script bytes, leaf bytes).
    """
    it = 0
    ii = 0
    io = 0
    sq = 0
    lq = 0
    for b in range(len(starts)):
        p = starts[b] + 80
        end = ends[b]
        if p > end:
            return 1, b, starts[b], it, ii, io, sq, lq
        n_tx, p = _cs(data, p, end)
        if p < 0:
            return 1, b, end, it, ii, io, sq, lq
        if n_tx == 0:
            return 4, b, p, it, ii, io, sq, lq
        if n_tx < 0 or n_tx > (end - p) // 10:
            return 3, b, p, it, ii, io, sq, lq
        weight = 4 * (p - starts[b])
        if fill:
            blk[b, 0] = n_tx
            blk[b, 1] = it
        for _t in range(n_tx):
            s = p
            if p + 4 > end:
                return 1, b, p, it, ii, io, sq, lq
            p += 4
            seg = p + 1 < end and data[p] == 0 and data[p + 1] == 1
            if seg:
                p += 2
            body = p
            n_in, p = _cs(data, p, end)
            if p < 0:
                return 1, b, end, it, ii, io, sq, lq
            if n_in < 0 or n_in > (end - p) // 41:
                return 3, b, p, it, ii, io, sq, lq
            first_in = ii
            for _i in range(n_in):
                if fill:
                    tin[ii, 0] = p
                    tin[ii, 1] = _u32(data, p + 32)
                    q = 64 * ii
                    for j in range(32):
                        c = data[p + 31 - j]
                        prev_hex[q + 2 * j] = hexchars[c >> 4]
                        prev_hex[q + 2 * j + 1] = hexchars[c & 15]
                    tin[ii, 6] = it
                p += 36
                n, p = _cs(data, p, end)
                if p < 0:
                    return 1, b, end, it, ii, io, sq, lq
                if n < 0 or p + n + 4 > end:
                    return 1, b, p, it, ii, io, sq, lq
                if fill:
                    tin[ii, 2] = _u32(data, p + n)
                    tin[ii, 3] = 0
                    tin[ii, 4] = -1
                    tin[ii, 5] = 0
                p += n + 4
                ii += 1
            n_out, p = _cs(data, p, end)
            if p < 0:
                return 1, b, end, it, ii, io, sq, lq
            if n_out < 0 or n_out > (end - p) // 9:
                return 3, b, p, it, ii, io, sq, lq
            first_out = io
            for _o in range(n_out):
                v = p
                n, p = _cs(data, p + 8, end)
                if p < 0:
                    return 1, b, end, it, ii, io, sq, lq
                if n < 0 or p + n > end:
                    return 1, b, p, it, ii, io, sq, lq
                if fill:
                    tout[io, 0] = _u32(data, v)
                    tout[io, 1] = _u32(data, v + 4)
                    tout[io, 2] = sq
                    tout[io, 3] = n
                    tout[io, 4] = it
                    scripts[sq : sq + n] = data[p : p + n]
                sq += n
                p += n
                io += 1
            body_end = p
            if seg:
                for k in range(n_in):
                    n_items, p = _cs(data, p, end)
                    if p < 0:
                        return 1, b, end, it, ii, io, sq, lq
                    if n_items < 0 or n_items > end - p:
                        return 3, b, p, it, ii, io, sq, lq
                    o1 = o2 = o3 = -1
                    l1 = l2 = l3 = 0
                    for _w in range(n_items):
                        n, p = _cs(data, p, end)
                        if p < 0:
                            return 1, b, end, it, ii, io, sq, lq
                        if n < 0 or p + n > end:
                            return 1, b, p, it, ii, io, sq, lq
                        o3, l3, o2, l2, o1, l1 = o2, l2, o1, l1, p, n
                        p += n
                    at = -1
                    ln = 0
                    if n_items >= 3 and l1 > 0 and data[o1] == 0x50:
                        at, ln = o3, l3
                    elif n_items >= 2:
                        at, ln = o2, l2
                    if fill:
                        row = first_in + k
                        tin[row, 3] = n_items
                        if at >= 0:
                            tin[row, 4] = lq
                            tin[row, 5] = ln
                            leaves[lq : lq + ln] = data[at : at + ln]
                    if at >= 0:
                        lq += ln
            if p + 4 > end:
                return 1, b, p, it, ii, io, sq, lq
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
            return 2, b, p, it, ii, io, sq, lq
        if fill:
            blk[b, 2] = weight
    return 0, -1, 0, it, ii, io, sq, lq


@dataclass
class Walk:
    """The fields of a buffer's blocks (see the module doc)."""

    blocks: np.ndarray
    txs: np.ndarray
    inputs: np.ndarray
    outputs: np.ndarray
    scripts: np.ndarray
    leaves: np.ndarray
    prev_hex: np.ndarray

    def values(self) -> np.ndarray:
        """The outputs' values (int64, as Core's signed CAmount)."""
        lo = self.outputs[:, OUT.VALUE_LO].astype(np.uint64)
        return ((self.outputs[:, OUT.VALUE_HI].astype(np.uint64) << np.uint64(32)) | lo).view(np.int64)


@dataclass
class WalkError(Exception):
    """Block ``block`` (an index into the starts given) does not parse: ``reason`` at ``pos``."""

    block: int
    pos: int
    reason: str


def walk_blocks(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> Walk:
    """The fields of the blocks at ``buf[starts[b]:ends[b]]`` (a :class:`WalkError` if one does not parse)."""
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    ends = np.ascontiguousarray(ends, dtype=np.int64)
    e2 = np.zeros((0, 1), dtype=np.int64)
    e1 = np.zeros(0, dtype=np.uint8)
    status, b, pos, n_tx, n_in, n_out, n_spk, n_leaf = jit.run(
        _walk, buf, starts, ends, False, e2, e2, e2, e2, e1, e1, e1, _HEX_CHARS
    )
    if status:
        raise WalkError(int(b), int(pos), _REASONS[int(status)])
    w = Walk(
        np.empty((len(starts), BLK.WIDTH), dtype=np.int64),  # the fill pass sets every cell
        np.empty((n_tx, TX.WIDTH), dtype=np.int64),
        np.empty((n_in, IN.WIDTH), dtype=np.int64),
        np.empty((n_out, OUT.WIDTH), dtype=np.int64),
        np.empty(n_spk, dtype=np.uint8),
        np.empty(n_leaf, dtype=np.uint8),
        np.empty(64 * n_in, dtype=np.uint8),
    )
    status, *_ = jit.run(
        _walk,
        buf,
        starts,
        ends,
        True,
        w.blocks,
        w.txs,
        w.inputs,
        w.outputs,
        w.scripts,
        w.leaves,
        w.prev_hex,
        _HEX_CHARS,
    )
    assert status == 0, "the fill pass disagrees with the count pass"
    return w


@jit.kernel
def _le(data, off, width, out):
    for i in range(off.shape[0]):
        v = 0
        p = off[i]
        for k in range(width):
            v |= int(data[p + k]) << (8 * k)  # 8 bytes wrap to the signed value, as '<i8' reads them
        out[i] = v


@jit.kernel
def _hex(data, off, table, out):
    for i in range(off.shape[0]):
        p = off[i] + 31
        q = 64 * i
        for j in range(32):
            b = data[p - j]
            out[q + 2 * j] = table[b >> 4]
            out[q + 2 * j + 1] = table[b & 15]


_HEX_CHARS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def hex_reversed(buf: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The display hex (byte-reversed) of the 32 bytes at each offset: 64 ASCII bytes per item."""
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    if jit.active():
        out = np.empty(64 * len(offsets), dtype=np.uint8)
        _hex(buf, offsets, _HEX_CHARS, out)
        return out
    d = gather_fixed(buf, offsets, 32)[:, ::-1]
    chars = np.empty((len(offsets), 64), dtype=np.uint8)
    chars[:, 0::2] = _HEX_CHARS[d >> 4]
    chars[:, 1::2] = _HEX_CHARS[d & 15]
    return chars.reshape(-1)


def gather_fixed(buf: np.ndarray, offsets: np.ndarray, width: int) -> np.ndarray:
    """``buf[offsets[i] : offsets[i] + width]`` for every i, as an (n, width) uint8 array."""
    if len(offsets) == 0:
        return np.zeros((0, width), dtype=np.uint8)
    return buf[offsets[:, None] + np.arange(width, dtype=np.int64)]


def read_le(buf: np.ndarray, offsets: np.ndarray, width: int, dtype: str) -> np.ndarray:
    """Little-endian integers of ``width`` bytes at ``offsets`` (``dtype`` '<i8', '<u4', ...)."""
    if jit.active() and width in (4, 8):
        out = np.empty(len(offsets), dtype=np.int64)
        _le(buf, np.ascontiguousarray(offsets, dtype=np.int64), width, out)
        return out if width == 8 else out.astype(dtype)
    return np.ascontiguousarray(gather_fixed(buf, offsets, width)).view(dtype).reshape(-1)

"""Vectorised decoding of the common runestone shapes, for :func:`.scan.decode_scripts` (internal).

ord's rules are applied to whole columns with numpy instead of one script at
a time. A script takes this path when its hex is well formed, it is ``6a 5d``
then exactly one push (a direct push ``01..4b`` or ``OP_PUSHDATA1``) covering
the rest, every varint is at most 19 bytes and, at 19, its last byte holds at
most 2 bits (ord's ``Overflow`` test; such scripts go to the reference decoder),
an etching's varints are at most 18 bytes (below 2**126: its supply check stays
simple) and its edicts' block deltas fit in 32 bits. That covers mints,
transfers, etchings with terms and the usual cenotaphs. For those it settles, in ord's order of precedence:

1. ``Varint`` (an unterminated last varint; no mint);
2. the message's first flaw: ``TruncatedField`` (a tag without value, no
   Body), then per edict chunk in order ``EdictRuneId`` / ``EdictOutput``, then
   ``TrailingIntegers``;
3. the fields, taken as ord takes them: Flags (first value; Etching, then
   Terms and Turbo only under Etching), Rune and Premine under Etching, Cap,
   Amount, heights and offsets under Terms, Mint (two values forming a valid
   rune id), Pointer (an existing output); then ``UnrecognizedFlag`` for
   flag bits left, ``UnrecognizedEvenTag`` for even values left.

Every other script (several pushes, stray opcodes, truncated pushes, longer
varints, bad hex) is left to the exact pure-Python decoder, which remains the
reference: ``tests/test_scan_fast.py`` checks both agree on every script.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

__all__ = ["FLAWS", "FastScan", "fast_scan"]

_U32_MAX = 2**32 - 1
_BODY, _FLAGS, _RUNE, _PREMINE, _MINT, _POINTER = 0, 2, 4, 6, 20, 22
_CAP, _AMOUNT = 8, 10
_TERMS_TAGS = (_CAP, _AMOUNT, 12, 14, 16, 18)  # cap, amount, height start/end, offset start/end
_N_TAGS = 12  # even tags 0..22 counted one by one; any other even tag is left over

#: flaw codes of :attr:`FastScan.flaw` (0: none)
FLAWS = (None, "Varint", "TruncatedField", "EdictRuneId", "EdictOutput", "TrailingIntegers",
         "SupplyOverflow", "UnrecognizedFlag", "UnrecognizedEvenTag")  # fmt: skip
_VARINT, _TRUNCATED, _RUNE_ID, _OUTPUT, _TRAILING, _SUPPLY, _FLAG, _EVEN = range(1, 9)
_PUSHDATA1 = 0x4C
_MAX_FAST_VARINT = 19  # ord's longest varint: 19 x 7 bits, the last group at most 2 bits (u128)
_TOP = 18  # the group of bits 126 and 127, kept apart from the two 63-bit limbs
_HUGE = np.iinfo(np.int64).max  # stands for any value >= 2**63 in comparisons
_U128_MAX = 2**128 - 1

_NIBBLE = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _NIBBLE[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _NIBBLE[_c] = 10 + _i


class FastScan:
    """What the vectorised pass settled: ``done`` per script and, where done, the results.

    ``flaw`` is a code into :data:`FLAWS` (0: a runestone), ``edicts`` counts a
    runestone's edicts, ``mint_block`` is ``-1`` without a mint, ``pointer`` is
    ``-1`` without one (or where it names no output), ``etching`` says the Flags
    field has the Etching bit (its fields are not returned: etchings are rare and
    go to the reference decoder). The edicts of the runestones (``flaw`` 0), in
    script order, are ``edict_owner`` (the script), ``edict_block``, ``edict_tx``
    (absolute ids), ``edict_amount`` and ``edict_output``, the amount being
    ``edict_amount_top * 2**126 + edict_amount_hi * 2**63 + edict_amount`` (three
    limbs: a u128 needs 128 bits, two int64 limbs of 63 hold 126); ``big_amount``
    marks the scripts with an amount of 2**63 or more.
    """

    __slots__ = ("big_amount", "done", "edict_amount", "edict_amount_hi", "edict_amount_top", "edict_block",
                 "edict_output", "edict_owner",
                 "edict_tx", "edicts", "etching", "flaw", "mint_block", "mint_tx", "pointer")  # fmt: skip

    def __init__(self, n: int) -> None:
        self.done = np.zeros(n, dtype=bool)
        self.flaw = np.zeros(n, dtype=np.int8)
        self.edicts = np.zeros(n, dtype=np.int64)
        self.mint_block = np.full(n, -1, dtype=np.int64)
        self.mint_tx = np.zeros(n, dtype=np.int64)
        self.pointer = np.full(n, -1, dtype=np.int64)
        self.etching = np.zeros(n, dtype=bool)
        self.big_amount = np.zeros(n, dtype=bool)
        empty = np.zeros(0, dtype=np.int64)
        self.edict_owner = self.edict_block = self.edict_tx = self.edict_output = empty
        self.edict_amount = self.edict_amount_hi = self.edict_amount_top = empty


def _values(arr: pa.Array, large: pa.DataType) -> tuple[np.ndarray, np.ndarray]:
    """The bytes of a string or binary column (as ``large``, 64-bit offsets) and its offsets."""
    arr = arr.cast(large) if arr.type != large else arr
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    buf = arr.buffers()[2]
    data = np.frombuffer(buf, dtype=np.uint8) if buf else np.zeros(0, np.uint8)
    return data[offsets[0] : offsets[-1]], offsets


def _raw_bytes(arr: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_hex_bytes` of a binary column (null: an empty script)."""
    data, offsets = _values(arr, pa.large_binary())
    size = np.diff(offsets)
    return data, offsets[:-1] - offsets[0], size, np.ones(len(size), dtype=bool)


def _hex_bytes(arr: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Decoded bytes of the scripts, their byte offsets and sizes, and which decoded (even, valid hex)."""
    chars, offsets = _values(arr, pa.large_string())
    lengths = np.diff(offsets)
    ok = lengths % 2 == 0
    if not ok.all():  # keep the even-length scripts only: pairs then align on each script's start
        chars = chars[np.repeat(ok, lengths)]
        lengths = np.where(ok, lengths, 0)
    pairs = _NIBBLE[chars].reshape(-1, 2)
    size = lengths // 2
    bad = (pairs[:, 0] == 255) | (pairs[:, 1] == 255)
    if bad.any():
        ok[np.repeat(np.arange(len(size)), size)[bad]] = False
    data = ((pairs[:, 0] << 4) | pairs[:, 1]).astype(np.uint8)
    return data, np.cumsum(size) - size, size, ok


def _sum_at(bits: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sums of ``bits`` (disjoint bit groups, so sums are ORs) from each start to the next, as int64."""
    return np.add.reduceat(bits, starts).astype(np.int64) if len(starts) else np.zeros(0, np.int64)


def _first(owner: np.ndarray, values: np.ndarray, n: int, nth: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per owner the ``nth`` of its values (in order) and whether it has one (else 0)."""
    count = np.bincount(owner, minlength=n)
    starts = np.cumsum(count) - count
    has = count > nth
    out = np.zeros(n, dtype=values.dtype)
    out[has] = values[starts[has] + nth]
    return out, has


def fast_scan(arr: pa.Array, n_outputs: int | np.ndarray) -> FastScan:
    """Decode what can be decoded vectorised among candidate scripts (``arr``: hex or binary, all ``6a5d…``).

    ``n_outputs``: the output count of each script's transaction (one for all, or one per script).
    """
    n = len(arr)
    res = FastScan(n)
    if n == 0:
        return res
    n_outputs = np.broadcast_to(np.asarray(n_outputs, dtype=np.int64), (n,))
    binary = pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type)
    data, start, size, ok = _raw_bytes(arr) if binary else _hex_bytes(arr)
    if len(data) == 0:
        return res
    # ---- one push after the magic
    at = lambda k: data[np.minimum(start + k, len(data) - 1)].astype(np.int64)  # noqa: E731
    op = at(2)
    direct = (size >= 3) & (op >= 1) & (op < _PUSHDATA1) & (op == size - 3)
    pd1 = (size >= 4) & (op == _PUSHDATA1) & (at(3) == size - 4)
    ok &= (size >= 3) & (at(0) == 0x6A) & (at(1) == 0x5D) & (direct | pd1)
    head = np.where(pd1, 4, 3)
    plen = np.where(ok, size - head, 0)
    # ---- varints of the payloads
    owner = np.repeat(np.arange(n), plen)
    idx = np.repeat(start + head - (np.cumsum(plen) - plen), plen) + np.arange(plen.sum())
    payload = data[idx]
    end = payload < 0x80
    last = (np.cumsum(plen) - 1)[plen > 0]
    unterminated = np.zeros(n, dtype=bool)
    unterminated[plen > 0] = ~end[last]
    end[last] = True  # a varint never runs into the next script's payload
    vstart = np.flatnonzero(np.concatenate([[True], end[:-1]])[: len(payload)])
    vlen = np.diff(np.append(vstart, len(payload)))
    vowner = owner[vstart]
    ok[vowner[vlen > _MAX_FAST_VARINT]] = False  # overlong (or an overflow before it): not here
    vid = np.cumsum(np.concatenate([[0], end[:-1]]).astype(np.int64))[: len(payload)]
    k = np.arange(len(payload)) - vstart[vid]  # byte within its varint
    group = (payload & 0x7F).astype(np.uint64)
    at_top = np.flatnonzero(k == _TOP)  # the 19th bytes: few, so the third limb is set, not summed
    ok[owner[at_top[group[at_top] > 3]]] = False  # ord's Overflow: bits beyond 128
    top = np.zeros(len(vstart), np.int64)
    top[vid[at_top]] = group[at_top]
    group[at_top] = 0  # out of the two 63-bit limbs below
    lo = _sum_at(np.where(k < 9, group << (7 * np.minimum(k, 8)).astype(np.uint64), 0), vstart)
    hi = _sum_at(np.where(k >= 9, group << (7 * np.clip(k - 9, 0, 8)).astype(np.uint64), 0), vstart)
    # value = top * 2**126 + hi * 2**63 + lo; comparisons use ``values`` (exact below 2**63, else
    # _HUGE), parity ``lo``; ``wide`` is ``hi`` made nonzero where only ``top`` is (any value >= 2**63)
    wide = np.where(top > 0, _HUGE, hi)
    values = np.where(wide > 0, _HUGE, lo)
    if not len(values):  # only empty payloads: runestones without fields
        res.done = ok
        return res
    flaw = np.where(unterminated, _VARINT, 0).astype(np.int8)
    # ---- message: fields until the Body tag, then edicts
    count = np.bincount(vowner, minlength=n)
    j = np.arange(len(values)) - (np.cumsum(count) - count)[vowner]
    big = np.iinfo(np.int64).max
    body_at = np.full(n, big)
    is_body = (j % 2 == 0) & (values == _BODY)  # a tag's parity is lo's: 2**63 is even
    np.minimum.at(body_at, vowner[is_body], j[is_body])
    has_body = body_at < big
    flaw[(flaw == 0) & ~has_body & (count % 2 == 1)] = _TRUNCATED
    tag_row = (j < body_at[vowner]) & (j % 2 == 0) & (j + 1 < count[vowner])
    flaw_e, n_edicts, chunks = _edicts(values, vowner, j > body_at[vowner], n, n_outputs, ok)
    flaw = np.where(flaw == 0, flaw_e, flaw).astype(np.int8)
    # ---- fields, taken as ord takes them
    rows = np.flatnonzero(tag_row)
    tags, towner = values[rows], vowner[rows]
    even = lo[rows] % 2 == 0
    small = even & (tags < 2 * _N_TAGS)
    counts = np.bincount(towner[small] * _N_TAGS + tags[small] // 2, minlength=n * _N_TAGS).reshape(
        n, _N_TAGS
    )
    other_even = np.bincount(towner[even & ~small], minlength=n)
    first = lambda tag, nth=0: _first(towner[tags == tag], rows[tags == tag] + 1, n, nth)  # noqa: E731
    f_at, has_flags = first(_FLAGS)
    flags, flags_huge = np.where(has_flags, lo[f_at], 0), has_flags & (wide[f_at] > 0)
    etching = (flags & 1) == 1
    ok[etching & (np.bincount(vowner[vlen == _MAX_FAST_VARINT], minlength=n) > 0)] = False
    terms = etching & ((flags & 2) == 2)
    left_flags = ((flags & ~(etching * 5 + terms * 2)) != 0) | flags_huge  # Etching, Turbo; Terms
    b_at, has_mint = first(_MINT, 0)
    t_at, _ = first(_MINT, 1)
    mint_b, mint_t = values[b_at], values[t_at]
    has_mint &= counts[:, _MINT // 2] >= 2
    has_mint &= (mint_t <= _U32_MAX) & ~((mint_b == 0) & (mint_t > 0))
    ok[has_mint & (mint_b == _HUGE)] = False  # a block id >= 2**63: not in int64
    p_at, has_ptr = first(_POINTER)
    taken = np.zeros((n, _N_TAGS), dtype=np.int64)
    taken[:, _FLAGS // 2] = 1
    taken[:, _MINT // 2] = 2 * has_mint
    taken[:, _POINTER // 2] = has_ptr & (values[p_at] < n_outputs)
    taken[:, [_RUNE // 2, _PREMINE // 2]] = etching[:, None]
    taken[:, [t // 2 for t in _TERMS_TAGS]] = terms[:, None]
    for t in _TERMS_TAGS[2:]:  # heights and offsets are taken only as u64: value <= 2**64 - 1
        at_t, has_t = first(t)
        taken[:, t // 2] &= ~(has_t & (wide[at_t] >= 2))
    left_even = (other_even > 0) | (counts > taken).any(axis=1)
    overflow = _supply_overflow(etching, terms, first, lo, hi, counts)
    flaw[(flaw == 0) & overflow] = _SUPPLY
    flaw[(flaw == 0) & left_flags] = _FLAG
    flaw[(flaw == 0) & left_even] = _EVEN
    # ---- results
    res.done = ok
    res.flaw = np.where(ok, flaw, 0).astype(np.int8)
    res.edicts = np.where(ok & (flaw == 0), n_edicts, 0)
    minted = ok & has_mint & (flaw != _VARINT)
    res.mint_block[minted] = mint_b[minted]
    res.mint_tx[minted] = mint_t[minted]
    res.etching = ok & etching
    pointed = ok & (res.flaw == 0) & (taken[:, _POINTER // 2] == 1)
    res.pointer[pointed] = values[p_at][pointed]
    eo, block, tx, amount_at, out = chunks
    keep = (res.flaw == 0)[eo] & ok[eo]
    res.edict_owner, res.edict_block, res.edict_tx = eo[keep], block[keep], tx[keep]
    amount_at = amount_at[keep]
    res.edict_amount, res.edict_amount_hi, res.edict_amount_top = lo[amount_at], hi[amount_at], top[amount_at]
    res.edict_output = out[keep]
    res.big_amount[res.edict_owner[wide[amount_at] > 0]] = True
    return res


def _supply_overflow(
    etching: np.ndarray, terms: np.ndarray, first: Any, lo: np.ndarray, hi: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """``premine + cap * amount > u128::MAX`` of each etching, exactly.

    Values are below 2**126 here, so the bit lengths of cap and amount decide
    except near the edge: a sum of at most 126 bits cannot overflow, one of 131
    or more always does (with a bit of slack for the float estimate); the rare
    etchings in between are checked with Python integers.
    """
    parts = [(*first(tag), under) for tag, under in ((_PREMINE, etching), (_CAP, terms), (_AMOUNT, terms))]
    parts = [(at, has & under) for at, has, under in parts]
    (_, _), (c_at, c_has), (a_at, a_has) = parts
    both = c_has & a_has & ((hi[c_at] > 0) | (hi[a_at] > 0))  # under 2**63 each: never overflows
    out = np.zeros(len(etching), dtype=bool)
    if not both.any():
        return out
    bits = _bit_length(hi[c_at], lo[c_at]) + _bit_length(hi[a_at], lo[a_at])
    out = both & (bits >= 131)
    for i in np.flatnonzero(both & (bits > 126) & (bits < 131)):
        premine, cap, amount = (int(hi[at[i]]) << 63 | int(lo[at[i]]) if has[i] else 0 for at, has in parts)
        out[i] = premine + cap * amount > _U128_MAX
    return out


def _bit_length(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """Approximate bit length (within 1) of ``hi * 2**63 + lo``."""
    with np.errstate(divide="ignore"):
        est = lambda x: np.where(x > 0, np.floor(np.log2(np.maximum(x, 1).astype(np.float64))) + 1, 0)  # noqa: E731
    return np.where(hi > 0, 63 + est(hi), est(lo)).astype(np.int64)


def _edicts(
    values: np.ndarray,
    vowner: np.ndarray,
    in_edicts: np.ndarray,
    n: int,
    n_outputs: np.ndarray,
    ok: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
    """Per script the message flaw of its edicts (0, RuneId, Output, Trailing) and their count,
    and the whole chunks: owner, absolute block and tx, amount, output (meaningful where no flaw).

    Marks ``ok`` False where a block delta needs more than 32 bits (sums kept in int64).
    """
    n_ints = np.bincount(vowner[in_edicts], minlength=n)
    flaw = np.where(n_ints % 4 != 0, _TRAILING, 0)
    # whole chunks only: the first 4 * (n_ints // 4) integers after Body
    pos = np.flatnonzero(in_edicts)
    k = np.arange(len(pos)) - (np.cumsum(n_ints) - n_ints)[vowner[pos]]
    pos = pos[k < (n_ints // 4 * 4)[vowner[pos]]]
    ev = values[pos].reshape(-1, 4)
    eo = vowner[pos][::4]
    if not len(ev):
        empty = np.zeros(0, dtype=np.int64)
        return flaw, n_ints // 4, (empty, empty, empty, empty, empty)
    bd, td, out = ev[:, 0], ev[:, 1], ev[:, 3]
    ok[eo[bd > _U32_MAX]] = False
    first = np.concatenate([[True], eo[1:] != eo[:-1]])
    td_ok = td <= _U32_MAX
    block = _segmented_cumsum(np.where(bd > _U32_MAX, 0, bd), first)
    tx = _segmented_cumsum(np.where(td_ok, td, 0), first | (bd != 0))
    bad_id = ~td_ok | (tx > _U32_MAX) | ((block == 0) & (tx > 0))
    bad = bad_id | (out > n_outputs[eo])
    # the first bad chunk of each script decides (ord stops there)
    first_bad = np.full(n, np.iinfo(np.int64).max)
    where = np.flatnonzero(bad)
    np.minimum.at(first_bad, eo[where], where)
    has_bad = first_bad < np.iinfo(np.int64).max
    code = np.where(bad_id[np.minimum(first_bad, len(bad) - 1)], _RUNE_ID, _OUTPUT)
    flaw = np.where(has_bad, code, flaw)
    return flaw, n_ints // 4, (eo, block, tx, pos.reshape(-1, 4)[:, 2], out)


def _segmented_cumsum(x: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Running sums of non-negative ``x`` restarting where ``start`` is True."""
    total = np.cumsum(x)
    return total - np.maximum.accumulate(np.where(start, total - x, 0))

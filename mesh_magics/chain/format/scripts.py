"""Scripts in bulk: their type and their address.

Compiled forms of :func:`.address.script_type` and :func:`.address.address` over
``(offset, length)`` ranges of a buffer, with the same answers (the tests compare
them): :func:`classify` gives a code per script (an index into :data:`SCRIPT_TYPES`),
:func:`addresses` the address strings as Arrow-style ``(offsets, data, valid)`` buffers
(base58check's checksums come from :mod:`.hashing`). Without numba these are loops over
the reference functions.
"""

from __future__ import annotations

import numpy as np

from . import hashing, jit
from .address import Network, address, script_type

__all__ = ["SCRIPT_TYPES", "addresses", "classify"]

#: script type names, indexed by the codes of :func:`classify`
SCRIPT_TYPES = (
    "p2pkh",
    "p2sh",
    "p2wpkh",
    "p2wsh",
    "p2tr",
    "witness_unknown",
    "anchor",
    "nulldata",
    "p2pk",
    "multisig",
    "nonstandard",
)
_CODE = {name: i for i, name in enumerate(SCRIPT_TYPES)}
_B58 = np.frombuffer(b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz", dtype=np.uint8)
_B32 = np.frombuffer(b"qpzry9x8gf2tvdw0s3jn54khce6mua7l", dtype=np.uint8)
_GEN = np.array([0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3], dtype=np.int64)


@jit.kernel
def _classify(data, off, ln, out):
    for i in range(off.shape[0]):
        p = off[i]
        n = ln[i]
        code = 10
        if n == 25 and data[p] == 0x76 and data[p + 1] == 0xA9 and data[p + 2] == 20:
            if data[p + 23] == 0x88 and data[p + 24] == 0xAC:
                code = 0
        if code == 10 and n == 23 and data[p] == 0xA9 and data[p + 1] == 20 and data[p + 22] == 0x87:
            code = 1
        if code == 10 and 4 <= n <= 42:
            op = data[p]
            plen = data[p + 1]
            if (op == 0 or 0x51 <= op <= 0x60) and plen + 2 == n and 2 <= plen <= 40:
                code = 5
                if op == 0:
                    code = 2 if plen == 20 else (3 if plen == 32 else 10)
                elif op == 0x51 and plen == 32:
                    code = 4
                elif op == 0x51 and plen == 2 and data[p + 2] == 0x4E and data[p + 3] == 0x73:
                    code = 6
                out[i] = code
                continue
        if code == 10 and n > 0 and data[p] == 0x6A:
            code = 7
        if code == 10 and n == 35 and data[p] == 33 and data[p + 34] == 0xAC:
            code = 8
        if code == 10 and n == 67 and data[p] == 65 and data[p + 66] == 0xAC:
            code = 8
        if code == 10 and n >= 37 and data[p + n - 1] == 0xAE and 0x51 <= data[p] <= 0x60:
            code = 9
        out[i] = code


@jit.kernel
def _encode(
    data, off, codes, checks, vers, hrp, chk_hrp, b58, b32, gtab, out, out_off, valid, five, limbs, chunk
):
    """Addresses of scripts (codes from _classify); checks: the 4 checksum bytes per base58 row.

    Base58 divides the 25-byte payload (as seven 32-bit limbs) by 58**5 at a time; bech32's
    checksum starts from the state after the network's hrp (``chk_hrp``) and steps five
    bits at a time through the generator table ``gtab``.
    """
    q = 0
    for i in range(off.shape[0]):
        out_off[i] = q
        code = codes[i]
        p = off[i]
        if code == 0 or code == 1:
            start = p + 3 if code == 0 else p + 2  # the 20-byte hash
            zeros = 0
            if vers[code] == 0:
                zeros = 1
                while zeros < 21 and data[start + zeros - 1] == 0:
                    zeros += 1
            limbs[0] = vers[code]
            for k in range(5):
                v = 0
                for j in range(4):
                    v = (v << 8) | data[start + 4 * k + j]
                limbs[1 + k] = v
            limbs[6] = (checks[i, 0] << 24) | (checks[i, 1] << 16) | (checks[i, 2] << 8) | checks[i, 3]
            lead = 0
            while lead < 7 and limbs[lead] == 0:
                lead += 1
            n = 0
            while lead < 7:
                rem = 0
                for k in range(lead, 7):
                    cur = (rem << 32) | limbs[k]
                    limbs[k] = cur // 656356768
                    rem = cur % 656356768
                chunk[n] = rem
                n += 1
                while lead < 7 and limbs[lead] == 0:
                    lead += 1
            for _z in range(zeros):
                out[q] = b58[0]
                q += 1
            started = False
            for k in range(n - 1, -1, -1):
                c = chunk[k]
                d4 = c % 58
                c //= 58
                d3 = c % 58
                c //= 58
                d2 = c % 58
                c //= 58
                d1 = c % 58
                d0 = c // 58
                for d in (d0, d1, d2, d3, d4):
                    if started or d != 0:
                        started = True
                        out[q] = b58[d]
                        q += 1
            valid[i] = 1
        elif 2 <= code <= 6:
            op = data[p]
            version = 0 if op == 0 else op - 0x50
            plen = data[p + 1]
            nf = 0
            five[nf] = version
            nf += 1
            acc = 0
            bits = 0
            for j in range(plen):
                acc = ((acc << 8) | data[p + 2 + j]) & 0xFFFFFFFF
                bits += 8
                while bits >= 5:
                    bits -= 5
                    five[nf] = (acc >> bits) & 31
                    nf += 1
            if bits:
                five[nf] = (acc << (5 - bits)) & 31
                nf += 1
            chk = chk_hrp
            total = nf + 6  # the data, then six zeros; two 5-bit values per step through gtab
            j = 0
            while j + 1 < total:
                v = ((five[j] if j < nf else 0) << 5) | (five[j + 1] if j + 1 < nf else 0)
                chk = (((chk & 0xFFFFF) << 10) ^ v) ^ gtab[chk >> 20]
                j += 2
            if j < total:
                v = five[j] if j < nf else 0
                chk = (((chk & 0x1FFFFFF) << 5) ^ v) ^ gtab[1024 + (chk >> 25)]
            chk ^= 1 if version == 0 else 0x2BC830A3
            for j in range(hrp.shape[0]):
                out[q] = hrp[j]
                q += 1
            out[q] = 0x31  # "1"
            q += 1
            for j in range(nf):
                out[q] = b32[five[j]]
                q += 1
            for j in range(6):
                out[q] = b32[(chk >> (5 * (5 - j))) & 31]
                q += 1
            valid[i] = 1
        else:
            valid[i] = 0
    out_off[off.shape[0]] = q
    return q


def _hrp_state(hrp: str) -> int:
    """The bech32 checksum state after the expanded hrp (the same for every address of a network)."""
    chk = 1
    for v in [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]:
        top = chk >> 25
        chk = ((chk & 0x1FFFFFF) << 5) ^ v
        for k in range(5):
            if (top >> k) & 1:
                chk ^= int(_GEN[k])
    return chk


def _step_table() -> np.ndarray:
    """What the checksum's top bits XOR in: 1024 entries for two 5-bit steps at once, then 32 for one."""

    def one(chk: int, v: int) -> int:
        top = chk >> 25
        chk = ((chk & 0x1FFFFFF) << 5) ^ v
        for k in range(5):
            if (top >> k) & 1:
                chk ^= int(_GEN[k])
        return chk

    two = [one(one(t << 20, 0), 0) for t in range(1024)]  # the top ten bits' effect over two steps
    return np.array(two + [one(t << 25, 0) for t in range(32)], dtype=np.int64)


_GTAB = _step_table()


@jit.kernel
def _preimages(data, off, codes, rows, vers, out):
    """The 21 bytes base58check hashes for each P2PKH/P2SH row: version byte, then the script's hash."""
    for k in range(rows.shape[0]):
        i = rows[k]
        start = off[i] + (3 if codes[i] == 0 else 2)
        out[21 * k] = vers[codes[i]]
        out[21 * k + 1 : 21 * k + 21] = data[start : start + 20]


def classify(buf: np.ndarray, off: np.ndarray, ln: np.ndarray) -> np.ndarray:
    """The :data:`SCRIPT_TYPES` code (int8) of each script ``buf[off:off+ln]``."""
    off = np.ascontiguousarray(off, dtype=np.int64)
    ln = np.ascontiguousarray(ln, dtype=np.int64)
    out = np.empty(len(off), dtype=np.int8)
    if jit.active():
        _classify(buf, off, ln, out)
        return out
    mv = buf.data
    out[:] = [_CODE[script_type(bytes(mv[o : o + n]))] for o, n in zip(off.tolist(), ln.tolist())]
    return out


def addresses(
    buf: np.ndarray, off: np.ndarray, ln: np.ndarray, codes: np.ndarray, net: Network
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(int32 offsets, utf-8 data, valid)`` of the scripts' addresses in ``net``'s encoding."""
    off = np.ascontiguousarray(off, dtype=np.int64)
    n = len(off)
    if not jit.active():
        mv = buf.data
        texts = [address(bytes(mv[o : o + k]), net) for o, k in zip(off.tolist(), np.asarray(ln).tolist())]
        valid = np.array([t is not None for t in texts], dtype=bool)
        enc = [t.encode() if t else b"" for t in texts]
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum([len(e) for e in enc], out=offsets[1:])
        return offsets.astype(np.int32), np.frombuffer(b"".join(enc), dtype=np.uint8), valid
    codes = np.ascontiguousarray(codes, dtype=np.int8)
    b58_rows = np.flatnonzero(codes <= 1)
    checks = np.zeros((n, 4), dtype=np.uint8)
    if len(b58_rows):
        flat = np.empty(21 * len(b58_rows), dtype=np.uint8)
        _preimages(buf, off, codes, b58_rows, np.array([net.p2pkh, net.p2sh], dtype=np.int64), flat)
        rows = np.arange(len(b58_rows), dtype=np.int64) * 21
        checks[b58_rows] = hashing.sha256d_parts(flat, rows, np.full(len(rows), 21))[:, :4]
    hrp = np.frombuffer(net.hrp.encode(), dtype=np.uint8)
    bound = np.where(codes <= 1, 35, np.where(codes <= 6, len(hrp) + 2 + 65 + 6, 0))
    out = np.empty(int(bound.sum()), dtype=np.uint8)
    out_off = np.empty(n + 1, dtype=np.int64)
    valid = np.empty(n, dtype=np.uint8)
    vers = np.array([net.p2pkh, net.p2sh], dtype=np.int64)
    total = _encode(buf, off, codes, checks, vers, hrp, _hrp_state(net.hrp), _B58, _B32, _GTAB, out, out_off,
                    valid, np.zeros(80, np.int64), np.zeros(7, np.int64), np.zeros(8, np.int64))  # fmt: skip
    return out_off.astype(np.int32), out[:total], valid.astype(bool)

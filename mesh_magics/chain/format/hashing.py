"""Double SHA-256 of many byte ranges at once: txids, block hashes, merkle roots, checksums.

Hashing dominates a block walk (a txid per transaction, a merkle node per transaction,
a checksum per base58 address), and Python's per-call overhead dominates hashing small
messages. With numba, the loops run compiled and call OpenSSL's ``SHA256_Init/Update/
Final`` from the ``libcrypto`` Python's own ``hashlib`` is linked against (SHA-NI where
the CPU has it): several million hashes per second. Without numba or libcrypto they are
a ``hashlib`` loop with the same results (``MESH_MAGICS_LIBCRYPTO=0`` forces that).

An item is ``k`` byte ranges hashed as one message (a segwit txid is the version, the
inputs and outputs, and the locktime: ``k = 3``): ``offs`` and ``lens`` are (n, k).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
from typing import Any

import numpy as np

from . import jit

__all__ = ["LIBCRYPTO", "merkle_roots", "sha256d_parts"]


def _load_libcrypto() -> Any:
    if os.environ.get("MESH_MAGICS_LIBCRYPTO", "1") == "0" or not jit.HAVE_NUMBA:
        return None
    candidates = []
    try:  # the copy hashlib uses, as the process mapped it
        import _hashlib  # noqa: F401

        with open("/proc/self/maps") as maps:
            candidates += sorted({line.split()[-1] for line in maps if "libcrypto" in line})
    except (ImportError, OSError):
        pass
    candidates += [n for n in (ctypes.util.find_library("crypto"), "libcrypto.so.3", "libcrypto.dylib") if n]
    for name in candidates:
        try:
            lib = ctypes.CDLL(name)
            fns = lib.SHA256_Init, lib.SHA256_Update, lib.SHA256_Final
        except (OSError, AttributeError):
            continue
        fns[0].argtypes, fns[0].restype = [ctypes.c_void_p], ctypes.c_int
        fns[1].argtypes, fns[1].restype = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t], ctypes.c_int
        fns[2].argtypes, fns[2].restype = [ctypes.c_void_p, ctypes.c_void_p], ctypes.c_int
        return fns
    return None


_FNS = _load_libcrypto()
#: whether the compiled path with OpenSSL's SHA-256 is in use (numba and libcrypto found)
LIBCRYPTO = _FNS is not None


def _compiled_kernels() -> tuple[Any, Any]:
    init, update, final = _FNS

    def parts(data, offs, lens, out, ctx, tmp):
        c = ctx.ctypes.data
        base = data.ctypes.data
        t = tmp.ctypes.data
        o = out.ctypes.data
        for i in range(offs.shape[0]):
            init(c)
            for k in range(offs.shape[1]):
                update(c, base + offs[i, k], lens[i, k])
            final(t, c)
            init(c)
            update(c, t, 32)
            final(o + 32 * i, c)
        return 0

    def merkle(ids, first, count, out, level, ctx):
        c = ctx.ctypes.data
        lv = level.ctypes.data
        for b in range(first.shape[0]):
            n = count[b]
            for j in range(32 * n):
                level[j] = ids[32 * first[b] + j]
            while n > 1:
                if n % 2:
                    for j in range(32):
                        level[32 * n + j] = level[32 * (n - 1) + j]
                    n += 1
                for j in range(n // 2):
                    init(c)
                    update(c, lv + 64 * j, 64)
                    final(lv + 64 * j, c)  # the first half of the pair's slot, overwritten in place
                    init(c)
                    update(c, lv + 64 * j, 32)
                    final(lv + 32 * j, c)
                n //= 2
            for j in range(32):
                out[32 * b + j] = level[j]
        return 0

    return jit.kernel(parts, cache=False), jit.kernel(merkle, cache=False)


_PARTS: Any
_MERKLE: Any
_PARTS, _MERKLE = _compiled_kernels() if LIBCRYPTO else (None, None)


def _use_compiled() -> bool:
    return _PARTS is not None and jit.active()


def sha256d_parts(buf: np.ndarray, offs: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """The double SHA-256 of each item (its ``k`` ranges concatenated), as an (n, 32) uint8 array."""
    offs = np.ascontiguousarray(offs, dtype=np.int64).reshape(len(offs), -1)
    lens = np.ascontiguousarray(lens, dtype=np.int64).reshape(len(offs), -1)
    n = len(offs)
    if _use_compiled():
        out = np.empty(n * 32, dtype=np.uint8)
        _PARTS(np.ascontiguousarray(buf), offs, lens, out, np.zeros(512, np.uint8), np.zeros(64, np.uint8))
        return out.reshape(n, 32)
    mv = np.ascontiguousarray(buf).data
    sha = hashlib.sha256
    digests = []
    for row_o, row_l in zip(offs.tolist(), lens.tolist()):
        h = sha()
        for o, ln in zip(row_o, row_l):
            h.update(mv[o : o + ln])
        digests.append(sha(h.digest()).digest())
    return np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(n, 32).copy()


def merkle_roots(txids: np.ndarray, first: np.ndarray, count: np.ndarray) -> np.ndarray:
    """The merkle root of each block's txids ``txids[first[b] : first[b] + count[b]]`` as (n_blocks, 32)."""
    first = np.ascontiguousarray(first, dtype=np.int64)
    count = np.ascontiguousarray(count, dtype=np.int64)
    nb = len(first)
    if _use_compiled():
        out = np.zeros(nb * 32, dtype=np.uint8)
        biggest = int(count.max()) if nb else 0
        level = np.zeros(32 * (biggest + 2), dtype=np.uint8)
        _MERKLE(np.ascontiguousarray(txids).reshape(-1), first, count, out, level, np.zeros(512, np.uint8))
        return out.reshape(nb, 32)
    sha = hashlib.sha256
    roots = []
    flat = np.ascontiguousarray(txids).tobytes()
    for f, c in zip(first.tolist(), count.tolist()):
        row = [flat[32 * i : 32 * i + 32] for i in range(f, f + c)]
        while len(row) > 1:
            if len(row) % 2:
                row.append(row[-1])
            row = [sha(sha(row[i] + row[i + 1]).digest()).digest() for i in range(0, len(row), 2)]
        roots.append(row[0] if row else bytes(32))
    return np.frombuffer(b"".join(roots), dtype=np.uint8).reshape(nb, 32).copy()

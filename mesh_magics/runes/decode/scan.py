"""Decode many output scripts at once: a vectorised prefilter, then ord's rules on the candidates.

:func:`decode_scripts` takes a column of output scripts (hex strings, as
loaders give them) and returns, per script, what the runestone decoder makes of
it when the script is the deciding output of its transaction: ``kind``
(``none``, ``runestone`` or ``cenotaph``), the cenotaph ``flaw``, the number of
edicts and the rune id of a mint. Most outputs carry no runestone, so the
magic-prefix test (``6a5d``) runs on the whole column in Arrow's C++ kernels;
the candidates in the common shapes (mints, transfers) are decoded with numpy
over all of them at once (:mod:`.fastscan`), and only the rest (etchings,
cenotaphs, unusual scripts) reach :func:`~mesh_magics.runes.protocol.runestone.decipher`
(pure Python, the reference). Map it over a dask column with
``map_partitions`` to decode on the workers (see
``benchmarks/decode_throughput.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..protocol.runestone import Cenotaph, decipher
from .fastscan import FLAWS, fast_scan

__all__ = ["SCAN_COLUMNS", "decode_scripts"]

#: output columns of :func:`decode_scripts`
SCAN_COLUMNS = {"kind": "string", "flaw": "string", "edicts": "int64", "mint": "string"}
_FAST_FLAWS = pa.array(FLAWS, pa.string())
_KINDS = pa.array(["none", "runestone", "cenotaph"], pa.large_string())


def _arrow(scripts: Any) -> pa.Array:
    arr = pa.array(scripts, type=pa.large_string(), from_pandas=True)
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def decode_scripts(scripts: Any, n_outputs: int = 1, *, vectorised: bool = True) -> pd.DataFrame:
    """Per script: ``kind``, ``flaw``, ``edicts`` and ``mint`` (see the module docstring).

    ``scripts``: a pandas Series / Arrow array / sequence of hex strings (null =
    empty script). Each is decoded as the runestone output of a transaction
    with ``n_outputs`` outputs (which bounds edict outputs and the pointer).
    The result has the input's index when it is a Series. ``vectorised=False``
    sends every candidate through the pure-Python decoder (the reference the
    vectorised pass is tested against).
    """
    arr = _arrow(scripts)
    lower = pc.utf8_lower(pc.utf8_slice_codeunits(arr, 0, 4))
    hits = np.flatnonzero(pc.fill_null(pc.equal(lower, "6a5d"), False).to_numpy(zero_copy_only=False))
    kind = np.zeros(len(arr), dtype=np.int8)
    edicts = np.zeros(len(arr), dtype=np.int64)
    flaws: dict[int, str] = {}  # sparse: most scripts have neither
    mints: list[tuple[np.ndarray, pa.Array]] = []
    flaw_parts: list[tuple[np.ndarray, pa.Array]] = []
    candidates = arr.take(pa.array(hits, type=pa.int64()))
    if vectorised and len(hits):
        fast = fast_scan(candidates, n_outputs)
        done = hits[fast.done]
        kind[done] = np.where(fast.flaw[fast.done] == 0, 1, 2)
        edicts[done] = fast.edicts[fast.done]
        flawed = fast.done & (fast.flaw > 0)
        flaw_parts.append((hits[flawed], _FAST_FLAWS.take(pa.array(fast.flaw[flawed]))))
        minted = fast.done & (fast.mint_block >= 0)
        ids = pc.binary_join_element_wise(
            pa.array(fast.mint_block[minted]).cast(pa.string()),
            pa.array(fast.mint_tx[minted]).cast(pa.string()),
            ":",
        )
        mints.append((hits[minted], ids))
        rest = ~fast.done
        hits, candidates = hits[rest], candidates.filter(pa.array(rest))
    outputs = [None] * (n_outputs - 1)
    slow_mints: dict[int, str] = {}
    for i, script in zip(hits.tolist(), candidates.to_pylist()):
        art = decipher([script, *outputs])
        assert art is not None  # the script starts with the runestone magic
        if isinstance(art, Cenotaph):
            kind[i], flaws[i] = 2, art.flaw
        else:
            kind[i], edicts[i] = 1, len(art.edicts)
        if art.mint is not None:
            slow_mints[i] = f"{art.mint[0]}:{art.mint[1]}"
    mints.append(
        (np.fromiter(slow_mints, np.int64, len(slow_mints)), pa.array(list(slow_mints.values()), pa.string()))
    )
    flaw_parts.append((np.fromiter(flaws, np.int64, len(flaws)), pa.array(list(flaws.values()), pa.string())))
    index = scripts.index if isinstance(scripts, pd.Series) else None
    return pd.DataFrame(
        {
            "kind": _strings(_KINDS, kind),
            "flaw": _sparse(len(arr), flaw_parts),
            "edicts": edicts,
            "mint": _sparse(len(arr), mints),
        },
        index=index,
    )


def _strings(values: pa.Array, idx: np.ndarray) -> pd.arrays.ArrowStringArray:
    """``values.take(idx)`` (``-1`` -> null) as a pandas string array, in Arrow's kernels."""
    taken = values.take(pa.array(idx, mask=idx < 0))
    return pd.arrays.ArrowStringArray(taken.cast(pa.large_string()))


def _sparse(n: int, parts: list[tuple[np.ndarray, pa.Array]]) -> pd.arrays.ArrowStringArray:
    """A column of ``n`` nulls with the strings of ``parts`` (positions, values) set."""
    idx = np.full(n, -1, dtype=np.int64)
    offset = 0
    for pos, _ in parts:
        idx[pos] = np.arange(offset, offset + len(pos))
        offset += len(pos)
    values = (
        pa.concat_arrays([v.cast(pa.large_string()) for _, v in parts])
        if parts
        else pa.array([], pa.large_string())
    )
    return _strings(values, idx)

"""Decode many output scripts at once: a vectorised prefilter, then ord's rules on the candidates.

:func:`decode_scripts` takes a column of output scripts (hex strings, as
loaders give them) and returns, per script, what the runestone decoder makes of
it when the script is the deciding output of its transaction: ``kind``
(``none``, ``runestone`` or ``cenotaph``), the cenotaph ``flaw``, the number of
edicts and the rune id of a mint. Most outputs carry no runestone, so the
magic-prefix test (``6a5d``) runs on the whole column in Arrow's C++ kernels and
only the candidates reach :func:`~mesh_magics.runes.runestone.decipher` (pure
Python). Map it over a dask column with ``map_partitions`` to decode on the
workers (see ``benchmarks/decode_throughput.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .runestone import Cenotaph, decipher

__all__ = ["SCAN_COLUMNS", "decode_scripts"]

#: output columns of :func:`decode_scripts`
SCAN_COLUMNS = {"kind": "string", "flaw": "string", "edicts": "int64", "mint": "string"}
_KINDS = np.array(["none", "runestone", "cenotaph"], dtype=object)


def _arrow(scripts: Any) -> pa.Array:
    arr = pa.array(scripts, type=pa.large_string(), from_pandas=True)
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def decode_scripts(scripts: Any, n_outputs: int = 1) -> pd.DataFrame:
    """Per script: ``kind``, ``flaw``, ``edicts`` and ``mint`` (see the module docstring).

    ``scripts``: a pandas Series / Arrow array / sequence of hex strings (null =
    empty script). Each is decoded as the runestone output of a transaction
    with ``n_outputs`` outputs (which bounds edict outputs and the pointer).
    The result has the input's index when it is a Series.
    """
    arr = _arrow(scripts)
    lower = pc.utf8_lower(pc.utf8_slice_codeunits(arr, 0, 4))
    hits = np.flatnonzero(pc.fill_null(pc.equal(lower, "6a5d"), False).to_numpy(zero_copy_only=False))
    kind = np.zeros(len(arr), dtype=np.int8)
    flaw = np.full(len(arr), None, dtype=object)
    edicts = np.zeros(len(arr), dtype=np.int64)
    mint = np.full(len(arr), None, dtype=object)
    outputs = [None] * (n_outputs - 1)
    for i, script in zip(hits, arr.take(pa.array(hits)).to_pylist()):
        art = decipher([script, *outputs])
        if isinstance(art, Cenotaph):
            kind[i], flaw[i] = 2, art.flaw
        else:
            kind[i], edicts[i] = 1, len(art.edicts)
        if art.mint is not None:
            mint[i] = f"{art.mint[0]}:{art.mint[1]}"
    index = scripts.index if isinstance(scripts, pd.Series) else None
    return pd.DataFrame(
        {
            "kind": pd.array(_KINDS[kind], dtype="string"),
            "flaw": pd.array(flaw, dtype="string"),
            "edicts": edicts,
            "mint": pd.array(mint, dtype="string"),
        },
        index=index,
    )

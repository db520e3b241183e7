"""The runestones of one range for the ledger: vectorised where :mod:`~..decode.fastscan` can.

:func:`range_artifacts` decodes each transaction's first ``OP_RETURN OP_13`` script (with
its output count) into what the replay and the group-bys read: per distinct artifact a
compact tuple ``(is_cenotaph, pointer or None, edicts as (block, tx, amount, output))``,
its mint id, and, for the etchings, the full :class:`~..protocol.runestone.Runestone` or
:class:`~..protocol.runestone.Cenotaph`. Scripts the vectorised pass settles (mints,
transfers, the usual cenotaphs: most of a chain) never reach the pure-Python decoder;
etchings (few, and their fields are many) and every script the vectorised pass leaves
go to :func:`~..protocol.runestone.decipher`, once per distinct ``(script, outputs)``.
Both give the same tuples (``tests/test_ledger_artifacts.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from ..decode.fastscan import fast_scan
from ..protocol.runestone import Cenotaph, decipher

__all__ = ["Artifacts", "compact_of", "range_artifacts"]

_I64_MAX = 2**63 - 1
Compact = tuple[bool, int | None, tuple[tuple[int, int, int, int], ...]]


@dataclass
class Artifacts:
    """Per script its artifact (``index``); per artifact its compact tuple, mint id
    (``mint_block`` -1: none) and, for etchings, the decoded artifact (``etchings``)."""

    index: np.ndarray
    compact: list[Compact] = field(default_factory=list)
    mint_block: list[int] = field(default_factory=list)
    mint_tx: list[int] = field(default_factory=list)
    etchings: dict[int, Any] = field(default_factory=dict)


def compact_of(artifact: Any) -> Compact:
    """The replay's tuple of a decoded artifact."""
    if isinstance(artifact, Cenotaph):
        return (True, None, ())
    return (False, artifact.pointer, tuple(tuple(e) for e in artifact.edicts))


def range_artifacts(scripts: pa.Array, outputs: np.ndarray) -> Artifacts:
    """Decode ``scripts`` (binary, each starting ``6a 5d``), the ``outputs``-th count of
    outputs of each one's transaction (see the module doc)."""
    n = len(scripts)
    out = Artifacts(np.zeros(n, np.int32))
    fast = fast_scan(scripts, outputs, detail=True)
    slow = ~fast.done | fast.etching
    rows = np.flatnonzero(~slow)
    if len(rows):
        _fast(out, fast, rows, n)
    cache: dict[tuple[bytes, int], int] = {}
    picked = np.flatnonzero(slow)
    for k, script, count in zip(
        picked.tolist(), scripts.take(pa.array(picked)).to_pylist(), outputs[picked].tolist()
    ):
        key = (script, count)
        j = cache.get(key)
        if j is None:
            artifact = decipher([script, *([b""] * (count - 1))])
            assert artifact is not None  # every script here starts with OP_RETURN OP_13
            j = cache[key] = len(out.compact)
            out.compact.append(compact_of(artifact))
            mint = artifact.mint
            out.mint_block.append(-1 if mint is None or mint[0] > _I64_MAX else mint[0])
            out.mint_tx.append(0 if mint is None else mint[1])
            if artifact.etching is not None:
                out.etchings[j] = artifact
        out.index[k] = j
    return out


def _fast(out: Artifacts, fast: Any, rows: np.ndarray, n: int) -> None:
    """The artifacts of the scripts the vectorised pass settled, identical ones shared."""
    hi = fast.edict_hi
    lo = fast.edict_lo.tolist()
    amounts = lo if not hi.any() else [a + (int(b) << 63) for a, b in zip(lo, hi.tolist())]
    edicts = list(zip(fast.edict_block.tolist(), fast.edict_tx.tolist(), amounts, fast.edict_output.tolist()))
    bounds = np.searchsorted(fast.edict_owner, np.arange(n + 1))  # edicts come in script order
    seen: dict[tuple[Any, ...], int] = {}
    columns = (
        rows.tolist(), bounds[rows].tolist(), bounds[rows + 1].tolist(), (fast.flaw[rows] != 0).tolist(),
        fast.pointer[rows].tolist(), fast.mint_block[rows].tolist(), fast.mint_tx[rows].tolist(),
    )  # fmt: skip
    for k, a, b, cenotaph, pointer, mint_block, mint_tx in zip(*columns):
        key = (cenotaph, pointer, mint_block, mint_tx, tuple(edicts[a:b]))
        j = seen.get(key)
        if j is None:
            j = seen[key] = len(out.compact)
            out.compact.append(
                (True, None, ()) if cenotaph else (False, None if pointer < 0 else pointer, key[4])
            )
            out.mint_block.append(mint_block)
            out.mint_tx.append(mint_tx)
        out.index[k] = j

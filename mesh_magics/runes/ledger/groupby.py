"""The global, non-sequential part of the mesh ledger: which etchings win, which mints count.

Both are decided without replaying balances (chain-notes §6.2):

* **etchings** (:func:`settle_etchings`): among the etchings that passed their own
  transaction's checks (minimum name, reserved names, commitment; :mod:`.prepare`), in
  block order, the first one of each name not already taken wins; an unnamed etching's
  reserved name is unique by construction. Rune numbers follow that order. The candidates
  of every range are few (every etching attempt of the call), so they are settled in one
  place, the client, in order;
* **mints** (:func:`mints_in_window`, :func:`mint_offsets`, :func:`valid_mints`): an attempt
  (runestone or cenotaph) counts if its rune was etched at an earlier position (so never
  the same transaction), has terms, the height is inside ``[start, end)``, and fewer than
  ``cap`` attempts passing those checks came before it: its rank among them, over every
  range in block order and after the mints of earlier calls, is below the cap. Each range
  ranks its own attempts on its worker; only the per-rune counts of each range travel.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from ...errors import LedgerError
from .rules import RuneEntry, new_entry

__all__ = [
    "Seeds",
    "mint_offsets",
    "mints_in_window",
    "partition_of",
    "range_counts",
    "settle_etchings",
    "terms_frame",
    "valid_mints",
]

RuneId = tuple[int, int]


def settle_etchings(
    candidates: Iterable[tuple[Any, ...]], entries: dict[RuneId, RuneEntry], names: dict[int, RuneId],
    times: dict[int, int],
) -> list[RuneEntry]:  # fmt: skip
    """Create the entries of the winning etchings, in order (``entries`` and ``names`` are
    updated); ``candidates``: :attr:`.prepare.Prepared.etchings` rows of every range."""
    created = []
    for height, tx_index, _t, rune, status, artifact, txid in sorted(candidates, key=lambda c: (c[0], c[1])):
        if rune in names:
            continue  # taken: ord never looks at the commitment then
        if status == "unknown":
            raise LedgerError(
                f"block {height}, transaction {tx_index} ({txid}): the etching's commitment check needs a spent "
                "output the chain tables do not have (give tables with prevouts: undo data, or the blocks "
                "that create it)"
            )
        entry = new_entry(artifact, (height, tx_index), rune, len(entries), txid, times[height])
        entries[entry.id] = entry
        names[rune] = entry.id
        created.append(entry)
    return created


def terms_frame(entries: dict[RuneId, RuneEntry]) -> pd.DataFrame:
    """The mintable entries, once per window: id, ``start`` and ``end`` (-1: none; u64
    heights clipped into int64), ``cap`` (clipped: a rank never reaches 2**63) and the
    exact ``amount`` of one mint (Python ints)."""
    big = 2**63 - 1
    rows = []
    for e in entries.values():
        if e.terms is None or e.cap() == 0:
            continue
        start, end = e.start(), e.end()
        rows.append((e.block, e.tx, -1 if start is None else min(start, big), -1 if end is None else min(end, big),
                     min(e.cap(), big)))  # fmt: skip
    frame = pd.DataFrame(rows, columns=["block", "rune_tx", "start", "end", "cap"], dtype="int64")
    amounts = [e.terms.amount or 0 for e in entries.values() if e.terms is not None and e.cap() != 0]
    frame["amount"] = pd.Series(amounts, dtype=object)
    return frame


def mints_in_window(mints: pd.DataFrame, terms: pd.DataFrame) -> pd.DataFrame:
    """The attempts of one range whose rune exists, was etched before them, has a cap and is
    open at their height (the cap itself is checked by rank, :func:`valid_mints`);
    ``terms``: :func:`terms_frame`."""
    m = mints.merge(terms, on=["block", "rune_tx"], how="inner", sort=False)
    before = (m["block"] < m["height"]) | ((m["block"] == m["height"]) & (m["rune_tx"] < m["tx_index"]))
    open_ = ((m["start"] < 0) | (m["height"] >= m["start"])) & ((m["end"] < 0) | (m["height"] < m["end"]))
    return m.loc[before & open_, ["tx", "block", "rune_tx", "cap", "amount"]].sort_values("tx", kind="stable")


def range_counts(in_window: pd.DataFrame) -> dict[RuneId, int]:
    """Attempts in window per rune, for :func:`mint_offsets`."""
    if not len(in_window):
        return {}
    ids, inverse = _by_rune(in_window)
    return dict(zip(ids, np.bincount(inverse).tolist()))


def _by_rune(in_window: pd.DataFrame) -> tuple[list[RuneId], np.ndarray]:
    """The distinct rune ids of the attempts (sorted) and each attempt's index among them.

    One ``np.unique`` of int64 keys ``block << 32 | tx`` (blocks of etched runes are heights),
    or of structured pairs where a block does not fit 31 bits: ``np.unique(axis=0)`` of the
    rows sorts a structured view anyway, ~10x slower than int64 keys."""
    block, tx = in_window["block"].to_numpy(np.int64), in_window["rune_tx"].to_numpy(np.int64)
    if block.max() < 2**31:
        key = (block << 32) | tx
    else:
        key = np.empty(len(block), dtype=[("b", np.int64), ("x", np.int64)])
        key["b"], key["x"] = block, tx
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return list(zip(block[first].tolist(), tx[first].tolist())), inverse.reshape(-1)


def mint_offsets(
    counts: list[dict[RuneId, int]], entries: dict[RuneId, RuneEntry]
) -> tuple[list[dict[RuneId, int]], dict[RuneId, int]]:
    """Per range, per rune: how many counting attempts came before the range (the entry's
    mints so far plus earlier ranges'); and the mints of every rune at the end."""
    running = {rid: entries[rid].mints for c in counts for rid in c}
    offsets = []
    for c in counts:
        offsets.append({rid: running[rid] for rid in c})
        for rid, n in c.items():
            running[rid] += n
    final = {rid: min(n, entries[rid].cap()) for rid, n in running.items()}
    return offsets, final


class Seeds:
    """What the replay of one range and rune partition starts from: ``mints[t] = (rune id,
    amount)`` and ``etched[t] = (rune id, premine)`` per local transaction, and the mints
    also as columns (``mint_columns``: local tx, rune block, rune tx as int64 arrays,
    amounts as ints) for the replay's plain mints; :func:`valid_mints` fills both."""

    __slots__ = ("etched", "mint_columns", "mints")

    def __init__(self) -> None:
        self.mints: dict[int, tuple[RuneId, int]] = {}
        self.etched: dict[int, tuple[RuneId, int]] = {}
        none = np.zeros(0, np.int64)
        self.mint_columns: tuple[np.ndarray, np.ndarray, np.ndarray, list[int]] = (none, none, none, [])


def partition_of(rune_id: RuneId, n: int) -> int:
    """The rune partition of a rune id (stable across calls and processes)."""
    return (rune_id[0] * 1_000_003 + rune_id[1]) % n


def valid_mints(
    in_window: pd.DataFrame, offsets: dict[RuneId, int], created: list[tuple[int, RuneId, int]],
    n_partitions: int,
) -> list[Seeds]:  # fmt: skip
    """The seeds of one range per rune partition: mints ranked below their cap, and the
    range's new runes (``created``: ``(local tx, rune id, premine)``)."""
    seeds = [Seeds() for _ in range(n_partitions)]
    if len(in_window):
        runes, inverse = _by_rune(in_window)
        # each attempt's rank among the range's attempts on its rune (they come in block order)
        sizes = np.bincount(inverse)
        group_start = np.repeat(np.cumsum(sizes) - sizes, sizes)
        rank = np.empty(len(inverse), np.int64)
        rank[np.argsort(inverse, kind="stable")] = np.arange(len(inverse)) - group_start
        # plus the attempts before the range (every rune here has one: offsets come from range_counts)
        before = np.array([offsets[rid] for rid in runes], dtype=np.int64)[inverse]
        ok = np.flatnonzero(before + rank < in_window["cap"].to_numpy())
        t, b, x = (in_window[c].to_numpy(np.int64)[ok] for c in ("tx", "block", "rune_tx"))
        amount = in_window["amount"].to_numpy()[ok]
        part = (b * 1_000_003 + x) % n_partitions  # partition_of, on arrays (block ids are heights here)
        for r in range(n_partitions):
            sel = np.flatnonzero(part == r) if n_partitions > 1 else slice(None)
            columns = (t[sel], b[sel], x[sel], amount[sel].tolist())
            ids = zip(columns[1].tolist(), columns[2].tolist())
            seeds[r].mints.update(zip(columns[0].tolist(), zip(ids, columns[3])))
            seeds[r].mint_columns = columns  # (one attempt a transaction: the dict has them all)
    for t, rid, premine in created:
        seeds[partition_of(rid, n_partitions)].etched[t] = (rid, premine)
    return seeds

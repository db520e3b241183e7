"""The coded build's tasks, one partition at a time (see :mod:`.cache` for the plan).

``encode_partition`` turns an input partition into fixed-width columns and its rows per rune id,
``assign_runes`` places runes on output partitions, ``split_by_owner`` cuts a group of encoded
partitions by owner (each piece with the addresses its rows name) and ``finish_partition`` makes
one output partition of its pieces. They run on the workers and import no client code.
"""

from __future__ import annotations

import heapq
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "arrow_strings",
    "assign_runes",
    "empty_table",
    "encode_partition",
    "finish_partition",
    "merge_counts",
    "split_by_owner",
]


def empty_table() -> pd.DataFrame:
    return pd.DataFrame({
        "rune": np.zeros(0, np.int32), "snd": np.zeros(0, np.int32), "rcv": np.zeros(0, np.int32),
        "amount": np.zeros(0, np.int64), "t": np.zeros(0, np.int64), "send": np.zeros(0, bool),
    })  # fmt: skip


def arrow_strings(values: pd.Series) -> pa.Array | pa.ChunkedArray:
    """A string column's Arrow data: where it lies for an Arrow-backed pandas column (no
    copy), else converted from its objects."""
    arr = values.array
    if hasattr(arr, "_pa_array"):
        return arr._pa_array
    return pa.array(np.asarray(values, dtype=object), from_pandas=True)


def _chunks(values: pd.Series) -> list[pa.Array]:
    """A column's strings as large_string Arrow chunks, not combined (``combine_chunks``
    copies even a single chunk: ~60 MB of a 1.25M-row address column and most of the
    build's page faults, BENCHMARKS.md stop 33)."""
    data = arrow_strings(values)
    if isinstance(data, pa.Array):
        data = pa.chunked_array([data])
    return (data if data.type == pa.large_string() else data.cast(pa.large_string())).chunks


def _encode_chunks(chunks: list[pa.Array]) -> tuple[list[np.ndarray], pa.Array]:
    """Codes (int32, -1 for null) of each chunk into one dictionary of all of them (first
    appearance order), and that dictionary: one hash of each value."""
    enc = pc.dictionary_encode(pa.chunked_array(chunks, type=pa.large_string()))
    if enc.num_chunks == 0:
        return [np.zeros(0, np.int32) for _ in chunks], pa.array([], type=pa.large_string())
    codes = [_indices(c) for c in enc.chunks]
    if len(codes) != len(chunks):  # Arrow drops empty chunks: cut the codes at the input's lengths
        bounds = np.cumsum([len(c) for c in chunks])[:-1]
        codes = np.split(np.concatenate(codes), bounds)
    return codes, enc.chunk(0).dictionary  # every chunk's dictionary is the whole one


def _joined(arrays: list[np.ndarray]) -> np.ndarray:
    """The arrays end to end; a single one as it is (no copy)."""
    if len(arrays) == 1:
        return arrays[0]
    return np.concatenate(arrays) if arrays else np.zeros(0, np.int32)


def encode_partition(part: pd.DataFrame) -> tuple[dict[str, Any], pd.Series]:
    """One partition: fixed-width columns (local rune codes, and address codes into the
    partition's own dictionary ``addr``) and rows per rune id.

    Nothing is copied that need not be: the string columns are hashed where they lie, the
    codes are Arrow's int32 indices (a view where the column has no nulls), the times a view
    of their ticks."""
    keep = part["rune_id"].notna()
    if not keep.all():
        part = part[keep]
    rune_codes, runes = _encode_chunks(_chunks(part["rune_id"]))
    # sender and receiver share one dictionary: one hash of each address slot, here, so the
    # all-to-all ships int32 codes and each piece's distinct addresses instead of every string
    snd_chunks = _chunks(part["sender"])
    codes, addr = _encode_chunks(snd_chunks + _chunks(part["receiver"]))
    times = part["block_time"].array
    cols = {
        "rune": _joined(rune_codes),
        "amount": part["amount"].to_numpy(dtype=np.int64),
        "t": times.asi8 if hasattr(times, "asi8") else part["block_time"].astype("int64").to_numpy(),
        "send": (part["operation"] == "send").to_numpy(dtype=bool, na_value=False),
        "snd": _joined(codes[: len(snd_chunks)]),
        "rcv": _joined(codes[len(snd_chunks) :]),
        "addr": addr,
        "runes": runes,
    }
    counts = pd.Series(
        np.bincount(cols["rune"], minlength=len(runes)), index=np.asarray(runes.to_pylist(), dtype=object)
    )
    return cols, counts


def _indices(encoded: pa.DictionaryArray) -> np.ndarray:
    """A chunk's codes as int32, ``-1`` for null: a view of Arrow's buffer when there is none."""
    idx = encoded.indices if encoded.null_count == 0 else pc.fill_null(encoded.indices, -1)
    return idx.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)


def merge_counts(*counts: pd.Series) -> pd.Series:
    if not counts:
        return pd.Series(np.zeros(0, np.int64), index=pd.Index([], dtype=object))
    return pd.concat(counts).groupby(level=0, sort=False).sum()


def assign_runes(counts: np.ndarray, nparts: int) -> np.ndarray:
    """Owner partition of each rune code: largest rune first, to the least loaded partition.

    Runes without rows get partition 0. At most ``nparts`` partitions, and no
    more than there are runes with rows (at least one).
    """
    present = np.flatnonzero(counts)
    nparts = max(1, min(nparts, len(present)))
    owner = np.zeros(len(counts), dtype=np.int32)
    loads = [(0, i) for i in range(nparts)]  # a heap of (rows, partition)
    for r in present[np.argsort(-counts[present], kind="stable")]:
        load, i = heapq.heappop(loads)
        owner[r] = i
        heapq.heappush(loads, (load + int(counts[r]), i))
    return owner


_NUMERIC = ("rune", "amount", "t", "send")


def split_by_owner(runes: pa.Array, owner: np.ndarray, *locals_: Any) -> list[dict[str, Any]]:
    """A group of local partitions with global rune codes, split by owner partition; each
    piece carries its address codes and, as ``addr``, the addresses they point to."""
    nout = int(owner.max(initial=0)) + 1
    pieces: list[dict[str, list[Any]]] = [
        {c: [] for c in (*_NUMERIC, "snd", "rcv", "addr")} for _ in range(nout)
    ]
    for cols, _ in locals_:
        to_global = (
            pc.index_in(cols["runes"], value_set=runes).to_numpy(zero_copy_only=False).astype(np.int32)
        )
        rune = to_global[cols["rune"]] if len(to_global) else cols["rune"]
        dest = owner[rune]
        # a stable sort of small integers is a radix sort in numpy: O(rows), not O(rows log rows)
        order = np.argsort(
            dest.astype(np.uint8 if nout <= 256 else np.uint16 if nout <= 65536 else np.int32), kind="stable"
        )
        bounds = np.concatenate([[0], np.cumsum(np.bincount(dest, minlength=nout))])
        taken = {"rune": rune[order], **{c: cols[c][order] for c in _NUMERIC[1:]}}
        snd, rcv = cols["snd"][order], cols["rcv"][order]
        n_addr = len(cols["addr"])
        # a mask over the partition's dictionary per piece: O(rows + pieces x addresses), so
        # only while the pieces are few for the dictionary (else a sort: O(rows log rows))
        masks = nout * (n_addr + 1) <= 8 * max(len(dest), 1)
        for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
            for c, v in taken.items():
                pieces[i][c].append(v[a:b])
            # the piece's own dictionary: only the addresses its rows name (compact: a piece
            # travels without its neighbours' strings), codes renumbered into it
            used, snd_i, rcv_i = _renumber(snd[a:b], rcv[a:b], n_addr, masks)
            pieces[i]["snd"].append(snd_i)
            pieces[i]["rcv"].append(rcv_i)
            pieces[i]["addr"].append(cols["addr"].take(pa.array(used)))
    return [
        {**{c: _joined(p[c]) for c in _NUMERIC}, "snd": p["snd"], "rcv": p["rcv"], "addr": p["addr"]}
        for p in pieces
    ]


def _renumber(s: np.ndarray, r: np.ndarray, n_addr: int, mask: bool) -> tuple[np.ndarray, ...]:
    """The address codes one piece uses (sorted) and its sender and receiver codes renumbered
    into them; ``-1`` (null) stays ``-1``. Both ways give the same arrays."""
    if not mask:
        used = np.unique(np.concatenate([s, r]))
        used = used[used >= 0]
        return (
            used,
            np.where(s >= 0, np.searchsorted(used, s), -1).astype(np.int32),
            np.where(r >= 0, np.searchsorted(used, r), -1).astype(np.int32),
        )
    seen = np.zeros(n_addr + 1, dtype=bool)  # the extra last slot is where -1 reads
    seen[s] = True
    seen[r] = True
    seen[n_addr] = False
    renumber = np.cumsum(seen, dtype=np.int32) - 1
    renumber[n_addr] = -1
    return np.flatnonzero(seen), renumber[s], renumber[r]


def finish_partition(*pieces: dict[str, Any]) -> tuple[pd.DataFrame, pa.Array]:
    """An output partition: its pieces concatenated, their addresses coded into its own
    dictionary (the pieces' small dictionaries merged: one hash per distinct address
    of each piece, not per row).

    The dictionary is in first appearance order, not sorted: on 5M addresses an output
    partition's 1.8M distinct ones took Arrow ~1 s to sort, most of its task. The queries
    that break ties by address compare the strings of their few candidates instead
    (:mod:`.coded`). Arrow's hash is faster than hashing fixed-width words in numpy and
    checking for collisions (best of 5 on 1M addresses: 0.12 s against 0.21 s,
    BENCHMARKS.md). The frame is made without copying its columns (pandas' consolidation
    of same-typed columns into one block copied every row again: ~1 s a 10M-row build)."""
    cols = {c: _joined([p[c] for p in pieces]) for c in _NUMERIC}
    codes, dictionary = _encode_chunks([d for p in pieces for d in p["addr"]])
    # each piece's codes read their own dictionary's slice of the merged one; -1 (null) reads -1
    luts = [np.append(c, np.int32(-1)) for c in codes]

    def remap(column: str) -> np.ndarray:
        return _joined([lut[c] for lut, c in zip(luts, (c for p in pieces for c in p[column]))])

    frame = pd.DataFrame({
        "rune": cols["rune"], "snd": remap("snd"), "rcv": remap("rcv"),
        "amount": cols["amount"], "t": cols["t"], "send": cols["send"],
    }, copy=False)  # fmt: skip
    return frame, dictionary

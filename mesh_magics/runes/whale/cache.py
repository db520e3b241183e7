"""The whale suite's cache on the mesh: ``transfers`` as integer codes, and its balances.

Strings are what make the six queries slow on CPU: every group-by hashes
42-character addresses, every shuffle moves them. So, once per input, each
partition of ``transfers`` is turned into fixed-width columns

====== ======= ==============================================================
rune   int32   code of ``rune_id`` (rows with a null rune_id are dropped)
snd    int32   code of ``sender``, ``-1`` for null
rcv    int32   code of ``receiver``, ``-1`` for null
amount int64   raw units
t      int64   ``block_time`` as ticks of its unit since the epoch
send   bool    ``operation == "send"``
====== ======= ==============================================================

and persisted on the workers (about 29 bytes a row instead of ~150). Rune codes
are positions in the *sorted* dictionary of rune ids (global, a few thousand
strings, held by the client). Address codes are positions in a dictionary
**of their partition** of the coded table, in no order: every rune lives in one
partition, and every query compares addresses only within a rune, so codes of
two partitions never meet. Where an order by address is asked (ties "by address
asc" among top holders and top flows) the few candidates tied at the cut are
decoded and compared as strings on the worker that holds the partition's
dictionary; strings otherwise come back only for the rows of a result.

Building it is one pass over the input. Each input partition counts its rows
per rune id and keeps its fixed-width columns beside its address strings (no
copy of a persisted input's strings); the counts are merged in a tree on the
workers and only they (rune ids and counts) come to the client, which assigns
runes to partitions. Each input partition dictionary-encodes its addresses
(sender and receiver in one dictionary: one hash of each address slot); the
rows then move in one all-to-all as int32 codes, each piece with the distinct
addresses its rows name, and each output partition merges its pieces' small
dictionaries into its own (a hash per distinct address of a piece; sorting it
was ~1 s of a 1.3 s task on 5M addresses, so it is not sorted).
The first version's global address dictionary cost a gather of ~700k strings
on the client and a hash table of all of them per input partition; the second
shipped every address string through the all-to-all (+29 % worker peak memory
at 10M rows, see BENCHMARKS.md).

The coded table is *partitioned by rune*: every row of a rune lives in one
partition, so every query after the build (balances, holders, daily senders,
flows) is one task per partition with no shuffle. Runes are assigned to
partitions largest first, each to the least loaded one (row counts per rune are
known from the local factorization), and the rows move in one all-to-all of
plain tasks: each input partition is split by owner, each output partition
concatenates its pieces and encodes their addresses. (``set_index`` with the same boundaries also sorts and
builds an index: 4.6 s against 1.5-2 s at 10M rows, see BENCHMARKS.md.)

The cache is keyed by the dask token of the input's columns, so a changed
input (other files, other modification times, another graph) is a new key; it
holds the two most recent inputs (LRU) and drops an entry whose persisted
partitions were lost (a restarted worker). Holder balances, needed by three
queries, are computed once per entry and persisted beside it.
:func:`clear_cache` releases everything, :func:`cache_info` describes it.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import dask
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from distributed import futures_of, wait

__all__ = ["CODED_COLUMNS", "Coded", "assign_runes", "cache_info", "clear_cache", "coded", "decode_codes"]

#: input columns the coded table is built from
CODED_COLUMNS = ["rune_id", "block_time", "operation", "sender", "receiver", "amount"]
MAX_ENTRIES = 2
#: rows aimed at per partition of the coded table (~29 MB), at least one partition per worker
PARTITION_ROWS = 1_000_000
#: pieces moved in the build's all-to-all (inputs × outputs) before inputs are grouped
MAX_PIECES = 4_000
_CACHE: OrderedDict[str, Coded] = OrderedDict()
_STATS = {"hits": 0, "misses": 0}


@dataclass
class Coded:
    """One cached input: its coded table (persisted), dictionaries and derived results."""

    key: str
    table: Any  # dask DataFrame of the coded columns, each rune inside one partition
    parts: list[Any]  # the table's partitions (futures held on the workers)
    dicts: list[Any]  # per partition, its addresses (futures of pa.Array, in no order): code -> address
    runes: pa.Array  # sorted rune ids: code -> rune_id
    n_addresses: list[int]  # addresses in each partition's dictionary
    time_dtype: Any
    derived: dict[str, Any] = field(default_factory=dict)  # e.g. "balances": persisted collection

    def alive(self) -> bool:
        """False once a persisted partition is gone (e.g. its worker restarted)."""
        futures = [*self.parts, *self.dicts, *(f for c in self.derived.values() for f in futures_of(c))]
        return all(f.status == "finished" for f in futures)

    def derive(self, name: str, build: Any) -> Any:
        """A derived collection, built (and persisted) on first use."""
        if name not in self.derived:
            (self.derived[name],) = dask.persist(build())
        return self.derived[name]

    def rune_ids(self, codes: Any) -> pd.Series:
        """Rune id strings of host codes."""
        return decode_codes(self.runes, codes)


def decode_codes(dictionary: pa.Array, codes: Any) -> pd.Series:
    """Strings of codes into a dictionary (``-1`` -> null); on the host or a worker."""
    idx = pa.array(np.asarray(codes, dtype=np.int64), mask=np.asarray(codes) < 0)
    return pd.Series(pd.arrays.ArrowStringArray(pc.cast(dictionary.take(idx), pa.large_string())))


def cache_info() -> dict[str, Any]:
    """Hits, misses and the entries held (key, partitions, dictionary sizes, derived results)."""
    return {
        **_STATS,
        "entries": [
            {"key": e.key, "partitions": e.table.npartitions, "runes": len(e.runes),
             "addresses": sum(e.n_addresses), "derived": sorted(e.derived)}
            for e in _CACHE.values()
        ],
    }  # fmt: skip


def clear_cache() -> None:
    """Drop every cached input (their persisted partitions are released) and zero the counters."""
    _CACHE.clear()
    _STATS.update(hits=0, misses=0)


def coded(transfers: Any, build: bool = True) -> Coded | None:
    """The cached coded table of ``transfers``, built on first use; ``None`` when not applicable.

    ``build=False``: the entry only if it is already cached (queries that read few
    columns of few rows, Q1 and Q5, use the table when it is there and never pay for it).

    Applies to pandas-backed dask DataFrames with every column of
    :data:`CODED_COLUMNS` and int64 amounts, computed on a distributed client
    (the mesh); other inputs (in-memory frames, cuDF, exact Python-int amounts,
    no client) take the general engine (:mod:`.general`).
    """
    client = _client()
    if client is None or not dask.is_dask_collection(transfers):
        return None
    meta = transfers._meta
    if type(meta) is not pd.DataFrame or any(c not in meta.columns for c in CODED_COLUMNS):
        return None
    if not pd.api.types.is_integer_dtype(meta["amount"].dtype):
        return None
    src = transfers[CODED_COLUMNS]
    key = dask.base.tokenize(src)
    entry = _CACHE.get(key)
    if entry is not None and entry.alive():
        _STATS["hits"] += 1
        _CACHE.move_to_end(key)
        return entry
    if not build:
        return None
    _STATS["misses"] += 1
    entry = _build(client, key, src)
    _CACHE[key] = entry
    while len(_CACHE) > MAX_ENTRIES:
        _CACHE.popitem(last=False)
    return entry


# --------------------------------------------------------------------------- building


def _empty_table() -> pd.DataFrame:
    return pd.DataFrame({
        "rune": np.zeros(0, np.int32), "snd": np.zeros(0, np.int32), "rcv": np.zeros(0, np.int32),
        "amount": np.zeros(0, np.int64), "t": np.zeros(0, np.int64), "send": np.zeros(0, bool),
    })  # fmt: skip


def _chunks(values: Any) -> list[pa.Array]:
    """A column's strings as large_string Arrow chunks, read where they lie (Arrow-backed
    pandas columns are not copied: ``combine_chunks`` copies even a single chunk, ~60 MB of
    a 1.25M-row address column and most of the build's page faults, BENCHMARKS.md stop 33)."""
    arr = values.array
    data = (
        arr._pa_array
        if hasattr(arr, "_pa_array")
        else pa.array(np.asarray(values, dtype=object), from_pandas=True, type=pa.large_string())
    )
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


def _joined(codes: list[np.ndarray]) -> np.ndarray:
    return codes[0] if len(codes) == 1 else np.concatenate(codes) if codes else np.zeros(0, np.int32)


def _local(part: pd.DataFrame) -> tuple[dict[str, Any], pd.Series]:
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


def _merge_counts(*counts: pd.Series) -> pd.Series:
    if not counts:
        return pd.Series(np.zeros(0, np.int64), index=pd.Index([], dtype=object))
    return pd.concat(counts).groupby(level=0, sort=False).sum()


def _tree(client: Any, items: list[Any], fan_in: int = 8) -> Any:
    """Merge per-partition rune counts in a tree on the workers; one future."""
    while len(items) > 1:
        items = [
            client.submit(_merge_counts, *items[i : i + fan_in], pure=False)
            for i in range(0, len(items), fan_in)
        ]
    return items[0] if items else client.submit(_merge_counts, pure=False)


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


def _split(runes: pa.Array, owner: np.ndarray, *locals_: Any) -> list[dict[str, Any]]:
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


def _finish(*pieces: dict[str, Any]) -> tuple[pd.DataFrame, pa.Array]:
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


def _client() -> Any:
    try:
        from distributed import default_client

        return default_client()
    except (ImportError, ValueError):
        return None


def _build(client: Any, key: str, src: Any) -> Coded:
    """One pass over ``src`` on the workers; only rune ids and their row counts come to the client."""
    import operator

    import dask.dataframe as dd

    local = client.compute([dask.delayed(_local)(p) for p in src.to_delayed()])
    total = client.gather(_tree(client, [client.submit(operator.getitem, f, 1, pure=False) for f in local]))
    order = np.argsort(np.asarray(total.index, dtype=object), kind="stable")
    runes = pa.array(np.asarray(total.index, dtype=object)[order], type=pa.large_string())
    counts = total.to_numpy(dtype=np.int64)[order]
    (shared_r,) = client.scatter([runes], hash=False)  # fetched once per worker
    workers = len(client.nthreads())
    nparts = min(len(local), max(workers, -(-int(counts.sum()) // PARTITION_ROWS)))
    owner = assign_runes(counts, nparts)
    nparts = int(owner.max(initial=0)) + 1
    # at most MAX_PIECES pieces in the all-to-all: large inputs split groups of local partitions
    size = -(-len(local) * nparts // MAX_PIECES)
    groups = [local[i : i + size] for i in range(0, len(local), size)]
    split = [client.submit(_split, shared_r, owner, *g, pure=False) for g in groups]
    del local, groups, shared_r  # released once the split tasks have run
    done = [
        client.submit(
            _finish, *[client.submit(operator.getitem, s, i, pure=False) for s in split], pure=False
        )
        for i in range(nparts)
    ]
    del split
    parts = [client.submit(operator.getitem, f, 0, pure=False) for f in done]
    dicts = [client.submit(operator.getitem, f, 1, pure=False) for f in done]
    sizes = client.gather([client.submit(len, d, pure=False) for d in dicts])
    wait(parts)
    del done
    table = dd.from_delayed(parts, meta=_empty_table(), verify_meta=False)
    return Coded(key, table, parts, dicts, runes, sizes, src._meta["block_time"].dtype)

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

The build's per-partition tasks live in :mod:`.coding`. The cache is keyed by the dask
token of the input's columns, so a changed input (other files, other modification times,
another graph) is a new key; it holds the two most recent inputs (LRU) and drops an entry
whose persisted partitions were lost (a restarted worker). Holder balances, needed by three
queries, are computed once per entry and persisted beside it.
:func:`clear_cache` releases everything, :func:`cache_info` describes it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import dask
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from distributed import futures_of, wait

from .coding import (
    assign_runes,
    empty_table,
    encode_partition,
    finish_partition,
    merge_counts,
    split_by_owner,
)

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


def _tree(client: Any, items: list[Any], fan_in: int = 8) -> Any:
    """Merge per-partition rune counts in a tree on the workers; one future."""
    while len(items) > 1:
        items = [
            client.submit(merge_counts, *items[i : i + fan_in], pure=False)
            for i in range(0, len(items), fan_in)
        ]
    return items[0] if items else client.submit(merge_counts, pure=False)


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

    local = client.compute([dask.delayed(encode_partition)(p) for p in src.to_delayed()])
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
    split = [client.submit(split_by_owner, shared_r, owner, *g, pure=False) for g in groups]
    del local, groups, shared_r  # released once the split tasks have run
    done = [
        client.submit(
            finish_partition, *[client.submit(operator.getitem, s, i, pure=False) for s in split], pure=False
        )
        for i in range(nparts)
    ]
    del split
    parts = [client.submit(operator.getitem, f, 0, pure=False) for f in done]
    dicts = [client.submit(operator.getitem, f, 1, pure=False) for f in done]
    sizes = client.gather([client.submit(len, d, pure=False) for d in dicts])
    wait(parts)
    del done
    table = dd.from_delayed(parts, meta=empty_table(), verify_meta=False)
    return Coded(key, table, parts, dicts, runes, sizes, src._meta["block_time"].dtype)

"""The general engine: the six queries' heavy part on dask.dataframe, for any input.

Works on any partitioning of pandas- or cuDF-backed partitions (the kernels use
only dataframe operations both libraries have) and on exact (u128) amounts.
Partitions are reduced where they live: per-partition group sums of 32-bit
limbs (:mod:`.exact`), tree-reduced or shuffled on the workers, filters and
broadcast merges against small tables; only aggregated results reach the
client. Holder balances are :func:`.holders.balances` (one shuffle of partial
sums on ``rune_id``).

Q1 and Q5 are also the queries that never wait for the coded table (see
:func:`~.engine.engine_for`): they keep a few rows (whale-sized sends) of a
few columns. On pandas partitions with int64 amounts they find those rows with
Arrow and numpy (the rune's threshold looked up by position in the small
threshold table, no merge) and group only them.
"""

from __future__ import annotations

from typing import Any

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import exact as ex
from .coding import arrow_strings
from .engine import WhaleEngine
from .flows import KEYS, final, top_flows, top_rows
from .frames import Input, frame_lib, host, ticks
from .holders import TRANSFER_COLUMNS
from .holders import balances as holder_balances

__all__ = ["GeneralEngine"]


def _reduce_sum(inp: Input, chunks: Any, keys: list[str]) -> pd.DataFrame:
    """Group sums of per-partition chunks, tree-reduced on the workers; host result."""
    agg = chunks.groupby(keys, sort=False).sum(split_out=1).reset_index()
    (pdf,) = inp.compute(agg)
    return pdf


# --------------------------------------------------------------------------- Q1, Q5


def _whale_rows(part: Any, thr: Any, k: int, keep: list[str]) -> Any:
    """The send rows of one partition with amount ≥ their rune's threshold."""
    a = part[part["operation"] == "send"]
    a = ex.split(a[[*keep, "amount"]], k).merge(thr, on="rune_id", how="inner")
    a = a[~ex.greater(a, ex.limb_names(k, "_t"), ex.limb_names(k))]
    return a[[*keep, *ex.limb_names(k)]]


def _q1_chunk(part: Any, thr: Any, k: int) -> Any:
    rows = _whale_rows(part, thr, k, ["rune_id"])
    rows["n"] = 1
    return rows.groupby("rune_id", sort=False).sum().reset_index()


def _q5_chunk(part: Any, thr: Any, k: int) -> Any:
    rows = _whale_rows(part, thr, k, KEYS)
    rows["n"] = 1
    return rows.groupby(KEYS, sort=False, dropna=False).sum().reset_index()


def _fast(inp: Input) -> bool:
    """Whether the Arrow/numpy kernels of Q1 and Q5 apply: pandas partitions, int64 amounts."""
    return (
        inp.family == "pandas" and inp.k == 2 and pd.api.types.is_integer_dtype(inp.ddf._meta["amount"].dtype)
    )


def _limits(thr: pd.DataFrame) -> tuple[pa.Array, np.ndarray]:
    """The threshold table as rune ids (Arrow) and the least qualifying amount of each (int64)."""
    ids = pa.array(thr["rune_id"].astype(object).to_numpy(), type=pa.large_string())
    value = thr["_t1"].to_numpy(np.int64) * np.int64(ex.BASE) + thr["_t0"].to_numpy(np.int64)
    return ids, value  # <= INT64_MAX: larger thresholds were dropped (no int64 amount reaches them)


def _whale_mask(part: pd.DataFrame, ids: pa.Array, limits: np.ndarray) -> tuple[Any, pa.Array, Any]:
    """Which rows are whale-sized sends, in Arrow kernels: a send whose amount reaches its
    rune's limit (a null rune, operation or rune absent from ``ids`` never qualifies).
    ``(positions, amounts, keep)``: per row its rune's position in ``ids`` (null: none), the
    amounts as Arrow, and the mask (no nulls)."""
    pos = pc.index_in(arrow_strings(part["rune_id"]), value_set=ids)
    amount = pa.array(part["amount"].to_numpy(dtype=np.int64))
    big = pc.greater_equal(amount, pc.take(pa.array(limits), pos))
    keep = pc.fill_null(pc.and_(pc.equal(arrow_strings(part["operation"]), "send"), big), False)
    return pos, amount, keep


def _ids(ids: pa.Array, pos: np.ndarray) -> pd.arrays.ArrowStringArray:
    return pd.arrays.ArrowStringArray(ids.take(pa.array(pos, type=pa.int64())))


def _numpy(arr: Any) -> np.ndarray:
    return np.asarray(arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr)


def _q1_many(ids: pa.Array, limits: np.ndarray, *parts: pd.DataFrame) -> pd.DataFrame:
    """Q1's partial result of some partitions: per rune with a whale-sized send, ``n`` and the
    limb sums; the rune's position in ``ids`` is the group key (a bincount, no group-by)."""
    at, amounts = [], []
    for part in parts:
        pos, amount, keep = _whale_mask(part, ids, limits)
        taken = _numpy(pc.indices_nonzero(keep))
        at.append(_numpy(pc.take(pos, taken)).astype(np.int64))
        amounts.append(_numpy(amount)[taken])
    rows, sums = ex.bincount_limbs(np.concatenate(at), np.concatenate(amounts), len(ids))
    kept = np.flatnonzero(rows)
    return pd.DataFrame(
        {"rune_id": _ids(ids, kept), "n": rows[kept], **{c: v[kept] for c, v in sums.items()}}
    )


def _q1_fast(part: pd.DataFrame, ids: pa.Array, limits: np.ndarray) -> pd.DataFrame:
    return _q1_many(ids, limits, part)


def _q1_total(parts: pd.DataFrame) -> pd.DataFrame:
    """Per-partition results of :func:`_q1_fast`, concatenated, summed per rune."""
    return parts.groupby("rune_id", sort=False).sum().reset_index()


def _q1_sum(parts: list[pd.DataFrame]) -> pd.DataFrame:
    return _q1_total(pd.concat(parts, ignore_index=True))


def _q5_rows(part: pd.DataFrame, ids: pa.Array, limits: np.ndarray) -> pd.DataFrame:
    """One partition's whale-sized sends: the rune's position in ``ids``, the addresses as
    they are, the amount."""
    pos, amount, keep = _whale_mask(part, ids, limits)
    taken = pc.indices_nonzero(keep)  # the few kept addresses taken in Arrow, never as str
    rows = pd.DataFrame({
        "_pos": _numpy(pc.take(pos, taken)).astype(np.int64),
        "sender": pd.arrays.ArrowStringArray(arrow_strings(part["sender"]).take(taken)),
        "receiver": pd.arrays.ArrowStringArray(arrow_strings(part["receiver"]).take(taken)),
        "amount": _numpy(amount)[_numpy(taken)],
    })  # fmt: skip
    return rows.astype({"sender": part["sender"].dtype, "receiver": part["receiver"].dtype})


def _pack(high: np.ndarray, low: np.ndarray, n_low: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes (0..k-1) of the distinct pairs ``(high, low)``, and each code's packed pair
    ``high * n_low + low`` (``low`` in ``0..n_low-1``)."""
    return pd.factorize(high * n_low + low)


def _q5_many(ids: pa.Array, limits: np.ndarray, *parts: pd.DataFrame) -> pd.DataFrame:
    """Q5's partial result of some partitions: their whale-sized sends grouped once by (rune,
    sender, receiver), each flow in one row, a null address a group of its own.

    Each address column is factorized once, the rune's position and the two codes are packed
    pairwise into int64 keys (re-coded after each pair, so a key stays below rows x distinct
    addresses) and summed by ``bincount``: 0.05 s for 350k rows where pandas' group-by on the
    position and the two strings took 0.12 s (and Arrow's 3x that)."""
    rows = pd.concat([_q5_rows(p, ids, limits) for p in parts], ignore_index=True)
    s_codes, senders = pd.factorize(rows["sender"], use_na_sentinel=False)
    r_codes, receivers = pd.factorize(rows["receiver"], use_na_sentinel=False)
    ns, nr = max(1, len(senders)), max(1, len(receivers))
    first, pairs = _pack(rows["_pos"].to_numpy(), s_codes, ns)  # (rune, sender)
    codes, keys = _pack(first, r_codes, nr)  # ((rune, sender), receiver)
    n, sums = ex.bincount_limbs(codes, rows["amount"].to_numpy(), len(keys))
    keys = np.asarray(keys, dtype=np.int64)
    pair = np.asarray(pairs, dtype=np.int64)[keys // nr]
    return pd.DataFrame({
        "rune_id": _ids(ids, pair // ns),
        "sender": pd.Series(senders.take(pair % ns), dtype=rows["sender"].dtype).array,
        "receiver": pd.Series(receivers.take(keys % nr), dtype=rows["receiver"].dtype).array,
        **sums, "n": n,
    })  # fmt: skip


def _q5_fast(part: pd.DataFrame, ids: pa.Array, limits: np.ndarray) -> pd.DataFrame:
    return _q5_many(ids, limits, part)


# --------------------------------------------------------------------------- Q4


def _q4_chunk(part: Any, whales: Any, step: int, k: int) -> Any:
    cols = ex.limb_names(k)
    a = ex.split(part[["rune_id", "block_time", "sender", "receiver", "amount"]], k)
    a["_bucket"] = ticks(a["block_time"])
    a["_bucket"] = a["_bucket"] - a["_bucket"] % step
    keep = ["rune_id", "_bucket", *cols]
    inflow = a.merge(whales.rename(columns={"address": "receiver"}), on=["rune_id", "receiver"])
    outflow = a.merge(whales.rename(columns={"address": "sender"}), on=["rune_id", "sender"])
    moves = frame_lib(part).concat([inflow[keep], ex.negate(outflow[keep], cols)], ignore_index=True)
    moves["moves"] = 1
    return moves.groupby(["rune_id", "_bucket"], sort=False).sum().reset_index()


# --------------------------------------------------------------------------- Q6


def _q6_chunk(part: Any, step: int, k: int) -> Any:
    a = ex.split(part[["rune_id", "block_time", "amount"]], k)
    a["_day"] = ticks(a["block_time"])
    a["_day"] = a["_day"] - a["_day"] % step
    a["n"] = 1
    return a.drop(columns=["block_time"]).groupby(["rune_id", "_day"], sort=False).sum().reset_index()


def _q6_senders(part: Any, step: int) -> Any:
    a = part.loc[part["sender"].notna(), ["rune_id", "block_time", "sender"]]
    a["_day"] = ticks(a["block_time"])
    a["_day"] = a["_day"] - a["_day"] % step
    return a[["rune_id", "_day", "sender"]].drop_duplicates()


def _q6_count(part: Any) -> Any:
    distinct = part.drop_duplicates()
    distinct = distinct.assign(senders=1)[["rune_id", "_day", "senders"]]
    return distinct.groupby(["rune_id", "_day"], sort=False).sum().reset_index()


# --------------------------------------------------------------------------- the engine


#: the columns Q1 reads (the input comes projected to Q5's, which add sender and receiver):
#: selected before the kernels, so that a lazy input (``dd.read_parquet``) reads only these
_Q1_COLUMNS = ["rune_id", "operation", "amount"]


def _on_futures(inp: Input, thr: Any, many: Any) -> tuple[Any, list[Any]] | None:
    """``many(ids, limits, *partitions)`` on the partitions of a persisted input where they are
    held (see ``frames.held_futures``): one task for each thread of each worker over the
    partitions that worker holds. ``(client, futures)``, or ``None`` where the fast kernels do
    not apply or the input is not persisted.

    One task a partition cost more than the scan itself: on 2 workers sharing 2 cores with the
    scheduler, a 4 ms kernel took ~10 ms a task (64 partitions: 0.5-0.7 s for ~0.15 s of work).
    And on a first call, with no duration known for the prefix, work stealing shipped up to 28
    of 64 partitions to the other worker; a task that holds all of its partitions where they
    are gives it nothing to balance.
    """
    if not (inp.futures and _fast(inp)):
        return None
    ids, limits = _limits(thr)
    client = inp.futures[0].client
    shared = client.scatter([ids, limits], hash=False)  # fetched once per worker, not per task
    tasks = []
    for address, futures in slots(client, inp.futures):
        where = {} if address is None else {"workers": [address], "allow_other_workers": True}
        tasks.append(client.submit(many, shared[0], shared[1], *futures, pure=False, **where))
    return client, tasks


def slots(client: Any, futures: list[Any]) -> list[tuple[str | None, list[Any]]]:
    """``futures`` grouped by the worker holding each and dealt over that worker's threads:
    ``(address, futures)`` for one task a thread; a future whose holder is unknown (``None``)
    gets a task of its own, placed by the scheduler (a partition still being computed)."""
    who = client.who_has(futures)
    threads = client.nthreads()
    held: dict[str | None, list[Any]] = {}
    for f in futures:
        at = [a for a in who.get(f.key, ()) if a in threads]
        held.setdefault(at[0] if at else None, []).append(f)
    out: list[tuple[str | None, list[Any]]] = []
    for address, fs in held.items():
        n = len(fs) if address is None else min(len(fs), max(1, int(threads[address])))
        out.extend((address, fs[i::n]) for i in range(n))
    return out


def _whale_chunks(inp: Input, thr: Any, fast: Any, general: Any) -> Any:
    """Per partition, the whale-sized sends' partial result: ``fast`` (Arrow/numpy on int64
    amounts, thresholds as rune ids and limits) where it applies, else ``general`` (limbs)."""
    ddf = inp.ddf
    if _fast(inp):
        ids, limits = _limits(thr)
        return ddf.map_partitions(fast, ids, limits, meta=fast(ddf._meta, ids, limits))
    return ddf.map_partitions(general, thr, inp.k, meta=general(ddf._meta, thr, inp.k))


#: Q5's grouped whale rows (all parts together) up to which one task sums them
_FLOW_SUM_ROWS = 200_000
#: the frame families whose larger flows :func:`.flows.top_flows` finds where they are (its
#: merge matches null keys, as pandas' does); the others are shuffled, one output partition
#: per this many rows
_TOP_FLOWS_FAMILIES = ("pandas",)
_FLOW_TREE_ROWS = 2_000_000


class GeneralEngine(WhaleEngine):
    """The queries on the input's own dask collection (strings as they are)."""

    name = "general"

    def balances(self, inp: Input) -> Any:
        return holder_balances(inp)

    def decode(self, pdf: pd.DataFrame) -> pd.DataFrame:
        return pdf  # keys are already strings

    def whale_sums(self, inp: Input, thr: Any) -> pd.DataFrame:
        mapped = _on_futures(inp, thr, _q1_many)
        if mapped is not None:
            client, parts = mapped
            return host(client.submit(_q1_sum, parts).result())
        inp = inp.project(_Q1_COLUMNS)
        if _fast(inp):  # the kernel is the reduction's chunk: no group-by chunk task of its own
            ids, limits = _limits(thr)
            red = inp.ddf.reduction(
                _q1_fast,
                aggregate=_q1_total,
                meta=_q1_fast(inp.ddf._meta, ids, limits),
                chunk_kwargs={"ids": ids, "limits": limits},
            )
            (pdf,) = inp.compute(red)
            return pdf
        return _reduce_sum(inp, _whale_chunks(inp, thr, _q1_fast, _q1_chunk), ["rune_id"])

    def flows(self, inp: Input, thr: Any, top: int) -> pd.DataFrame:
        """Groups summed on the workers; the ``top`` best are the only rows brought to the
        client. The whale rows are usually few (~1 % of the rows at the default ``min_share``):
        up to :data:`_FLOW_SUM_ROWS` grouped rows, one task sums the parts and keeps the best.
        More stay where they are on pandas (:func:`.flows.top_flows`: only candidates move);
        on cuDF they are shuffled over one output partition per :data:`_FLOW_TREE_ROWS`, so
        that no worker holds them all. A null sender or receiver is a group of its own, as in
        SQL."""
        k = inp.k
        chunks = _whale_chunks(inp, thr, _q5_fast, _q5_chunk)
        mapped = _on_futures(inp, thr, _q5_many)
        client, parts = mapped if mapped is not None else inp.partitions(chunks)
        if client is None:  # computed in this process, which holds them all anyway
            return host(final(parts, top, k))
        rows = sum(client.gather(client.map(len, parts)))
        if rows <= _FLOW_SUM_ROWS:
            return host(client.submit(final, parts, top, k).result())
        if inp.family in _TOP_FLOWS_FAMILIES:
            return host(top_flows(client, parts, top, k).result())
        groups = (
            dd.from_delayed(parts, meta=chunks._meta)
            .groupby(KEYS, sort=False, dropna=False)
            .sum(split_out=-(-rows // _FLOW_TREE_ROWS), shuffle_method="tasks")
        )
        groups = groups.reset_index()
        best = groups.map_partitions(top_rows, top, k, meta=top_rows(groups._meta, top, k))
        (pdf,) = inp.compute(best)
        return pdf

    def netflow(self, inp: Input, step: int, top: int) -> pd.DataFrame:
        k = inp.k
        whales = self.top_holders(inp.project(TRANSFER_COLUMNS), top)[["rune_id", "address"]]
        whales = inp.small(whales.astype({"rune_id": "string", "address": "string"}))
        chunks = inp.ddf.map_partitions(
            _q4_chunk, whales, step, k, meta=_q4_chunk(inp.ddf._meta, whales, step, k)
        )
        return _reduce_sum(inp, chunks, ["rune_id", "_bucket"]).sort_values(["rune_id", "_bucket"])

    def daily(self, inp: Input, step: int) -> pd.DataFrame:
        """Distinct senders are exact: (rune, day, sender) triples are de-duplicated per
        partition, shuffled on (rune_id, day) and counted where they land."""
        k, ddf = inp.k, inp.ddf
        stats = ddf.map_partitions(_q6_chunk, step, k, meta=_q6_chunk(ddf._meta, step, k))
        stats = stats.groupby(["rune_id", "_day"], sort=False).sum().reset_index()
        triples = ddf.map_partitions(_q6_senders, step, meta=_q6_senders(ddf._meta, step))
        triples = triples.shuffle(on=["rune_id", "_day"])
        senders = triples.map_partitions(_q6_count, meta=_q6_count(triples._meta))
        pdf, counts = inp.compute(stats, senders)
        pdf = pdf.merge(counts, on=["rune_id", "_day"], how="left")
        pdf["senders"] = pdf["senders"].fillna(0).astype("int64")
        return pdf.sort_values(["rune_id", "_day"])

"""The whale suite: six queries over the canonical ``transfers`` / ``runes`` tables.

Each function takes a dask DataFrame (any partitioning, pandas or cuDF backed)
or an in-memory pandas / cuDF DataFrame and returns a computed in-memory frame
of the same family with a fresh index, sorted as the whale-suite contract
states. None of them gathers ``transfers`` onto one process: partitions are
reduced where they live (group sums, filters, broadcast merges against small
tables) and only aggregated results reach the client.

Exactness. Amount sums are computed on 32-bit limbs (see
:mod:`._whale_exact`), so integer outputs (balance, total, volume, netflow,
amount) are exact whatever the input: ``int64`` where every value fits, else
exact Python ints (``object``; ``decimal128(38, 0)`` on cuDF), and the frame's
``attrs["amount_repr"]`` says which. Ratios are computed from exact integer
sums and are correct to a few ulps.

>>> from mesh_magics.runes import synthetic, top_holders            # doctest: +SKIP
>>> transfers, runes = synthetic(n_rows=100_000, npartitions=4)      # doctest: +SKIP
>>> top_holders(transfers, n=5).head()                                # doctest: +SKIP
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import pandas as pd

from ..errors import RunesError, SchemaError
from . import _whale_coded as coded_path
from . import _whale_exact as ex
from ._whale_cache import cache_info, clear_cache, coded
from ._whale_frames import (
    Input,
    finish,
    frame_lib,
    from_ticks,
    prepare,
    step_ticks,
    ticks,
)
from ._whale_holders import TRANSFER_COLUMNS, concentration_table, top_holders_table
from .tables import INT64_MAX

__all__ = [
    "cache_info",
    "clear_cache",
    "concentration",
    "daily_activity",
    "top_holders",
    "whale_flows",
    "whale_netflow",
    "whale_transfers",
]

_DAY = "1D"


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RunesError(f"{name} must be a positive int, got {value!r}")
    return value


def _share(value: Any) -> float:
    try:
        share = float(value)
    except (TypeError, ValueError):
        share = math.nan
    if not (math.isfinite(share) and share >= 0):
        raise RunesError(f"min_share must be a finite number >= 0, got {value!r}")
    return share


def _reduce_sum(inp: Input, chunks: Any, keys: list[str]) -> pd.DataFrame:
    """Group sums of per-partition chunks, tree-reduced on the workers; host result."""
    agg = chunks.groupby(keys, sort=False).sum().reset_index()
    (pdf,) = inp.compute(agg)
    return pdf


# --------------------------------------------------------------------------- Q2, Q3


def top_holders(transfers: Any, n: int = 10) -> Any:
    """Q2: per rune, the ``n`` holders with the largest balance.

    Balance = Σ received − Σ sent over all operations; holders have a positive
    balance. Ties are broken by address ascending. Columns ``rune_id, address,
    balance, rank`` (rank 1..n), sorted by rune_id, rank.
    """
    n = _positive_int(n, "n")
    inp = prepare(transfers, "transfers", TRANSFER_COLUMNS)
    c = coded(transfers)
    if c is not None:
        return inp.small(top_holders_table(inp, n, coded_path.balances(c), coded_path.decoder(c)))
    return inp.small(top_holders_table(inp, n))


def concentration(transfers: Any, top: int = 10) -> Any:
    """Q3: holder concentration per rune, sorted by rune_id.

    Over each rune's holders: ``holders`` (count), ``total`` (Σ balance),
    ``top_share`` (Σ of the ``top`` largest / total), ``hhi`` (Σ (balance /
    total)², a 0..1 scale), ``gini`` (2·Σ i·b₍ᵢ₎ / (holders·total) −
    (holders+1)/holders, balances ascending, i from 1) and ``nakamoto`` (the
    fewest holders whose balances sum to more than total/2, compared exactly).
    Runes without holders have no row.
    """
    top = _positive_int(top, "top")
    inp = prepare(transfers, "transfers", TRANSFER_COLUMNS)
    c = coded(transfers)
    if c is not None:
        return inp.small(concentration_table(inp, top, coded_path.balances(c), coded_path.decoder(c)))
    return inp.small(concentration_table(inp, top))


# --------------------------------------------------------------------------- Q1, Q5


def _thresholds(runes: Any, min_share: float, k: int) -> pd.DataFrame:
    """Per rune the least qualifying amount, ceil(min_share × supply), as limbs (host)."""
    rinp = prepare(runes, "runes", ["rune_id", "supply"])
    (pdf,) = rinp.compute(rinp.ddf)
    if pdf["rune_id"].duplicated().any():
        dup = pdf.loc[pdf["rune_id"].duplicated(), "rune_id"].iloc[0]
        raise SchemaError(f"runes has more than one row for rune_id {dup!r}; keep one per rune")
    if pdf["supply"].isna().any():
        raise SchemaError("runes column 'supply' has nulls; every rune needs its exact supply")
    exact_share = Fraction(min_share)
    thr = [math.ceil(exact_share * int(s)) for s in pdf["supply"]]
    keep = [k > 2 or t <= INT64_MAX for t in thr]  # beyond int64: no int64 amount reaches it
    ids = pdf["rune_id"][keep].astype("string").reset_index(drop=True)
    limbs = ex.from_ints([t for t, kp in zip(thr, keep) if kp], k, "_t")
    return pd.DataFrame({"rune_id": ids, **limbs})


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
    keys = ["rune_id", "sender", "receiver"]
    rows = _whale_rows(part, thr, k, keys)
    rows["n"] = 1
    return rows.groupby(keys, sort=False).sum().reset_index()


def _flow_order(k: int) -> tuple[list[str], list[bool]]:
    return (
        [*reversed(ex.limb_names(k)), "rune_id", "sender", "receiver"],
        [*([False] * k), True, True, True],
    )


def _q5_top(part: Any, top: int, k: int) -> Any:
    part = ex.normalize(part.copy(), ex.limb_names(k))
    by, ascending = _flow_order(k)
    return part.sort_values(by, ascending=ascending).head(top)


_SEND_COLUMNS = ["rune_id", "operation", "sender", "receiver", "amount"]


def whale_transfers(transfers: Any, runes: Any, min_share: float = 0.001) -> Any:
    """Q1: per rune, the count ``n`` and Σ ``volume`` of its whale-sized sends.

    A row qualifies when its operation is ``send`` and amount ≥ min_share ×
    supply of its rune (compared exactly: the threshold is ⌈min_share·supply⌉
    with ``min_share`` taken as the exact value of the float). Rows of runes
    absent from ``runes`` never qualify. Sorted by volume desc, rune_id asc.
    """
    share = _share(min_share)
    inp = prepare(transfers, "transfers", _SEND_COLUMNS)
    thr = inp.small(_thresholds(runes, share, inp.k))
    k = inp.k
    c = coded(transfers)
    if c is not None:
        pdf = coded_path.whale_sums(inp, c, thr)
    else:
        chunks = inp.ddf.map_partitions(_q1_chunk, thr, k, meta=_q1_chunk(inp.ddf._meta, thr, k))
        pdf = _reduce_sum(inp, chunks, ["rune_id"])
    pdf = ex.normalize(pdf, ex.limb_names(k))
    pdf = pdf.sort_values([*reversed(ex.limb_names(k)), "rune_id"], ascending=[*([False] * k), True])
    out = finish(pdf, {"volume": ex.limb_names(k)})
    out["n"] = out["n"].astype("int64")
    return inp.small(out[["rune_id", "n", "volume"]].__finalize__(out))


def whale_flows(transfers: Any, runes: Any, min_share: float = 0.001, top: int = 100) -> Any:
    """Q5: the rows of :func:`whale_transfers` grouped by (rune_id, sender, receiver).

    Columns ``rune_id, sender, receiver, amount`` (Σ) and ``n`` (rows); the
    ``top`` groups by amount desc, then rune_id, sender, receiver asc. Groups
    are summed on the workers (split over several partitions) and each
    partition's ``top`` best are the only rows brought to the client.
    """
    share, top = _share(min_share), _positive_int(top, "top")
    inp = prepare(transfers, "transfers", _SEND_COLUMNS)
    thr = inp.small(_thresholds(runes, share, inp.k))
    k = inp.k
    c = coded(transfers)
    if c is not None:
        pdf = coded_path.flows(inp, c, thr, top)
    else:
        chunks = inp.ddf.map_partitions(_q5_chunk, thr, k, meta=_q5_chunk(inp.ddf._meta, thr, k))
        split_out = max(1, chunks.npartitions // 8)
        groups = chunks.groupby(["rune_id", "sender", "receiver"], sort=False).sum(split_out=split_out)
        groups = groups.reset_index()
        best = groups.map_partitions(_q5_top, top, k, meta=_q5_top(groups._meta, top, k))
        (pdf,) = inp.compute(best)
    by, ascending = _flow_order(k)
    pdf = pdf.sort_values(by, ascending=ascending).head(top)
    out = finish(pdf, {"amount": ex.limb_names(k)})
    out["n"] = out["n"].astype("int64")
    cols = ["rune_id", "sender", "receiver", "amount", "n"]
    return inp.small(out[cols].__finalize__(out))


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


def whale_netflow(transfers: Any, freq: str = "1h", top: int = 10) -> Any:
    """Q4: net flow of each rune's whales per time bucket.

    The whales of a rune are its ``top`` holders (:func:`top_holders`). A row
    whose receiver is a whale adds +amount, one whose sender is a whale adds
    −amount (whale to whale: both, two moves). ``bucket`` is block_time floored
    to ``freq`` (a fixed frequency) in UTC; only buckets with a move appear.
    Columns ``rune_id, bucket, netflow, moves``, sorted by rune_id, bucket.
    """
    top = _positive_int(top, "top")
    cols = ["rune_id", "block_time", "sender", "receiver", "amount"]
    inp = prepare(transfers, "transfers", cols)
    step = step_ticks(freq, inp.time_dtype)
    k = inp.k
    c = coded(transfers)
    if c is not None:
        pdf = coded_path.netflow(inp, c, step, top)
    else:
        whales = top_holders_table(inp.project(TRANSFER_COLUMNS), top)[["rune_id", "address"]]
        whales = inp.small(whales.astype({"rune_id": "string", "address": "string"}))
        chunks = inp.ddf.map_partitions(
            _q4_chunk, whales, step, k, meta=_q4_chunk(inp.ddf._meta, whales, step, k)
        )
        pdf = _reduce_sum(inp, chunks, ["rune_id", "_bucket"]).sort_values(["rune_id", "_bucket"])
    out = finish(pdf, {"netflow": ex.limb_names(k)})
    out["bucket"] = from_ticks(out["_bucket"], inp.time_dtype)
    out["moves"] = out["moves"].astype("int64")
    return inp.small(out[["rune_id", "bucket", "netflow", "moves"]].__finalize__(out))


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


def daily_activity(transfers: Any) -> Any:
    """Q6: per rune and UTC day, ``n`` rows (all operations), Σ amount as ``volume``,
    and the exact number of distinct non-null ``senders``; sorted by rune_id, day.

    Distinct senders are exact: (rune, day, sender) triples are de-duplicated
    per partition, shuffled on (rune_id, day) and counted where they land.
    """
    inp = prepare(transfers, "transfers", ["rune_id", "block_time", "sender", "amount"])
    step, k, ddf = step_ticks(_DAY, inp.time_dtype), inp.k, inp.ddf
    c = coded(transfers)
    if c is not None:
        pdf = coded_path.daily(inp, c, step)
    else:
        stats = ddf.map_partitions(_q6_chunk, step, k, meta=_q6_chunk(ddf._meta, step, k))
        stats = stats.groupby(["rune_id", "_day"], sort=False).sum().reset_index()
        triples = ddf.map_partitions(_q6_senders, step, meta=_q6_senders(ddf._meta, step))
        triples = triples.shuffle(on=["rune_id", "_day"])
        senders = triples.map_partitions(_q6_count, meta=_q6_count(triples._meta))
        pdf, counts = inp.compute(stats, senders)
        pdf = pdf.merge(counts, on=["rune_id", "_day"], how="left")
        pdf["senders"] = pdf["senders"].fillna(0).astype("int64")
        pdf = pdf.sort_values(["rune_id", "_day"])
    out = finish(pdf, {"volume": ex.limb_names(k)})
    out["day"] = from_ticks(out["_day"], inp.time_dtype)
    out["n"] = out["n"].astype("int64")
    cols = ["rune_id", "day", "n", "volume", "senders"]
    return inp.small(out[cols].__finalize__(out))

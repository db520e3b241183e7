"""The general engine: the six queries' heavy part on dask.dataframe, for any input.

Works on any partitioning of pandas- or cuDF-backed partitions (the kernels use
only dataframe operations both libraries have) and on exact (u128) amounts.
Partitions are reduced where they live: per-partition group sums of 32-bit
limbs (:mod:`.exact`), tree-reduced or shuffled on the workers, filters and
broadcast merges against small tables; only aggregated results reach the
client. Holder balances are :func:`.holders.balances` (one shuffle of partial
sums on ``rune_id``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from . import exact as ex
from .engine import WhaleEngine
from .frames import Input, flow_order, frame_lib, ticks
from .holders import TRANSFER_COLUMNS
from .holders import balances as holder_balances

__all__ = ["GeneralEngine"]


def _reduce_sum(inp: Input, chunks: Any, keys: list[str]) -> pd.DataFrame:
    """Group sums of per-partition chunks, tree-reduced on the workers; host result."""
    agg = chunks.groupby(keys, sort=False).sum().reset_index()
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
    keys = ["rune_id", "sender", "receiver"]
    rows = _whale_rows(part, thr, k, keys)
    rows["n"] = 1
    return rows.groupby(keys, sort=False).sum().reset_index()


def _q5_top(part: Any, top: int, k: int) -> Any:
    part = ex.normalize(part.copy(), ex.limb_names(k))
    by, ascending = flow_order(k)
    return part.sort_values(by, ascending=ascending).head(top)


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


class GeneralEngine(WhaleEngine):
    """The queries on the input's own dask collection (strings as they are)."""

    name = "general"

    def balances(self, inp: Input) -> Any:
        return holder_balances(inp)

    def decode(self, pdf: pd.DataFrame) -> pd.DataFrame:
        return pdf  # keys are already strings

    def whale_sums(self, inp: Input, thr: Any) -> pd.DataFrame:
        k = inp.k
        chunks = inp.ddf.map_partitions(_q1_chunk, thr, k, meta=_q1_chunk(inp.ddf._meta, thr, k))
        return _reduce_sum(inp, chunks, ["rune_id"])

    def flows(self, inp: Input, thr: Any, top: int) -> pd.DataFrame:
        """Groups summed on the workers (split over several partitions); each partition's
        ``top`` best are the only rows brought to the client."""
        k = inp.k
        chunks = inp.ddf.map_partitions(_q5_chunk, thr, k, meta=_q5_chunk(inp.ddf._meta, thr, k))
        split_out = max(1, chunks.npartitions // 8)
        groups = chunks.groupby(["rune_id", "sender", "receiver"], sort=False).sum(split_out=split_out)
        groups = groups.reset_index()
        best = groups.map_partitions(_q5_top, top, k, meta=_q5_top(groups._meta, top, k))
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

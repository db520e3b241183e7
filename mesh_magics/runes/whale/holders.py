"""Balances per (rune, address), and the holder queries built on them (Q2, Q3).

:func:`balances` is the core of the suite: every row moves ``+amount`` to its
receiver and ``-amount`` from its sender; each partition is reduced to partial
sums per (rune_id, address), the partial sums (not the transfers) are shuffled
on ``rune_id`` once, and a second per-partition sum leaves every rune's
holders complete inside one partition. Top holders, concentration figures and
the whales of the netflow query are then per-partition computations whose
small results are the only thing brought to the client.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from . import exact as ex
from .frames import Input, finish, frame_lib

__all__ = [
    "TRANSFER_COLUMNS",
    "balances",
    "concentration_table",
    "finish_top_holders",
    "sorted_desc",
    "top_chunk",
    "top_holders_table",
]

#: turns a host result with integer codes back into strings
Decode = Callable[[pd.DataFrame], pd.DataFrame]

#: the transfers columns the holder queries read
TRANSFER_COLUMNS = ["rune_id", "sender", "receiver", "amount"]


def _partial_balances(part: Any, k: int) -> Any:
    """One partition's net flow per (rune_id, address), as limb sums."""
    cols = ex.limb_names(k)
    a = ex.split(part[TRANSFER_COLUMNS], k)
    recv = a.loc[a["receiver"].notna(), ["rune_id", "receiver", *cols]]
    send = a.loc[a["sender"].notna(), ["rune_id", "sender", *cols]]
    recv = recv.rename(columns={"receiver": "address"})
    send = ex.negate(send.rename(columns={"sender": "address"}), cols)
    moves = frame_lib(part).concat([recv, send], ignore_index=True)
    return moves.groupby(["rune_id", "address"], sort=False)[cols].sum().reset_index()


def _final_balances(part: Any, k: int) -> Any:
    """Sum the shuffled partial sums; keep holders (balance > 0) only."""
    cols = ex.limb_names(k)
    out = part.groupby(["rune_id", "address"], sort=False)[cols].sum().reset_index()
    out = ex.normalize(out, cols)
    return out[ex.positive(out, cols)].reset_index(drop=True)


def balances(inp: Input) -> Any:
    """Holders' exact balances, one row per (rune_id, address), every rune in one partition.

    Columns: ``rune_id``, ``address`` and the balance as normalized limbs
    ``_a0 .. _a{k-1}``. Lazy (a dask collection); reusable by every holder
    query (a cache can hold it later).
    """
    ddf, k = inp.ddf, inp.k
    partial = ddf.map_partitions(_partial_balances, k, meta=_partial_balances(ddf._meta, k))
    shuffled = partial.shuffle(on="rune_id")
    return shuffled.map_partitions(_final_balances, k, meta=_final_balances(partial._meta, k))


def sorted_desc(b: Any, k: int) -> Any:
    """Sort by rune_id, balance desc, address asc; add ``_rank`` (1-based, per rune).

    A frame that already has ``_rank`` is taken as sorted and comes back as a shallow copy
    (columns added to it never reach a persisted partition): the coded engine's balances,
    whose ties are in address-code order, which only order-free readers of ties (Q3's
    concentration) take through here; its top holders break ties by string themselves.
    """
    if "_rank" in b.columns:
        return b.copy(deep=False)
    cols = ex.limb_names(k)
    by = ["rune_id", *reversed(cols), "address"]
    if type(b) is pd.DataFrame and all(pd.api.types.is_integer_dtype(b[c].dtype) for c in by):
        return _sorted_desc_ints(b, cols)
    s = b.sort_values(by, ascending=[True, *([False] * k), True]).reset_index(drop=True)
    s["_rank"] = s.groupby("rune_id", sort=False).cumcount() + 1
    return s


def _sorted_desc_ints(b: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """:func:`sorted_desc` for integer codes (the cached path): stable sorts, least
    significant key first (address, then balance, then rune).

    Normalized limbs are bounded (the low ones below 2**32), so negating them to sort
    descending cannot overflow. Where every balance fits in int64 (two limbs, the high one
    below 2**31) the balance is one key, not two, and rune codes that fit in 16 bits sort by
    numpy's radix sort: on 4.9M holders 1.4 s of ``np.lexsort`` became BENCHMARKS.md stop 33's."""
    rune = b["rune_id"].to_numpy()
    order = np.argsort(b["address"].to_numpy(), kind="stable")
    hi = b[cols[-1]].to_numpy()
    if len(cols) == 2 and (len(hi) == 0 or (hi.min() >= 0 and hi.max() < 2**31)):
        balance = (hi << 32) | b[cols[0]].to_numpy()
        order = order[np.argsort(-balance[order], kind="stable")]
    else:
        for c in cols:  # least significant limb first
            order = order[np.argsort(-b[c].to_numpy()[order], kind="stable")]
    small = len(rune) == 0 or (rune.min() >= 0 and rune.max() < 2**16)
    by_rune = rune[order].astype(np.uint16) if small else rune[order]
    order = order[np.argsort(by_rune, kind="stable")]
    s = b.take(order).reset_index(drop=True)
    rune = s["rune_id"].to_numpy()
    first = np.flatnonzero(np.r_[True, rune[1:] != rune[:-1]]) if len(rune) else np.zeros(0, np.int64)
    starts = np.repeat(first, np.diff(np.r_[first, len(rune)]))
    s["_rank"] = np.arange(1, len(rune) + 1) - starts
    return s


def top_chunk(b: Any, n: int, k: int) -> Any:
    """One partition's top ``n`` holders of each of its runes, with ``_rank``."""
    s = sorted_desc(b, k)
    return s[s["_rank"] <= n].reset_index(drop=True)


def top_holders_table(inp: Input, n: int, bal: Any = None, decode: Decode | None = None) -> pd.DataFrame:
    """Q2 on the host: rune_id, address, balance, rank (sorted by rune_id, rank).

    ``bal``: precomputed :func:`balances` (e.g. cached, with integer codes for
    rune_id and address, whose order is the strings' order); ``decode`` turns
    the host result's codes back into strings.
    """
    bal = balances(inp) if bal is None else bal
    k = inp.k
    tops = bal.map_partitions(top_chunk, n, k, meta=top_chunk(bal._meta, n, k))
    (pdf,) = inp.compute(tops)
    pdf = decode(pdf) if decode is not None else pdf
    return finish_top_holders(pdf, k)


def finish_top_holders(pdf: pd.DataFrame, k: int) -> pd.DataFrame:
    """The host result of :func:`top_chunk` over all partitions as the public Q2 frame."""
    pdf = pdf.sort_values(["rune_id", "_rank"]).rename(columns={"_rank": "rank"})
    out = finish(pdf, {"balance": ex.limb_names(k)})
    out["rank"] = out["rank"].astype("int64")
    return out[["rune_id", "address", "balance", "rank"]].reset_index(drop=True).__finalize__(out)


def _concentration_chunk(b: Any, top: int, k: int) -> Any:
    """Per rune (all of whose holders are in this partition): sums the host finishes."""
    cols = ex.limb_names(k)
    cum, tot, ptop = ex.limb_names(k, "_c"), ex.limb_names(k, "_t"), ex.limb_names(k, "_p")
    s = sorted_desc(b, k)
    s["_holders"] = 1
    g = s.groupby("rune_id", sort=False)
    # cumulative balances, largest first (order-dependent: done before any merge)
    cums = g[cols].cumsum()
    for c, name in zip(cols, cum):
        s[name] = cums[c]
    ex.normalize(s, cum)
    for name in cum:  # twice the running sum, to compare with the total exactly
        s[name] = s[name] * 2
    ex.normalize(s, cum)
    totals = g[[*cols, "_holders"]].sum().reset_index().rename(columns=dict(zip(cols, tot)))
    totals = ex.normalize(totals, tot)
    s = s.drop(columns=["_holders"])
    s = s.merge(totals, on="rune_id")
    share = ex.to_float(s, cols) / ex.to_float(s, tot)
    coef = (s["_holders"] - 2 * s["_rank"] + 1).astype("float64")
    s["_gini"] = coef * share
    s["_hhi"] = share * share
    s["_below"] = (~ex.greater(s, cum, tot)).astype("int64")
    in_top = s["_rank"] <= top
    for c, name in zip(cols, ptop):
        s[name] = s[c].where(in_top, 0)
    agg = {c: "sum" for c in ptop}
    agg.update({"_gini": "sum", "_hhi": "sum", "_below": "sum"})
    out = s.groupby("rune_id", sort=False).agg(agg).reset_index()
    return out.merge(totals, on="rune_id")


def concentration_table(inp: Input, top: int, bal: Any = None, decode: Decode | None = None) -> pd.DataFrame:
    """Q3 on the host: rune_id, holders, total, top_share, hhi, gini, nakamoto.

    ``bal`` and ``decode`` as for :func:`top_holders_table`.
    """
    bal = balances(inp) if bal is None else bal
    k = inp.k
    parts = bal.map_partitions(_concentration_chunk, top, k, meta=_concentration_chunk(bal._meta, top, k))
    (pdf,) = inp.compute(parts)
    pdf = decode(pdf) if decode is not None else pdf
    tot, ptop = ex.limb_names(k, "_t"), ex.limb_names(k, "_p")
    pdf = pdf.sort_values("rune_id").reset_index(drop=True)
    ex.normalize(pdf, ptop)
    holders = pdf["_holders"].astype("int64")
    out = finish(pdf, {"total": tot})
    out["holders"] = holders
    out["top_share"] = ex.to_float(pdf, ptop) / ex.to_float(pdf, tot)
    out["hhi"] = pdf["_hhi"].astype("float64")
    out["gini"] = pdf["_gini"].astype("float64") / holders
    out["nakamoto"] = (pdf["_below"] + 1).astype("int64")
    cols = ["rune_id", "holders", "total", "top_share", "hhi", "gini", "nakamoto"]
    return out[cols].reset_index(drop=True).__finalize__(out)

"""The six whale queries: arguments, the engine chosen once per call, exact finishing.

Each query checks its arguments, wraps ``transfers`` (:func:`~.frames.prepare`),
asks :func:`~.engine.engine_for` for one engine and turns the engine's small
host result into the public frame (:func:`~.frames.finish`: exact integers,
final order, the input's frame family). See :mod:`mesh_magics.runes.whale`.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import pandas as pd

from ...errors import RunesError, SchemaError
from ..tables import INT64_MAX
from . import exact as ex
from .engine import engine_for
from .frames import finish, flow_order, from_ticks, prepare, step_ticks
from .holders import TRANSFER_COLUMNS

__all__ = [
    "concentration",
    "daily_activity",
    "top_holders",
    "whale_flows",
    "whale_netflow",
    "whale_transfers",
]

_DAY = "1D"
_SEND_COLUMNS = ["rune_id", "operation", "sender", "receiver", "amount"]


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


# --------------------------------------------------------------------------- Q2, Q3


def top_holders(transfers: Any, n: int = 10) -> Any:
    """Q2: per rune, the ``n`` holders with the largest balance.

    Balance = Σ received − Σ sent over all operations; holders have a positive
    balance. Ties are broken by address ascending. Columns ``rune_id, address,
    balance, rank`` (rank 1..n), sorted by rune_id, rank.
    """
    n = _positive_int(n, "n")
    inp = prepare(transfers, "transfers", TRANSFER_COLUMNS)
    return inp.small(engine_for(transfers).top_holders(inp, n))


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
    return inp.small(engine_for(transfers).concentration(inp, top))


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
    pdf = engine_for(transfers, build=False).whale_sums(inp, thr)
    pdf = ex.normalize(pdf, ex.limb_names(k))
    pdf = pdf.sort_values([*reversed(ex.limb_names(k)), "rune_id"], ascending=[*([False] * k), True])
    out = finish(pdf, {"volume": ex.limb_names(k)})
    out["n"] = out["n"].astype("int64")
    return inp.small(out[["rune_id", "n", "volume"]].__finalize__(out))


def whale_flows(transfers: Any, runes: Any, min_share: float = 0.001, top: int = 100) -> Any:
    """Q5: the rows of :func:`whale_transfers` grouped by (rune_id, sender, receiver).

    Columns ``rune_id, sender, receiver, amount`` (Σ) and ``n`` (rows); the
    ``top`` groups by amount desc, then rune_id, sender, receiver asc. Groups
    are summed on the workers and only each partition's ``top`` best are
    brought to the client.
    """
    share, top = _share(min_share), _positive_int(top, "top")
    inp = prepare(transfers, "transfers", _SEND_COLUMNS)
    thr = inp.small(_thresholds(runes, share, inp.k))
    k = inp.k
    pdf = engine_for(transfers, build=False).flows(inp, thr, top)
    by, ascending = flow_order(k)
    pdf = pdf.sort_values(by, ascending=ascending).head(top)
    out = finish(pdf, {"amount": ex.limb_names(k)})
    out["n"] = out["n"].astype("int64")
    cols = ["rune_id", "sender", "receiver", "amount", "n"]
    return inp.small(out[cols].__finalize__(out))


# --------------------------------------------------------------------------- Q4


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
    pdf = engine_for(transfers).netflow(inp, step, top)
    out = finish(pdf, {"netflow": ex.limb_names(inp.k)})
    out["bucket"] = from_ticks(out["_bucket"], inp.time_dtype)
    out["moves"] = out["moves"].astype("int64")
    return inp.small(out[["rune_id", "bucket", "netflow", "moves"]].__finalize__(out))


# --------------------------------------------------------------------------- Q6


def daily_activity(transfers: Any) -> Any:
    """Q6: per rune and UTC day, ``n`` rows (all operations), Σ amount as ``volume``,
    and the exact number of distinct non-null ``senders``; sorted by rune_id, day.

    Distinct senders are exact on every engine (the general one de-duplicates
    (rune, day, sender) triples per partition and counts them after a shuffle
    on (rune_id, day)).
    """
    inp = prepare(transfers, "transfers", ["rune_id", "block_time", "sender", "amount"])
    step = step_ticks(_DAY, inp.time_dtype)
    pdf = engine_for(transfers).daily(inp, step)
    out = finish(pdf, {"volume": ex.limb_names(inp.k)})
    out["day"] = from_ticks(out["_day"], inp.time_dtype)
    out["n"] = out["n"].astype("int64")
    cols = ["rune_id", "day", "n", "volume", "senders"]
    return inp.small(out[cols].__finalize__(out))

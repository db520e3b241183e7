"""The coded-table engine: the six queries on the cache of :mod:`.cache` (integer keys, numpy kernels).

Same answers as the general engine (:mod:`.general`), computed on fixed-width
columns. Every rune's rows live in one partition of the coded table, so each
query is one task per partition whose result is already final for the runes
it holds: no shuffle, no tree reduction, the host only concatenates and sorts.
Group keys are packed integers (``rune << 32 | address``), amounts are
split into 32-bit limbs before any sum (exact, see :mod:`.exact`), and
strings are looked up in the sorted dictionaries only for the rows of a
result: rune ids on the client, addresses on the worker holding the
partition's own address dictionary (codes of two partitions never meet: a
rune, the first sort key everywhere, lives in one partition). Every method returns the host (pandas) frame the
query finishes (see :class:`~.engine.WhaleEngine`); the limb columns are
``_a0, _a1`` (amounts are int64 on this path).
"""

from __future__ import annotations

from typing import Any

import dask
import numpy as np
import pandas as pd

from ...errors import RunesError
from . import exact as ex
from .cache import Coded, decode_codes
from .engine import WhaleEngine
from .frames import Input
from .holders import finish_top_holders, sorted_desc

__all__ = ["CodedEngine"]

K = 2
LIMBS = ex.limb_names(K)
_MASK = np.int64(ex.BASE - 1)
_DAY0 = np.int64(2**31)  # offset of packed day numbers


_limbs = ex.int64_limbs


def _sum(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return df.groupby(keys, sort=False).sum().reset_index()


# --------------------------------------------------------------------------- balances (Q2, Q3, Q4)


def _group_sums(key: np.ndarray, moved: np.ndarray) -> pd.DataFrame:
    """``key`` and the sum of ``moved`` per distinct key as normalized limbs, exact: one hash
    (``pd.factorize``) and :func:`.exact.bincount_limbs`."""
    codes, uniq = pd.factorize(key)
    _, sums = ex.bincount_limbs(codes, moved, len(uniq))
    return ex.normalize(pd.DataFrame({"key": np.asarray(uniq, dtype=np.int64), **sums}), LIMBS)


#: the dense (rune, address) table of a partition is used while it has at most this many slots
#: per moved row (each slot is three float64 sums): beyond, the keys are hashed
DENSE_SLOTS_PER_ROW = 1


def _pair_sums(rune: np.ndarray, rcv: np.ndarray, snd: np.ndarray, amount: np.ndarray) -> pd.DataFrame:
    """Per (rune, address) pair of a coded partition, ``key = rune << 32 | address`` and the
    exact sum of what it received less what it sent, as normalized limbs.

    A coded partition holds few runes and its own dense address codes, so while a table of
    (its runes) x (its addresses) has at most :data:`DENSE_SLOTS_PER_ROW` slots a moved row
    (few runes: the skewed shapes), the sums are ``bincount`` on those slots, with no hash;
    else the packed keys are hashed (:func:`_group_sums`). The order of the pairs differs
    (slots come sorted, hashed keys in first appearance); the caller sorts."""
    r, s = rcv >= 0, snd >= 0
    moved = np.concatenate([amount[r], -amount[s]])
    present = np.zeros(int(rune.max(initial=-1)) + 1, dtype=bool)
    present[rune] = True
    n_addr = int(max(rcv.max(initial=-1), snd.max(initial=-1))) + 1
    slots = int(present.sum()) * n_addr
    if not 0 < slots <= DENSE_SLOTS_PER_ROW * len(moved):
        wide = rune.astype(np.int64) << 32
        return _group_sums(np.concatenate([wide[r] | rcv[r], wide[s] | snd[s]]), moved)
    local = (np.cumsum(present) - 1)[rune] * n_addr  # the rune's rank among the partition's
    rows, sums = ex.bincount_limbs(np.concatenate([local[r] + rcv[r], local[s] + snd[s]]), moved, slots)
    used = np.flatnonzero(rows)
    key = (np.flatnonzero(present)[used // n_addr].astype(np.int64) << 32) | (used % n_addr)
    return ex.normalize(pd.DataFrame({"key": key, **{c: v[used] for c, v in sums.items()}}), LIMBS)


def _holder_balances(part: pd.DataFrame) -> pd.DataFrame:
    """Holders (balance > 0) of the runes of one partition: rune_id, address codes and limbs,
    sorted by rune, balance desc and address *code* with ``_rank``, once per cached input:
    Q3 reads them as they are (ties have equal balances, so their order changes nothing),
    Q2 and Q4's whales re-rank the candidates tied at their cut by string (:func:`_top_exact`)."""
    cols = [part[c].to_numpy() for c in ("rune", "rcv", "snd", "amount")]
    out = _pair_sums(*cols)
    out = out[ex.positive(out, LIMBS)]
    key = out["key"].to_numpy()
    bal = pd.DataFrame({
        "rune_id": (key >> 32).astype(np.int32), "address": (key & _MASK).astype(np.int32),
        "_a0": out["_a0"].to_numpy(), "_a1": out["_a1"].to_numpy(),
    })  # fmt: skip
    return sorted_desc(bal, K)


# --------------------------------------------------------------------------- Q4


def _member(rune: np.ndarray, codes: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Rows whose ``rune << 32 | code`` is in the sorted packed ``keys`` (``-1`` codes never are).

    Whales are few and rows many: a mask of the keys' address codes (any rune's: a false
    hit is checked next) lets through the rows worth a binary search, and only those are
    searched (it was two searches of every row).
    """
    out = np.zeros(len(codes), dtype=bool)
    if len(keys) == 0 or len(codes) == 0:
        return out
    wanted = keys & _MASK
    mask = np.zeros(int(max(wanted.max(), codes.max())) + 2, dtype=bool)  # the last slot: where -1 reads
    mask[wanted] = True
    mask[-1] = False
    cand = np.flatnonzero(mask[codes])
    values = (rune[cand].astype(np.int64) << 32) | codes[cand]
    pos = np.minimum(np.searchsorted(keys, values), len(keys) - 1)
    out[cand] = keys[pos] == values
    return out


def _netflow_chunk(part: pd.DataFrame, keys: np.ndarray, step: int) -> pd.DataFrame:
    rune = part["rune"].to_numpy()
    inflow = _member(rune, part["rcv"].to_numpy(), keys)
    outflow = _member(rune, part["snd"].to_numpy(), keys)
    t, amount = part["t"].to_numpy(), part["amount"].to_numpy()
    t = np.concatenate([t[inflow], t[outflow]])
    moves = pd.DataFrame({
        "rune_id": np.concatenate([rune[inflow], rune[outflow]]).astype(np.int64),
        "_bucket": t - t % step,
        **_limbs(np.concatenate([amount[inflow], -amount[outflow]])),
        "moves": np.ones(len(t), dtype=np.int64),
    })  # fmt: skip
    return _sum(moves, ["rune_id", "_bucket"])


# --------------------------------------------------------------------------- Q1, Q5


def _thresholds(c: Coded, thr: pd.DataFrame) -> np.ndarray:
    """Per rune code the least qualifying amount; -1 where the rune cannot qualify."""
    out = np.full(len(c.runes), -1, dtype=np.int64)
    value = thr["_t1"].to_numpy(np.int64) * ex.BASE + thr["_t0"].to_numpy(np.int64)  # <= INT64_MAX here
    import pyarrow as pa
    import pyarrow.compute as pc

    codes = pc.index_in(pa.array(thr["rune_id"], type=pa.large_string()), value_set=c.runes)
    codes = codes.to_numpy(zero_copy_only=False)
    found = ~pd.isna(codes)
    out[codes[found].astype(np.int64)] = value[found]
    return out


def _whale_rows(part: pd.DataFrame, thr: np.ndarray) -> np.ndarray:
    rune = part["rune"].to_numpy()
    limit = thr[rune]
    return part["send"].to_numpy() & (limit >= 0) & (part["amount"].to_numpy() >= limit)


def _q1_chunk(part: pd.DataFrame, thr: np.ndarray) -> pd.DataFrame:
    rows = part[_whale_rows(part, thr)]
    df = pd.DataFrame({"rune_id": rows["rune"].to_numpy(), "n": 1, **_limbs(rows["amount"].to_numpy())})
    return _sum(df, ["rune_id"])


def _q5_chunk(part: pd.DataFrame, thr: np.ndarray, top: int) -> pd.DataFrame:
    """The partition's ``top`` (rune, sender, receiver) groups of whale sends, on codes."""
    rows = part[_whale_rows(part, thr)]
    df = pd.DataFrame({
        "rune_id": rows["rune"].to_numpy(), "sender": rows["snd"].to_numpy(),
        "receiver": rows["rcv"].to_numpy(), **_limbs(rows["amount"].to_numpy()), "n": 1,
    })  # fmt: skip
    return _top_flows(_sum(df, ["rune_id", "sender", "receiver"]), top)


def _at_least_nth(a1: np.ndarray, a0: np.ndarray, starts: np.ndarray, n: int) -> np.ndarray:
    """Rows whose amount (normalized limbs) is at least the ``n``-th largest of their block.

    Blocks start at ``starts`` and are sorted by amount, largest first; a block of fewer
    rows keeps them all. The rows tied with the ``n``-th are kept too: the address codes
    are in no order, so the tie is broken by the strings afterwards.
    """
    sizes = np.diff(np.append(starts, len(a1)))
    nth = np.repeat(starts + np.minimum(n, sizes) - 1, sizes)
    t1, t0 = a1[nth], a0[nth]
    return (a1 > t1) | ((a1 == t1) & (a0 >= t0))


def _top_flows(part: pd.DataFrame, top: int) -> pd.DataFrame:
    """The ``top`` groups by amount, with every group tied with the ``top``-th (the final
    order, by rune and address strings among equal amounts, is made after decoding)."""
    part = ex.normalize(part.copy(), LIMBS)
    part = part.sort_values(["_a1", "_a0"], ascending=[False, False], kind="stable")
    if len(part) <= top:
        return part
    keep = _at_least_nth(part["_a1"].to_numpy(), part["_a0"].to_numpy(), np.zeros(1, np.int64), top)
    return part[keep]


def _q5_decoded(part: pd.DataFrame, addresses: Any, thr: np.ndarray, top: int) -> pd.DataFrame:
    """:func:`_q5_chunk` with sender and receiver as strings (the partition's dictionary)."""
    best = _q5_chunk(part, thr, top).reset_index(drop=True)
    for c in ("sender", "receiver"):
        best[c] = decode_codes(addresses, best[c]).array
    return best


def _top_exact(bal: pd.DataFrame, addresses: Any, n: int) -> pd.DataFrame:
    """A partition's top ``n`` holders per rune, ties in balance broken by the address
    string: ``address`` the string, ``_code`` its code, ``_rank`` 1..n.

    ``bal`` comes sorted by rune, balance desc and code (:func:`_holder_balances`); every
    holder tied with its rune's ``n``-th is a candidate, and only the candidates' addresses
    are decoded and ranked again (codes are in no order).
    """
    rune = bal["rune_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, rune[1:] != rune[:-1]]) if len(rune) else np.zeros(0, np.int64)
    keep = _at_least_nth(bal["_a1"].to_numpy(), bal["_a0"].to_numpy(), starts, n)
    c = bal[keep].reset_index(drop=True)
    c["_code"] = c["address"]
    c["address"] = decode_codes(addresses, c["_code"]).array
    c = c.sort_values(["rune_id", "_a1", "_a0", "address"], ascending=[True, False, False, True])
    c["_rank"] = c.groupby("rune_id", sort=False).cumcount() + 1
    return c[c["_rank"] <= n].reset_index(drop=True)


# --------------------------------------------------------------------------- Q6


def _day_keys(part: pd.DataFrame, step: int) -> np.ndarray:
    """Per row ``rune << 32 | day number`` (day numbers within ±2**31 of the epoch)."""
    return (part["rune"].to_numpy().astype(np.int64) << 32) | (part["t"].to_numpy() // step + _DAY0)


def _unkey(key: np.ndarray, step: int) -> dict[str, np.ndarray]:
    return {"rune_id": (key >> 32).astype(np.int32), "_day": ((key & _MASK) - _DAY0) * step}


def _day_stats(part: pd.DataFrame, step: int) -> pd.DataFrame:
    """Rows and limb sums per (rune, day): one group-by on one packed int64 key."""
    df = pd.DataFrame({"key": _day_keys(part, step), "n": 1, **_limbs(part["amount"].to_numpy())})
    out = _sum(df, ["key"])
    return pd.DataFrame(
        {**_unkey(out["key"].to_numpy(), step), **{c: out[c].to_numpy() for c in ("n", *LIMBS)}}
    )


def _day_senders(part: pd.DataFrame, step: int) -> pd.DataFrame:
    """Distinct non-null senders per (rune << 32 | day number) key of the partition.

    (A factorized key packed with the sender code into one int64 and ``pd.unique``
    was slower than this two-column ``drop_duplicates``: 86 against 64 ms a 1M-row
    partition, so it is not used.)
    """
    snd = part["snd"].to_numpy()
    keep = snd >= 0
    pairs = pd.DataFrame({"key": _day_keys(part, step)[keep], "sender": snd[keep]}).drop_duplicates()
    return pairs.groupby("key", sort=False).size().rename("senders").reset_index()


# --------------------------------------------------------------------------- the engine


class CodedEngine(WhaleEngine):
    """The queries on one cached coded table (see :func:`~.cache.coded`)."""

    name = "coded"

    def __init__(self, c: Coded) -> None:
        self.coded = c

    # balances (Q2, Q3, Q4)

    def balances(self, inp: Input) -> Any:
        """Holders' balances on codes (each rune inside one partition); computed once per cached input."""
        t = self.coded.table

        def build() -> Any:
            return t.map_partitions(_holder_balances, meta=_holder_balances(t._meta))

        return self.coded.derive("balances", build)

    def decode(self, pdf: pd.DataFrame) -> pd.DataFrame:
        """Host-side decoding of rune_id codes (address codes are decoded on the workers)."""
        if "address" in pdf.columns:
            raise RunesError("coded address codes are per partition; decode them where the partition lives")
        pdf = pdf.copy()
        pdf["rune_id"] = self.coded.rune_ids(pdf["rune_id"]).array
        return pdf

    def _per_part(self, fn: Any, table: Any, *args: Any) -> list[Any]:
        """``fn(partition, its address dictionary, *args)`` for every partition of ``table``."""
        return [dask.delayed(fn)(p, d, *args) for p, d in zip(table.to_delayed(), self.coded.dicts)]

    def top_holders(self, inp: Input, n: int) -> pd.DataFrame:
        """Q2: the top ``n`` per partition with addresses decoded there; finished on the host."""
        chunks = self._tops(inp, n).drop(columns="_code")
        chunks["rune_id"] = self.coded.rune_ids(chunks["rune_id"]).array
        return finish_top_holders(chunks, inp.k)

    def _tops(self, inp: Input, n: int) -> pd.DataFrame:
        """Every partition's :func:`_top_exact` on the host (rune codes, address strings and codes)."""
        (chunks,) = inp.compute(dask.delayed(pd.concat)(self._per_part(_top_exact, self.balances(inp), n)))
        return chunks

    def _whales(self, inp: Input, top: int) -> np.ndarray:
        """Sorted packed keys (rune << 32 | address) of each rune's ``top`` holders."""
        tops = self._tops(inp, top)
        keys = (tops["rune_id"].to_numpy(np.int64) << 32) | tops["_code"].to_numpy(np.int64)
        return np.sort(keys)

    # Q4

    def netflow(self, inp: Input, step: int, top: int) -> pd.DataFrame:
        """Q4 sums per (rune_id, _bucket): limbs and moves, on the host (rune codes decoded)."""
        c = self.coded
        keys = self._whales(inp, top)
        t = c.table
        chunks = t.map_partitions(_netflow_chunk, keys, step, meta=_netflow_chunk(t._meta, keys, step))
        (pdf,) = inp.compute(chunks)
        pdf = pdf.sort_values(["rune_id", "_bucket"])
        pdf["rune_id"] = c.rune_ids(pdf["rune_id"]).array
        return pdf

    # Q1, Q5

    def whale_sums(self, inp: Input, thr: Any) -> pd.DataFrame:
        """Q1 sums per rune_id: n and limbs, on the host (codes decoded)."""
        c = self.coded
        limits = _thresholds(c, thr)
        t = c.table
        chunks = t.map_partitions(_q1_chunk, limits, meta=_q1_chunk(t._meta, limits))
        (pdf,) = inp.compute(chunks)
        pdf["rune_id"] = c.rune_ids(pdf["rune_id"]).array
        return pdf

    def flows(self, inp: Input, thr: Any, top: int) -> pd.DataFrame:
        """Q5: the ``top`` (rune, sender, receiver) groups, on the host (codes decoded, not yet sorted)."""
        c = self.coded
        limits = _thresholds(c, thr)
        (pdf,) = inp.compute(dask.delayed(pd.concat)(self._per_part(_q5_decoded, c.table, limits, top)))
        pdf["rune_id"] = c.rune_ids(pdf["rune_id"]).array
        return pdf  # the query sorts the best of each partition's best (strings) and keeps ``top``

    # Q6

    def daily(self, inp: Input, step: int) -> pd.DataFrame:
        """Q6 per (rune_id, _day): n, limbs and senders, on the host (rune codes decoded)."""
        c = self.coded
        t = c.table
        stats = t.map_partitions(_day_stats, step, meta=_day_stats(t._meta, step))
        senders = t.map_partitions(_day_senders, step, meta=_day_senders(t._meta, step))
        pdf, counts = inp.compute(stats, senders)
        key = counts["key"].to_numpy()
        counts = pd.DataFrame({
            "rune_id": (key >> 32).astype(pdf["rune_id"].dtype), "_day": ((key & _MASK) - _DAY0) * step,
            "senders": counts["senders"].to_numpy(np.int64),
        })  # fmt: skip
        pdf = pdf.merge(counts, on=["rune_id", "_day"], how="left")
        pdf["senders"] = pdf["senders"].fillna(0).astype("int64")
        pdf = pdf.sort_values(["rune_id", "_day"])
        pdf["rune_id"] = c.rune_ids(pdf["rune_id"]).array
        return pdf

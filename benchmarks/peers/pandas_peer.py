"""The whale suite in plain pandas, one process, from the contract.

Exact sums without int64 wrap-around: each amount is split into a high and a
low 32-bit half, the halves are summed separately (exact for < 2**31 rows per
group) and recombined as Python ints on the small result.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["QUERIES", "source"]

_LO = (1 << 32) - 1

#: a query's first argument: the dataset directory (each query reads its columns) or the
#: frames of :func:`source` (read once, in memory)
Source = Path | dict


def source(data: Source, memory: bool = False) -> Source:
    """The dataset as it is (files), or (``memory``) both tables read into memory."""
    if not memory:
        return data
    return {"t": pd.read_parquet(data / "transfers"), "r": pd.read_parquet(data / "runes")}


def _t(data: Source, columns: list[str]) -> pd.DataFrame:
    if isinstance(data, dict):
        return data["t"][columns]
    return pd.read_parquet(data / "transfers", columns=columns)


def _r(data: Source, columns: list[str]) -> pd.DataFrame:
    if isinstance(data, dict):
        return data["r"][columns]
    return pd.read_parquet(data / "runes", columns=columns)


def _halves(df: pd.DataFrame, col: str = "amount", sign: int = 1) -> pd.DataFrame:
    a = df[col].to_numpy(dtype=np.int64)
    return df.drop(columns=[col]).assign(_hi=sign * (a >> 32), _lo=sign * (a & _LO))


def _join(hi: pd.Series, lo: pd.Series) -> pd.Series:
    vals = [(int(h) << 32) + int(v) for h, v in zip(hi, lo)]
    fits = all(-(2**63) <= v < 2**63 for v in vals)
    return pd.Series(vals, index=hi.index, dtype="int64" if fits else object)


def _whale_rows(data: Source, min_share: float, cols: list[str]) -> pd.DataFrame:
    runes = _r(data, ["rune_id", "supply"]).copy()
    share = Fraction(min_share)
    runes["_thr"] = [math.ceil(share * int(s)) for s in runes["supply"]]
    t = _t(data, ["operation", "amount", *cols])
    t = t[t["operation"] == "send"].merge(runes[["rune_id", "_thr"]], on="rune_id")
    return t[t["amount"] >= t["_thr"]]


def q1(data: Source, p: dict) -> pd.DataFrame:
    w = _halves(_whale_rows(data, p["min_share"], ["rune_id"])[["rune_id", "amount"]])
    g = w.groupby("rune_id").agg(n=("_hi", "size"), _hi=("_hi", "sum"), _lo=("_lo", "sum")).reset_index()
    g["volume"] = _join(g["_hi"], g["_lo"])
    g = g.sort_values(["volume", "rune_id"], ascending=[False, True], key=None)
    return g[["rune_id", "n", "volume"]].reset_index(drop=True)


def _balances(data: Source) -> pd.DataFrame:
    t = _t(data, ["rune_id", "sender", "receiver", "amount"])
    recv = t.loc[t["receiver"].notna(), ["rune_id", "receiver", "amount"]].rename(
        columns={"receiver": "address"}
    )
    send = t.loc[t["sender"].notna(), ["rune_id", "sender", "amount"]].rename(columns={"sender": "address"})
    moves = pd.concat([_halves(recv), _halves(send, sign=-1)], ignore_index=True)
    g = moves.groupby(["rune_id", "address"], sort=False)[["_hi", "_lo"]].sum().reset_index()
    # balances are below 2**63 (each is at most its rune's supply); the partial halves are exact
    hi, lo = g["_hi"].to_numpy(), g["_lo"].to_numpy()
    hi = hi + (lo >> 32)
    lo = lo & _LO
    g["balance"] = hi * (1 << 32) + lo  # exact while the balance fits int64
    g = g[(hi > 0) | ((hi == 0) & (lo > 0))]
    return g[["rune_id", "address", "balance"]]


def _ranked(data: Source) -> pd.DataFrame:
    b = _balances(data).sort_values(["rune_id", "balance", "address"], ascending=[True, False, True])
    b["rank"] = b.groupby("rune_id").cumcount() + 1
    return b


def q2(data: Source, p: dict) -> pd.DataFrame:
    b = _ranked(data)
    return b[b["rank"] <= p["n"]].reset_index(drop=True)


def q3(data: Source, p: dict) -> pd.DataFrame:
    b = _ranked(data)
    g = b.groupby("rune_id")
    b["total"] = g["balance"].transform("sum")
    b["holders"] = g["balance"].transform("size")
    b["running"] = g["balance"].cumsum()
    bal, total = b["balance"].astype("float64"), b["total"].astype("float64")
    b["_top"] = b["balance"].where(b["rank"] <= p["top"], 0)
    b["_sq"] = (bal / total) ** 2
    b["_ib"] = (b["holders"] - b["rank"] + 1).astype("float64") * bal
    b["_below"] = 2 * b["running"] <= b["total"]
    out = (
        b.groupby("rune_id")
        .agg(
            holders=("holders", "first"),
            total=("total", "first"),
            _top=("_top", "sum"),
            hhi=("_sq", "sum"),
            _ib=("_ib", "sum"),
            _below=("_below", "sum"),
        )
        .reset_index()
    )
    n, tot = out["holders"].astype("float64"), out["total"].astype("float64")
    out["top_share"] = out["_top"] / tot
    out["gini"] = 2 * out["_ib"] / (n * tot) - (n + 1) / n
    out["nakamoto"] = out["_below"].astype("int64") + 1
    return out[["rune_id", "holders", "total", "top_share", "hhi", "gini", "nakamoto"]]


def q4(data: Source, p: dict) -> pd.DataFrame:
    b = _ranked(data)
    whales = b.loc[b["rank"] <= p["top"], ["rune_id", "address"]]
    t = _t(data, ["rune_id", "block_time", "sender", "receiver", "amount"])
    inflow = t.merge(whales, left_on=["rune_id", "receiver"], right_on=["rune_id", "address"])
    outflow = t.merge(whales, left_on=["rune_id", "sender"], right_on=["rune_id", "address"])
    moves = pd.concat(
        [
            _halves(inflow[["rune_id", "block_time", "amount"]]),
            _halves(outflow[["rune_id", "block_time", "amount"]], sign=-1),
        ],
        ignore_index=True,
    )
    moves["bucket"] = moves["block_time"].dt.floor(p["freq"])
    g = (
        moves.groupby(["rune_id", "bucket"])
        .agg(_hi=("_hi", "sum"), _lo=("_lo", "sum"), moves=("_hi", "size"))
        .reset_index()
    )
    g["netflow"] = _join(g["_hi"], g["_lo"])
    return g[["rune_id", "bucket", "netflow", "moves"]]


def q5(data: Source, p: dict) -> pd.DataFrame:
    keys = ["rune_id", "sender", "receiver"]
    w = _halves(_whale_rows(data, p["min_share"], keys)[[*keys, "amount"]])
    g = w.groupby(keys).agg(_hi=("_hi", "sum"), _lo=("_lo", "sum"), n=("_hi", "size")).reset_index()
    g["amount"] = _join(g["_hi"], g["_lo"])
    g["_key"] = g["amount"].map(lambda v: -int(v))  # exact, whatever the representation
    g = g.sort_values(["_key", *keys]).head(p["flows_top"])
    return g[[*keys, "amount", "n"]].reset_index(drop=True)


def q6(data: Source, p: dict) -> pd.DataFrame:
    t = _t(data, ["rune_id", "block_time", "sender", "amount"])
    t["day"] = t["block_time"].dt.floor("1D")
    t = _halves(t)
    g = (
        t.groupby(["rune_id", "day"])
        .agg(n=("_hi", "size"), _hi=("_hi", "sum"), _lo=("_lo", "sum"), senders=("sender", "nunique"))
        .reset_index()
    )
    g["volume"] = _join(g["_hi"], g["_lo"])
    return g[["rune_id", "day", "n", "volume", "senders"]]


QUERIES = {"Q1": q1, "Q2": q2, "Q3": q3, "Q4": q4, "Q5": q5, "Q6": q6}

"""The whale suite in polars expressions (lazy scans of the Parquet files).

Sums are taken as Int128 (exact for any int64 input); Int128 result columns
are handed back as Python ints.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pandas as pd
import polars as pl

__all__ = ["QUERIES", "source"]

I128 = pl.Int128

#: a query's first argument: the dataset directory (lazy scans of the files) or the frames
#: of :func:`source` (read once, in memory)
Source = Path | dict


def source(data: Source, memory: bool = False) -> Source:
    """The dataset as it is (scans), or (``memory``) both tables read into memory."""
    if not memory:
        return data
    return {
        "t": pl.read_parquet(data / "transfers" / "*.parquet"),
        "r": pl.read_parquet(data / "runes" / "*.parquet"),
    }


def _t(data: Source) -> pl.LazyFrame:
    if isinstance(data, dict):
        return data["t"].lazy()
    return pl.scan_parquet(data / "transfers" / "*.parquet")


def _r(data: Source) -> pl.LazyFrame:
    if isinstance(data, dict):
        return data["r"].lazy()
    return pl.scan_parquet(data / "runes" / "*.parquet")


def _pandas(df: pl.DataFrame) -> pd.DataFrame:
    """To pandas, Int128 columns as exact Python ints, datetimes as UTC."""
    out = {}
    for name, dtype in df.schema.items():
        s = df.get_column(name)
        if dtype == I128:
            out[name] = pd.Series(s.to_list(), dtype=object)
        else:
            out[name] = s.to_pandas()
    return pd.DataFrame(out)


def _whale_rows(data: Source, min_share: float) -> pl.LazyFrame:
    num, den = Fraction(min_share).as_integer_ratio()
    return (
        _t(data)
        .filter(pl.col("operation") == "send")
        .join(_r(data).select("rune_id", "supply"), on="rune_id", how="inner")
        .filter(pl.col("amount").cast(I128) * den >= pl.col("supply").cast(I128) * num)
    )


def _balances(data: Path) -> pl.LazyFrame:
    t = _t(data)
    recv = t.filter(pl.col("receiver").is_not_null()).select(
        "rune_id", pl.col("receiver").alias("address"), pl.col("amount").cast(I128).alias("delta")
    )
    send = t.filter(pl.col("sender").is_not_null()).select(
        "rune_id",
        pl.col("sender").alias("address"),
        (pl.lit(0, dtype=I128) - pl.col("amount").cast(I128)).alias("delta"),
    )
    bal = pl.concat([recv, send]).group_by("rune_id", "address").agg(pl.col("delta").sum().alias("balance"))
    return bal.filter(pl.col("balance") > 0)


def _ranked(data: Source, n: int) -> pl.LazyFrame:
    return (
        _balances(data)
        .sort(["rune_id", "balance", "address"], descending=[False, True, False])
        .with_columns(rank=pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("rune_id"))
        .filter(pl.col("rank") <= n)
    )


def q1(data: Source, p: dict) -> pd.DataFrame:
    out = (
        _whale_rows(data, p["min_share"])
        .group_by("rune_id")
        .agg(n=pl.len().cast(pl.Int64), volume=pl.col("amount").cast(I128).sum())
        .sort(["volume", "rune_id"], descending=[True, False])
    )
    return _pandas(out.collect())


def q2(data: Source, p: dict) -> pd.DataFrame:
    out = _ranked(data, p["n"]).select("rune_id", "address", "balance", "rank").sort("rune_id", "rank")
    return _pandas(out.collect())


def q3(data: Source, p: dict) -> pd.DataFrame:
    b = pl.col("balance")
    desc = _balances(data).sort(["rune_id", "balance"], descending=[False, True])
    per = desc.with_columns(
        total=b.sum().over("rune_id"),
        running=b.cum_sum().over("rune_id"),
        rk_desc=pl.int_range(1, pl.len() + 1).over("rune_id"),
        holders=pl.len().over("rune_id"),
    ).with_columns(rk_asc=pl.col("holders") - pl.col("rk_desc") + 1)
    total = pl.col("total").first()
    holders = pl.len()
    out = per.group_by("rune_id").agg(
        holders=holders.cast(pl.Int64),
        total=total,
        top_share=b.filter(pl.col("rk_desc") <= p["top"]).sum().cast(pl.Float64) / total.cast(pl.Float64),
        hhi=((b.cast(pl.Float64) / pl.col("total").cast(pl.Float64)) ** 2).sum(),
        gini=2.0
        * (pl.col("rk_asc").cast(pl.Float64) * b.cast(pl.Float64)).sum()
        / (holders.cast(pl.Float64) * total.cast(pl.Float64))
        - (holders + 1).cast(pl.Float64) / holders.cast(pl.Float64),
        nakamoto=(1 + (2 * pl.col("running") <= pl.col("total")).sum()).cast(pl.Int64),
    )
    return _pandas(out.sort("rune_id").collect())


def q4(data: Source, p: dict) -> pd.DataFrame:
    whales = _ranked(data, p["top"]).select("rune_id", "address").collect().lazy()
    t = _t(data).select("rune_id", "block_time", "sender", "receiver", "amount")
    inflow = t.join(whales, left_on=["rune_id", "receiver"], right_on=["rune_id", "address"]).select(
        "rune_id", "block_time", delta=pl.col("amount").cast(I128)
    )
    outflow = t.join(whales, left_on=["rune_id", "sender"], right_on=["rune_id", "address"]).select(
        "rune_id", "block_time", delta=pl.lit(0, dtype=I128) - pl.col("amount").cast(I128)
    )
    out = (
        pl.concat([inflow, outflow])
        .with_columns(bucket=pl.col("block_time").dt.truncate(p["freq"]))
        .group_by("rune_id", "bucket")
        .agg(netflow=pl.col("delta").sum(), moves=pl.len().cast(pl.Int64))
        .sort("rune_id", "bucket")
    )
    return _pandas(out.collect())


def q5(data: Source, p: dict) -> pd.DataFrame:
    out = (
        _whale_rows(data, p["min_share"])
        .group_by("rune_id", "sender", "receiver")
        .agg(amount=pl.col("amount").cast(I128).sum(), n=pl.len().cast(pl.Int64))
        .sort(["amount", "rune_id", "sender", "receiver"], descending=[True, False, False, False])
        .head(p["flows_top"])
    )
    return _pandas(out.collect())


def q6(data: Source, p: dict) -> pd.DataFrame:
    out = (
        _t(data)
        .with_columns(day=pl.col("block_time").dt.truncate("1d"))
        .group_by("rune_id", "day")
        .agg(
            n=pl.len().cast(pl.Int64),
            volume=pl.col("amount").cast(I128).sum(),
            senders=pl.col("sender").drop_nulls().n_unique().cast(pl.Int64),
        )
        .sort("rune_id", "day")
    )
    return _pandas(out.collect())


QUERIES = {"Q1": q1, "Q2": q2, "Q3": q3, "Q4": q4, "Q5": q5, "Q6": q6}

"""The whale suite in DuckDB SQL, straight from the contract.

Amounts are BIGINT; every sum is taken as HUGEINT (exact), and results are
fetched as Python tuples (``fetchall``) so that HUGEINT values stay exact
(``.df()`` would turn them into float64).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import duckdb
import pandas as pd

__all__ = ["QUERIES", "source"]

#: a query's first argument: the dataset directory (each query scans the files) or a
#: connection from :func:`source` (tables loaded once)
Source = Path | duckdb.DuckDBPyConnection


def source(data: Path, memory: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection with ``t`` and ``r``: views over the files, or (``memory``) tables loaded in memory."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    kind = "TABLE" if memory else "VIEW"
    con.execute(f"CREATE {kind} t AS SELECT * FROM read_parquet('{data / 'transfers'}/*.parquet')")
    con.execute(f"CREATE {kind} r AS SELECT * FROM read_parquet('{data / 'runes'}/*.parquet')")
    return con


def _run(data: Source, sql: str, columns: list[str], params: list | dict | None = None) -> pd.DataFrame:
    if isinstance(data, duckdb.DuckDBPyConnection):
        rows = data.execute(sql, params or []).fetchall()
    else:
        con = source(data)
        try:
            rows = con.execute(sql, params or []).fetchall()
        finally:
            con.close()
    return pd.DataFrame.from_records(rows, columns=columns)


# Exact whale test: amount >= min_share * supply  <=>  amount * den >= num * supply (HUGEINT).
_WHALE_ROWS = """
    SELECT t.rune_id, t.sender, t.receiver, t.amount
    FROM t JOIN r USING (rune_id)
    WHERE t.operation = 'send'
      AND t.amount::HUGEINT * $den::HUGEINT >= $num::HUGEINT * r.supply::HUGEINT
"""

_BALANCES = """
    bal AS (
        SELECT rune_id, address, SUM(delta) AS balance FROM (
            SELECT rune_id, receiver AS address, amount::HUGEINT AS delta FROM t WHERE receiver IS NOT NULL
            UNION ALL
            SELECT rune_id, sender AS address, -amount::HUGEINT AS delta FROM t WHERE sender IS NOT NULL
        ) GROUP BY rune_id, address HAVING SUM(delta) > 0
    )
"""


def _ratio(min_share: float) -> dict:
    num, den = Fraction(min_share).as_integer_ratio()
    return {"num": num, "den": den}


def q1(data: Source, p: dict) -> pd.DataFrame:
    sql = f"""
        SELECT rune_id, COUNT(*) AS n, SUM(amount::HUGEINT) AS volume FROM ({_WHALE_ROWS})
        GROUP BY rune_id ORDER BY volume DESC, rune_id
    """
    return _run(data, sql, ["rune_id", "n", "volume"], _ratio(p["min_share"]))


def q2(data: Source, p: dict) -> pd.DataFrame:
    sql = f"""
        WITH {_BALANCES}
        SELECT rune_id, address, balance, rk AS rank FROM (
            SELECT *, row_number() OVER (PARTITION BY rune_id ORDER BY balance DESC, address) AS rk FROM bal
        ) WHERE rk <= $n ORDER BY rune_id, rk
    """
    return _run(data, sql, ["rune_id", "address", "balance", "rank"], {"n": p["n"]})


def q3(data: Source, p: dict) -> pd.DataFrame:
    sql = f"""
        WITH {_BALANCES},
        ranked AS (
            SELECT rune_id, balance,
                   row_number() OVER (PARTITION BY rune_id ORDER BY balance DESC) AS rk_desc,
                   row_number() OVER (PARTITION BY rune_id ORDER BY balance ASC) AS rk_asc,
                   SUM(balance) OVER (PARTITION BY rune_id ORDER BY balance DESC
                                      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running,
                   SUM(balance) OVER (PARTITION BY rune_id) AS total
            FROM bal
        )
        SELECT rune_id, COUNT(*) AS holders, ANY_VALUE(total) AS total,
               SUM(CASE WHEN rk_desc <= $top THEN balance ELSE 0 END)::DOUBLE / ANY_VALUE(total)::DOUBLE
                   AS top_share,
               SUM((balance::DOUBLE / total::DOUBLE) ^ 2) AS hhi,
               2.0 * SUM(rk_asc::DOUBLE * balance::DOUBLE) / (COUNT(*)::DOUBLE * ANY_VALUE(total)::DOUBLE)
                   - (COUNT(*) + 1)::DOUBLE / COUNT(*)::DOUBLE AS gini,
               1 + COUNT(*) FILTER (WHERE 2 * running <= total) AS nakamoto
        FROM ranked GROUP BY rune_id ORDER BY rune_id
    """
    cols = ["rune_id", "holders", "total", "top_share", "hhi", "gini", "nakamoto"]
    return _run(data, sql, cols, {"top": p["top"]})


def q4(data: Source, p: dict) -> pd.DataFrame:
    step = pd.Timedelta(p["freq"]).value  # nanoseconds
    sql = f"""
        WITH {_BALANCES},
        whales AS (
            SELECT rune_id, address FROM (
                SELECT rune_id, address,
                       row_number() OVER (PARTITION BY rune_id ORDER BY balance DESC, address) AS rk
                FROM bal) WHERE rk <= $top
        ),
        moves AS (
            SELECT t.rune_id, t.block_time, t.amount::HUGEINT AS delta
            FROM t JOIN whales w ON t.rune_id = w.rune_id AND t.receiver = w.address
            UNION ALL
            SELECT t.rune_id, t.block_time, -t.amount::HUGEINT AS delta
            FROM t JOIN whales w ON t.rune_id = w.rune_id AND t.sender = w.address
        )
        SELECT rune_id, epoch_ns(block_time) // $step * $step AS bucket,
               SUM(delta) AS netflow, COUNT(*) AS moves
        FROM moves GROUP BY ALL ORDER BY rune_id, bucket
    """
    out = _run(data, sql, ["rune_id", "bucket", "netflow", "moves"], {"top": p["top"], "step": step})
    out["bucket"] = pd.to_datetime(out["bucket"], unit="ns", utc=True)
    return out


def q5(data: Source, p: dict) -> pd.DataFrame:
    sql = f"""
        SELECT rune_id, sender, receiver, SUM(amount::HUGEINT) AS amount, COUNT(*) AS n
        FROM ({_WHALE_ROWS}) GROUP BY rune_id, sender, receiver
        ORDER BY amount DESC, rune_id, sender, receiver LIMIT $top
    """
    params = {**_ratio(p["min_share"]), "top": p["flows_top"]}
    return _run(data, sql, ["rune_id", "sender", "receiver", "amount", "n"], params)


def q6(data: Source, p: dict) -> pd.DataFrame:
    sql = """
        SELECT rune_id, epoch_ns(block_time) // 86400000000000 * 86400000000000 AS day,
               COUNT(*) AS n, SUM(amount::HUGEINT) AS volume, COUNT(DISTINCT sender) AS senders
        FROM t GROUP BY ALL ORDER BY rune_id, day
    """
    out = _run(data, sql, ["rune_id", "day", "n", "volume", "senders"])
    out["day"] = pd.to_datetime(out["day"], unit="ns", utc=True)
    return out


QUERIES = {"Q1": q1, "Q2": q2, "Q3": q3, "Q4": q4, "Q5": q5, "Q6": q6}

"""Checking tables against the contract: :func:`validate_transfers`, :func:`validate_runes`;
setting rows aside: :func:`split_bad_rows`."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from ...errors import SchemaError
from .schema import (
    AMOUNT_COLUMN,
    EXACT_AMOUNT_DTYPE,
    OPERATIONS,
    RUNES_COLUMNS,
    TRANSFERS_COLUMNS,
    U128_MAX,
    check_columns,
    fail_row,
    is_dask,
    is_int_dtype,
    is_string_dtype,
    meta_of,
    to_pandas,
)

__all__ = ["split_bad_rows", "validate_runes", "validate_transfers"]

_RUNE_ID = re.compile(r"[1-9][0-9]*:(?:0|[1-9][0-9]*)")
_TXID = re.compile(r"[0-9a-fA-F]{64}")
_FIX = "fix the source, coerce_{table}(df), or set such rows aside with split_bad_rows(df, mask, reason)"


def _check_dtypes(meta: Any, table: str) -> None:
    columns = TRANSFERS_COLUMNS if table == "transfers" else RUNES_COLUMNS
    check_columns(meta, columns, table)
    for col, canonical in columns.items():
        dtype = meta[col].dtype
        if col == AMOUNT_COLUMN[table]:
            ok = (is_int_dtype(dtype) and dtype != np.uint64) or str(dtype) == EXACT_AMOUNT_DTYPE
            want = "int64, or object of Python ints for amounts beyond int64"
            if is_string_dtype(dtype):
                want += (
                    " (dask's dataframe.convert-string turns object columns into strings: "
                    "build dask frames of exact amounts under "
                    "dask.config.set({'dataframe.convert-string': False}))"
                )
        elif canonical == "int64":
            ok, want = is_int_dtype(dtype), "an integer dtype (int64)"
        elif canonical.startswith("datetime"):
            ok = pd.api.types.is_datetime64_any_dtype(dtype)
            tz = getattr(dtype, "tz", None)
            ok = ok and (tz is None or str(tz) in ("UTC", "utc", "+00:00"))
            want = "datetime64 in UTC (datetime64[ns, UTC]; naive values are read as UTC)"
        else:
            ok, want = is_string_dtype(dtype), "a string dtype"
        if not ok:
            raise SchemaError(
                f"{table} column {col!r} has dtype {dtype}; expected {want}. "
                f"Fix: coerce_{table}(df) casts a table to the canonical dtypes"
            )


def _check_transfer_values(df: Any, where: str = "") -> None:
    df = to_pandas(df)
    fix = _FIX.format(table="transfers")

    def check(col: str, bad: pd.Series, problem: str, hint: str = fix) -> None:
        if bool(bad.fillna(True).any()):
            fail_row("transfers", col, df[col], bad, problem, hint, where)

    h = df["block_height"]
    check("block_height", h.isna() | (h < 0), "is null or negative")
    check("block_time", df["block_time"].isna(), "is null")
    txid = df["txid"].astype(object)
    check(
        "txid",
        ~txid.map(lambda t: isinstance(t, str) and _TXID.fullmatch(t) is not None),
        "is not 64 hex characters",
    )
    rid = df["rune_id"].astype(object)
    check(
        "rune_id",
        ~rid.map(lambda t: isinstance(t, str) and _RUNE_ID.fullmatch(t) is not None),
        "is not a rune id BLOCK:TX (e.g. '840000:3')",
    )
    op = df["operation"].astype(object)
    check("operation", ~op.isin(OPERATIONS), f"is not one of {', '.join(OPERATIONS)}")
    sender, receiver = df["sender"].notna(), df["receiver"].notna()
    check(
        "sender",
        op.isin(("etching", "mint")) & sender,
        "is set on an etching/mint row",
        "premined and minted units have no sender: set it null",
    )
    check(
        "receiver",
        (op == "burn") & receiver,
        "is set on a burn row",
        "burned units reach no address: set it null",
    )
    check("sender", (op == "send") & ~sender, "is null on a send row", fix)
    check("receiver", (op == "send") & ~receiver, "is null on a send row", fix)
    _check_amount_values(df, "transfers", "amount", where)


def _check_amount_values(df: pd.DataFrame, table: str, col: str, where: str) -> None:
    s = df[col]
    if is_int_dtype(s.dtype):
        bad = s.isna() | (s < 0)
    else:
        ints = s.map(lambda v: v if isinstance(v, int) and not isinstance(v, bool) else None)
        bad = ints.isna() | ~(ints.fillna(0).astype(object).map(lambda v: 0 <= v <= U128_MAX))
    if bool(bad.any()):
        fail_row(
            table,
            col,
            s,
            bad,
            "is not an integer 0 <= amount <= u128::MAX",
            f"amounts are exact raw units: use coerce_amount(df[{col!r}])",
            where,
        )


def _check_rune_values(df: Any, where: str = "") -> None:
    df = to_pandas(df)
    fix = _FIX.format(table="runes")
    rid = df["rune_id"].astype(object)
    bad = ~rid.map(lambda t: isinstance(t, str) and _RUNE_ID.fullmatch(t) is not None)
    if bad.any():
        fail_row("runes", "rune_id", df["rune_id"], bad, "is not a rune id BLOCK:TX", fix, where)
    dup = rid.duplicated(keep="first")
    if dup.any():
        fail_row(
            "runes",
            "rune_id",
            df["rune_id"],
            dup,
            "repeats an earlier rune id",
            "runes has one row per rune: drop_duplicates('rune_id')",
            where,
        )
    if df["name"].isna().any():
        fail_row("runes", "name", df["name"], df["name"].isna(), "is null", fix, where)
    d = df["divisibility"]
    if (d.isna() | (d < 0) | (d > 38)).any():
        fail_row("runes", "divisibility", d, d.isna() | (d < 0) | (d > 38), "is not in 0..38", fix, where)
    sym = df["symbol"].astype(object)
    bad = sym.notna() & ~sym.map(lambda s: isinstance(s, str) and len(s) == 1)
    if bad.any():
        fail_row("runes", "symbol", df["symbol"], bad, "is not one character or null", fix, where)
    _check_amount_values(df, "runes", "supply", where)


def _validate(df: Any, table: str, values: bool) -> Any:
    check = _check_transfer_values if table == "transfers" else _check_rune_values
    _check_dtypes(meta_of(df), table)
    if not values:
        return df
    if not is_dask(df):
        check(df)
        return df

    def _partition(part: Any, partition_info: dict[str, Any] | None = None) -> Any:
        n = (partition_info or {}).get("number")
        check(part, "" if n is None else f" of partition {n}")
        return part

    return df.map_partitions(_partition, meta=df._meta)


def validate_transfers(df: Any, *, values: bool = True) -> Any:
    """Check a ``transfers`` table against the contract; return it (dask: lazily checked).

    Columns and dtypes are checked at once (for dask, on the meta). With
    ``values=True`` every row is checked too: heights ≥ 0, times present, txids
    of 64 hex digits, rune ids ``BLOCK:TX``, operations among
    :data:`OPERATIONS`, null sender on etching/mint rows, null receiver on burn
    rows, both parties on sends, amounts exact integers in 0..u128::MAX. For a
    dask frame those checks run partition by partition when the *returned*
    frame is computed. Raises :class:`SchemaError` naming the column, the row
    (index label and partition) and the fix.
    """
    return _validate(df, "transfers", values)


def validate_runes(df: Any, *, values: bool = True) -> Any:
    """Check a ``runes`` table (see :func:`validate_transfers`).

    Value checks: rune ids ``BLOCK:TX`` and unique (within a partition for dask),
    names present, divisibility 0..38, symbol one character or null, supply an
    exact integer in 0..u128::MAX.
    """
    return _validate(df, "runes", values)


# --------------------------------------------------------------------------- bad rows


def split_bad_rows(
    df: Any,
    mask: Any,
    reason: str | Any,
    *,
    reason_column: str = "reason",
) -> tuple[Any, Any]:
    """Split ``df`` into ``(good, bad)``: the rows where ``mask`` is true are set aside.

    ``mask`` is a boolean Series aligned with ``df`` (for dask, one derived from
    the same frame) or a callable ``mask(df)`` returning one. A null mask entry
    (an unknown test) counts as bad. ``bad`` holds the original columns plus
    ``reason_column`` (string dtype) set to ``reason``: one string for every row,
    or a Series of per-row reasons aligned with ``df``. ``good`` has exactly
    ``df``'s columns. Works lazily on dask frames (nothing is computed).

    >>> good, bad = split_bad_rows(df, df["amount"] < 0, "negative amount")  # doctest: +SKIP
    >>> bad_so_far = dd.concat([bad_so_far, bad])                          # doctest: +SKIP
    """
    if callable(mask):
        mask = mask(df)
    mask = mask.fillna(True).astype(bool)
    if reason_column in meta_of(df).columns:
        raise SchemaError(
            f"split_bad_rows: df already has a column {reason_column!r}; pass another reason_column"
        )
    good = df[~mask]
    if not is_dask(df):
        return good, _bad_part(df, mask, reason, reason_column)
    meta = _bad_part(df._meta, mask._meta, "", reason_column)
    return good, df.map_partitions(_bad_part, mask, reason, reason_column, meta=meta)


def _bad_part(part: Any, mask: Any, reason: Any, column: str) -> Any:
    out = part[mask].copy()
    out[column] = reason if isinstance(reason, str) else reason[mask]
    if isinstance(out, pd.DataFrame):
        out[column] = out[column].astype("string")
    return out

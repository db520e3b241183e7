"""The canonical tables of the whale suite (see the whale-suite contract).

``transfers``: one row per movement of rune units; ``runes``: one row per rune.
Column names and dtypes here are the contract every loader, the generator and
the six queries share.

Amounts are u128 in the protocol. The canonical in-memory dtype is ``int64``
when every value fits; a table whose values do not fit uses the exact
representation :data:`EXACT_AMOUNT_DTYPE` (Python ints in an ``object``
column) and says so in ``df.attrs["amount_repr"]`` — never a wrapped integer
or a float. :func:`amount_repr` tells which one a frame uses (from its attrs,
else from the dtype, which also works for dask frames).

Checking and fixing tables:

- :func:`validate_transfers` / :func:`validate_runes` accept pandas, cuDF or
  dask frames and raise :class:`~mesh_magics.errors.SchemaError` naming the
  column (and, for values, the row) at fault and how to fix it. Dask frames
  are checked against their meta at once; their values are checked lazily,
  partition by partition, when the returned frame is computed.
- :func:`coerce_transfers` / :func:`coerce_runes` cast a pandas or dask frame
  to the canonical dtypes; :func:`coerce_amount` does it for one column.
- :func:`split_bad_rows` sets rows aside with a reason instead of failing.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Literal

import dask
import numpy as np
import pandas as pd

from ..errors import SchemaError

__all__ = [
    "AMOUNT_REPRS",
    "EXACT_AMOUNT_DTYPE",
    "INT64_MAX",
    "OPERATIONS",
    "RUNES_COLUMNS",
    "TRANSFERS_COLUMNS",
    "U128_MAX",
    "amount_repr",
    "coerce_amount",
    "coerce_runes",
    "coerce_transfers",
    "split_bad_rows",
    "validate_runes",
    "validate_transfers",
]

INT64_MAX = 2**63 - 1
U128_MAX = 2**128 - 1

#: operation values of ``transfers.operation``
OPERATIONS = ("etching", "mint", "send", "burn")

#: column -> canonical pandas dtype name (string columns use pandas' "string"
#: dtype backed by pyarrow; timestamps are UTC).
TRANSFERS_COLUMNS: dict[str, str] = {
    "block_height": "int64",
    "block_time": "datetime64[ns, UTC]",
    "txid": "string",
    "rune_id": "string",
    "operation": "string",
    "sender": "string",
    "receiver": "string",
    "amount": "int64",
}

RUNES_COLUMNS: dict[str, str] = {
    "rune_id": "string",
    "name": "string",
    "divisibility": "int64",
    "supply": "int64",
    "symbol": "string",
}

#: dtype of amount/supply columns whose values do not fit int64
EXACT_AMOUNT_DTYPE = "object"

#: the two amount representations: ``"int64"`` or ``"exact"`` (Python ints, object dtype)
AMOUNT_REPRS = ("int64", "exact")

AmountRepr = Literal["int64", "exact"]

_AMOUNT_COLUMN = {"transfers": "amount", "runes": "supply"}
_RUNE_ID = re.compile(r"[1-9][0-9]*:(?:0|[1-9][0-9]*)")
_TXID = re.compile(r"[0-9a-fA-F]{64}")
_FIX = "fix the source, coerce_{table}(df), or set such rows aside with split_bad_rows(df, mask, reason)"


# --------------------------------------------------------------------------- helpers


def _is_dask(df: Any) -> bool:
    return hasattr(df, "_meta") and hasattr(df, "npartitions")


def _meta(df: Any) -> Any:
    return df._meta if _is_dask(df) else df


def _is_int_dtype(dtype: Any) -> bool:
    return pd.api.types.is_integer_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def _is_string_dtype(dtype: Any) -> bool:
    if isinstance(dtype, pd.CategoricalDtype):
        return _is_string_dtype(dtype.categories.dtype)
    return pd.api.types.is_string_dtype(dtype) or str(dtype) == "object"


def _to_pandas(df: Any) -> pd.DataFrame:
    return df if isinstance(df, pd.DataFrame) else df.to_pandas()  # cuDF partitions


def amount_repr(df: Any, column: str | None = None) -> AmountRepr:
    """Which amount representation a table uses: ``"int64"`` or ``"exact"``.

    Reads ``df.attrs["amount_repr"]`` when set, else the dtype of ``column``
    (``amount`` for transfers, ``supply`` for runes): an integer dtype is
    ``"int64"``, ``object`` (Python ints) is ``"exact"``. Works for pandas,
    cuDF and dask frames.
    """
    attrs = getattr(df, "attrs", None) if not _is_dask(df) else None
    if attrs and attrs.get("amount_repr") in AMOUNT_REPRS:
        return attrs["amount_repr"]  # type: ignore[no-any-return]
    meta = _meta(df)
    if column is None:
        column = "amount" if "amount" in meta.columns else "supply"
    if column not in meta.columns:
        raise SchemaError(f"no amount column: expected {column!r} among {list(meta.columns)}")
    dtype = meta[column].dtype
    if _is_int_dtype(dtype):
        return "int64"
    if str(dtype) == EXACT_AMOUNT_DTYPE:
        return "exact"
    raise SchemaError(
        f"column {column!r} has dtype {dtype}, which is neither int64 nor exact (object of "
        f"Python ints); convert it with coerce_amount(df[{column!r}])"
    )


def _exact_int(v: Any) -> int | None:
    """``v`` as an exact int, or None when it is not an integer value."""
    if isinstance(v, (bool, np.bool_)) or v is None or v is pd.NA:
        return None
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, Decimal):
        return int(v) if v.is_finite() and v == v.to_integral_value() else None
    if isinstance(v, str) and v.strip().isdigit():
        return int(v.strip())
    return None  # floats included: they cannot carry u128 amounts exactly


def coerce_amount(
    values: pd.Series, repr: Literal["auto", "int64", "exact"] = "auto", *, name: str | None = None
) -> pd.Series:
    """A pandas Series of raw amounts in a canonical representation.

    Accepts integer dtypes, Python ints / decimal strings / integral
    ``Decimal`` in an object column, and Arrow decimals. ``repr="auto"`` gives
    ``int64`` when every value fits, else exact Python ints (``object``);
    ``"int64"`` raises instead of wrapping a value that does not fit. Floats,
    nulls, negatives and values above u128::MAX raise :class:`SchemaError`.
    """
    name = name or str(values.name or "amount")
    if repr not in ("auto", *AMOUNT_REPRS):
        raise SchemaError(f"repr must be 'auto', 'int64' or 'exact', got {repr!r}")
    if pd.api.types.is_float_dtype(values.dtype):
        raise SchemaError(
            f"column {name!r} is {values.dtype}: floats cannot hold u128 amounts exactly; "
            "read it as integers or decimal strings"
        )
    if _is_int_dtype(values.dtype) and not values.isna().any():
        if (values < 0).any():
            _fail_row("table", name, values, values < 0, "is negative", "amounts are u128")
        if values.dtype == np.uint64 and (values > INT64_MAX).any():
            ints = pd.Series([int(v) for v in values], index=values.index, dtype=object)
        else:
            return values.astype("int64") if repr != "exact" else values.astype(object).map(int)
    else:
        ints = values.astype(object).map(_exact_int)
        bad = ints.isna()
        if bad.any():
            _fail_row(
                "table",
                name,
                values,
                bad,
                "is not an exact integer (null, float or text)",
                "amounts are raw integer units",
            )
    if (ints < 0).any():
        _fail_row("table", name, values, ints < 0, "is negative", "amounts are u128")
    if (ints > U128_MAX).any():
        _fail_row("table", name, values, ints > U128_MAX, "exceeds u128::MAX", "amounts are u128")
    fits = bool((ints <= INT64_MAX).all())
    if repr == "int64" and not fits:
        _fail_row(
            "table",
            name,
            values,
            ints > INT64_MAX,
            "does not fit int64",
            "use the exact representation (repr='exact' or 'auto')",
        )
    if repr == "int64" or (repr == "auto" and fits):
        return ints.astype("int64")
    return ints.astype(object)


def _coerce(df: Any, table: str, repr: str) -> Any:
    columns = TRANSFERS_COLUMNS if table == "transfers" else RUNES_COLUMNS
    amount = _AMOUNT_COLUMN[table]
    _check_columns(_meta(df), columns, table)
    if _is_dask(df):
        if repr == "auto":  # one representation for every partition, decided from the meta
            dtype = df._meta[amount].dtype
            repr = "int64" if _is_int_dtype(dtype) and dtype != np.uint64 else "exact"
        meta = _coerce(df._meta, table, repr)
        with dask.config.set({"dataframe.convert-string": False}):  # keep exact ints as ints
            return df.map_partitions(_coerce, table, repr, meta=meta)
    out = {}
    for col, dtype in columns.items():
        s = df[col]
        if col == amount:
            out[col] = coerce_amount(s, repr, name=col)  # type: ignore[arg-type]
        elif dtype.startswith("datetime"):
            out[col] = pd.to_datetime(s, utc=True).astype(dtype)
        else:
            try:
                out[col] = s.astype(dtype)
            except (TypeError, ValueError) as exc:
                raise SchemaError(f"{table} column {col!r} cannot be cast to {dtype}: {exc}") from exc
    res = pd.DataFrame(out, index=df.index)
    extra = [c for c in df.columns if c not in columns]
    if extra:
        res = pd.concat([res, df[extra]], axis=1)
    res.attrs["amount_repr"] = amount_repr(res, amount)
    return res


def coerce_transfers(df: Any, amount_repr: Literal["auto", "int64", "exact"] = "auto") -> Any:
    """``transfers`` cast to the canonical dtypes (pandas or dask; extra columns kept last).

    For a dask frame, ``"auto"`` decides the amount representation once, from the
    meta (integer dtypes stay ``int64``, anything else becomes ``"exact"``), so
    every partition agrees; pass ``"int64"`` to insist (a value that does not fit
    then raises when its partition is computed).
    """
    return _coerce(df, "transfers", amount_repr)


def coerce_runes(df: Any, amount_repr: Literal["auto", "int64", "exact"] = "auto") -> Any:
    """``runes`` cast to the canonical dtypes; ``supply`` follows the amount rule."""
    return _coerce(df, "runes", amount_repr)


# --------------------------------------------------------------------------- validation


def _check_columns(meta: Any, columns: dict[str, str], table: str) -> None:
    missing = [c for c in columns if c not in meta.columns]
    if missing:
        raise SchemaError(
            f"{table} is missing column(s) {missing}; the canonical columns are "
            f"{list(columns)} (see mesh_magics.runes.{table.upper()}_COLUMNS)"
        )


def _check_dtypes(meta: Any, table: str) -> None:
    columns = TRANSFERS_COLUMNS if table == "transfers" else RUNES_COLUMNS
    _check_columns(meta, columns, table)
    for col, canonical in columns.items():
        dtype = meta[col].dtype
        if col == _AMOUNT_COLUMN[table]:
            ok = (_is_int_dtype(dtype) and dtype != np.uint64) or str(dtype) == EXACT_AMOUNT_DTYPE
            want = "int64, or object of Python ints for amounts beyond int64"
            if _is_string_dtype(dtype):
                want += (
                    " (dask's dataframe.convert-string turns object columns into strings: "
                    "build dask frames of exact amounts under "
                    "dask.config.set({'dataframe.convert-string': False}))"
                )
        elif canonical == "int64":
            ok, want = _is_int_dtype(dtype), "an integer dtype (int64)"
        elif canonical.startswith("datetime"):
            ok = pd.api.types.is_datetime64_any_dtype(dtype)
            tz = getattr(dtype, "tz", None)
            ok = ok and (tz is None or str(tz) in ("UTC", "utc", "+00:00"))
            want = "datetime64 in UTC (datetime64[ns, UTC]; naive values are read as UTC)"
        else:
            ok, want = _is_string_dtype(dtype), "a string dtype"
        if not ok:
            raise SchemaError(
                f"{table} column {col!r} has dtype {dtype}; expected {want}. "
                f"Fix: coerce_{table}(df) casts a table to the canonical dtypes"
            )


def _fail_row(
    table: str, col: str, values: pd.Series, bad: pd.Series, problem: str, fix: str, where: str = ""
) -> None:
    bad = bad.fillna(True).astype(bool)
    label = bad.index[np.flatnonzero(bad.to_numpy())[0]]
    n = int(bad.sum())
    more = f" ({n - 1} more row(s) fail this check)" if n > 1 else ""
    raise SchemaError(
        f"{table} row {label!r}{where}: column {col!r} {problem} (value {values.loc[label]!r}){more}; {fix}"
    )


def _check_transfer_values(df: Any, where: str = "") -> None:
    df = _to_pandas(df)
    fix = _FIX.format(table="transfers")

    def check(col: str, bad: pd.Series, problem: str, hint: str = fix) -> None:
        if bool(bad.fillna(True).any()):
            _fail_row("transfers", col, df[col], bad, problem, hint, where)

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
    if _is_int_dtype(s.dtype):
        bad = s.isna() | (s < 0)
    else:
        ints = s.map(lambda v: v if isinstance(v, int) and not isinstance(v, bool) else None)
        bad = ints.isna() | ~(ints.fillna(0).astype(object).map(lambda v: 0 <= v <= U128_MAX))
    if bool(bad.any()):
        _fail_row(
            table,
            col,
            s,
            bad,
            "is not an integer 0 <= amount <= u128::MAX",
            f"amounts are exact raw units: use coerce_amount(df[{col!r}])",
            where,
        )


def _check_rune_values(df: Any, where: str = "") -> None:
    df = _to_pandas(df)
    fix = _FIX.format(table="runes")
    rid = df["rune_id"].astype(object)
    bad = ~rid.map(lambda t: isinstance(t, str) and _RUNE_ID.fullmatch(t) is not None)
    if bad.any():
        _fail_row("runes", "rune_id", df["rune_id"], bad, "is not a rune id BLOCK:TX", fix, where)
    dup = rid.duplicated(keep="first")
    if dup.any():
        _fail_row(
            "runes",
            "rune_id",
            df["rune_id"],
            dup,
            "repeats an earlier rune id",
            "runes has one row per rune: drop_duplicates('rune_id')",
            where,
        )
    if df["name"].isna().any():
        _fail_row("runes", "name", df["name"], df["name"].isna(), "is null", fix, where)
    d = df["divisibility"]
    if (d.isna() | (d < 0) | (d > 38)).any():
        _fail_row("runes", "divisibility", d, d.isna() | (d < 0) | (d > 38), "is not in 0..38", fix, where)
    sym = df["symbol"].astype(object)
    bad = sym.notna() & ~sym.map(lambda s: isinstance(s, str) and len(s) == 1)
    if bad.any():
        _fail_row("runes", "symbol", df["symbol"], bad, "is not one character or null", fix, where)
    _check_amount_values(df, "runes", "supply", where)


def _validate(df: Any, table: str, values: bool) -> Any:
    check = _check_transfer_values if table == "transfers" else _check_rune_values
    _check_dtypes(_meta(df), table)
    if not values:
        return df
    if not _is_dask(df):
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
    if reason_column in _meta(df).columns:
        raise SchemaError(
            f"split_bad_rows: df already has a column {reason_column!r}; pass another reason_column"
        )
    good = df[~mask]
    if not _is_dask(df):
        return good, _bad_part(df, mask, reason, reason_column)
    meta = _bad_part(df._meta, mask._meta, "", reason_column)
    return good, df.map_partitions(_bad_part, mask, reason, reason_column, meta=meta)


def _bad_part(part: Any, mask: Any, reason: Any, column: str) -> Any:
    out = part[mask].copy()
    out[column] = reason if isinstance(reason, str) else reason[mask]
    if isinstance(out, pd.DataFrame):
        out[column] = out[column].astype("string")
    return out

"""Casting tables to the canonical dtypes (:func:`coerce_amount`, :func:`coerce_transfers`, ...)."""

from __future__ import annotations

from typing import Any, Literal

import dask
import numpy as np
import pandas as pd

from ...errors import SchemaError
from .amounts import AmountError, parse_amount
from .schema import (
    AMOUNT_COLUMN,
    AMOUNT_REPRS,
    INT64_MAX,
    RUNES_COLUMNS,
    TRANSFERS_COLUMNS,
    amount_repr,
    check_columns,
    fail_row,
    is_dask,
    is_int_dtype,
    meta_of,
)

__all__ = ["coerce_amount", "coerce_runes", "coerce_transfers"]


#: refusals of :func:`~.amounts.parse_amount`, in the order :func:`coerce_amount` reports them
_REFUSALS = (
    (
        ("missing", "not-integer", "float"),
        "is not an exact integer (null, float or text)",
        "amounts are raw integer units",
    ),
    (("negative",), "is negative", "amounts are u128"),
    (("too-large",), "exceeds u128::MAX", "amounts are u128"),
)


def _parse_column(values: pd.Series, name: str) -> pd.Series:
    """Every value through :func:`~.amounts.parse_amount`: Python ints (object).

    Raises :class:`SchemaError` naming the first row of the first kind of refusal.
    """
    ints: list[int | None] = []
    kinds: list[str | None] = []
    for v in values.astype(object):
        try:
            ints.append(parse_amount(v, name))
            kinds.append(None)
        except AmountError as e:
            ints.append(None)
            kinds.append(e.kind)
    refused = pd.Series(kinds, index=values.index, dtype=object)
    for group, problem, fix in _REFUSALS:
        bad = refused.isin(group)
        if bad.any():
            fail_row("table", name, values, bad, problem, fix)
    return pd.Series(ints, index=values.index, dtype=object)


def coerce_amount(
    values: pd.Series, repr: Literal["auto", "int64", "exact"] = "auto", *, name: str | None = None
) -> pd.Series:
    """A pandas Series of raw amounts in a canonical representation.

    Accepts integer dtypes, and Python ints / decimal strings (ASCII digits) /
    integral ``Decimal`` in an object column or Arrow decimals, read by the
    one amount parser, :func:`~.amounts.parse_amount`. ``repr="auto"`` gives
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
    if is_int_dtype(values.dtype) and not values.isna().any():
        if (values < 0).any():
            fail_row("table", name, values, values < 0, "is negative", "amounts are u128")
        if values.dtype == np.uint64 and (values > INT64_MAX).any():
            ints = pd.Series([int(v) for v in values], index=values.index, dtype=object)
        else:
            return values.astype("int64") if repr != "exact" else values.astype(object).map(int)
    else:
        ints = _parse_column(values, name)
    fits = bool((ints <= INT64_MAX).all())
    if repr == "int64" and not fits:
        fail_row(
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


def _coerce(df: Any, table: str, repr: Literal["auto", "int64", "exact"]) -> Any:
    columns = TRANSFERS_COLUMNS if table == "transfers" else RUNES_COLUMNS
    amount = AMOUNT_COLUMN[table]
    check_columns(meta_of(df), columns, table)
    if is_dask(df):
        if repr == "auto":  # one representation for every partition, decided from the meta
            dtype = df._meta[amount].dtype
            repr = "int64" if is_int_dtype(dtype) and dtype != np.uint64 else "exact"
        meta = _coerce(df._meta, table, repr)
        with dask.config.set({"dataframe.convert-string": False}):  # keep exact ints as ints
            return df.map_partitions(_coerce, table, repr, meta=meta)
    out = {}
    for col, dtype in columns.items():
        s = df[col]
        if col == amount:
            out[col] = coerce_amount(s, repr, name=col)
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

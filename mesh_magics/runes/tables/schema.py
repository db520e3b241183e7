"""The canonical columns and dtypes, the amount representations, and shared checks.

Column names and dtypes here are the contract every loader, the generator and
the six queries share; :func:`amount_repr` tells which amount representation a
frame uses. The helpers at the end (``check_columns``, ``fail_row``) build the
:class:`~mesh_magics.errors.SchemaError` messages that name the table, the
column, the row and the fix.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from ...errors import SchemaError

__all__ = [
    "AMOUNT_COLUMN",
    "AMOUNT_REPRS",
    "EXACT_AMOUNT_DTYPE",
    "INT64_MAX",
    "OPERATIONS",
    "RUNES_COLUMNS",
    "TRANSFERS_COLUMNS",
    "U128_MAX",
    "AmountRepr",
    "amount_repr",
    "check_columns",
    "fail_row",
    "is_dask",
    "is_int_dtype",
    "is_string_dtype",
    "meta_of",
    "to_pandas",
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

#: table -> its amount column
AMOUNT_COLUMN = {"transfers": "amount", "runes": "supply"}


# --------------------------------------------------------------------------- helpers


def is_dask(df: Any) -> bool:
    return hasattr(df, "_meta") and hasattr(df, "npartitions")


def meta_of(df: Any) -> Any:
    return df._meta if is_dask(df) else df


def is_int_dtype(dtype: Any) -> bool:
    return pd.api.types.is_integer_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def is_string_dtype(dtype: Any) -> bool:
    if isinstance(dtype, pd.CategoricalDtype):
        return is_string_dtype(dtype.categories.dtype)
    return pd.api.types.is_string_dtype(dtype) or str(dtype) == "object"


def to_pandas(df: Any) -> pd.DataFrame:
    return df if isinstance(df, pd.DataFrame) else df.to_pandas()  # cuDF partitions


def amount_repr(df: Any, column: str | None = None) -> AmountRepr:
    """Which amount representation a table uses: ``"int64"`` or ``"exact"``.

    Reads ``df.attrs["amount_repr"]`` when set, else the dtype of ``column``
    (``amount`` for transfers, ``supply`` for runes): an integer dtype is
    ``"int64"``, ``object`` (Python ints) is ``"exact"``. Works for pandas,
    cuDF and dask frames.
    """
    attrs = getattr(df, "attrs", None) if not is_dask(df) else None
    if attrs and attrs.get("amount_repr") in AMOUNT_REPRS:
        return attrs["amount_repr"]
    meta = meta_of(df)
    if column is None:
        column = "amount" if "amount" in meta.columns else "supply"
    if column not in meta.columns:
        raise SchemaError(f"no amount column: expected {column!r} among {list(meta.columns)}")
    dtype = meta[column].dtype
    if is_int_dtype(dtype):
        return "int64"
    if str(dtype) == EXACT_AMOUNT_DTYPE:
        return "exact"
    raise SchemaError(
        f"column {column!r} has dtype {dtype}, which is neither int64 nor exact (object of "
        f"Python ints); convert it with coerce_amount(df[{column!r}])"
    )


def check_columns(meta: Any, columns: dict[str, str], table: str) -> None:
    missing = [c for c in columns if c not in meta.columns]
    if missing:
        raise SchemaError(
            f"{table} is missing column(s) {missing}; the canonical columns are "
            f"{list(columns)} (see mesh_magics.runes.{table.upper()}_COLUMNS)"
        )


def fail_row(
    table: str, col: str, values: pd.Series, bad: pd.Series, problem: str, fix: str, where: str = ""
) -> None:
    bad = bad.fillna(True).astype(bool)
    label = bad.index[np.flatnonzero(bad.to_numpy())[0]]
    n = int(bad.sum())
    more = f" ({n - 1} more row(s) fail this check)" if n > 1 else ""
    raise SchemaError(
        f"{table} row {label!r}{where}: column {col!r} {problem} (value {values.loc[label]!r}){more}; {fix}"
    )

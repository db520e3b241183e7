"""Loaders for files already in canonical form: :func:`read_parquet`, :func:`read_csv`."""

from __future__ import annotations

from typing import Any, Literal

import pandas as pd

from ...errors import RunesError, SchemaError
from .common import AmountRepr, resolve_repr, settle_lazy_repr
from .files import empty_combined
from .result import LoadResult
from .schema import TABLES, coerce

__all__ = ["read_csv", "read_parquet"]

Table = Literal["transfers", "runes"]


def _coerce_partition(
    df: pd.DataFrame,
    kind: Table,
    repr_: Literal["int64", "exact"],
    where: str,
    path_col: str | None = None,
    partition_info: dict[str, Any] | None = None,
) -> pd.DataFrame:
    number = (partition_info or {}).get("number", 0)
    if path_col is not None and len(df):
        where = str(df[path_col].iloc[0])
    return coerce(df, kind, repr_, f"{where} partition {number}")


def _check_kind(table: str) -> tuple[dict[str, str], str]:
    if table not in ("transfers", "runes"):
        raise RunesError(f"table must be 'transfers' or 'runes', got {table!r}")
    columns, (amount_col,) = TABLES[table]
    return columns, amount_col


def _load(ddf: Any, table: Table, amount_repr: AmountRepr, where: str, path_col: str | None) -> LoadResult:
    columns, amount_col = _check_kind(table)
    missing = [c for c in columns if c not in ddf.columns]
    if missing:
        raise SchemaError(
            f"{where}: a canonical {table} file needs columns {list(columns)}; missing {missing}"
        )
    resolve_repr(amount_repr)  # validates the value
    # an int64 column can only hold int64 amounts: no need to scan it for "auto"
    stored = ddf._meta[amount_col].dtype
    parse_as = "int64" if amount_repr == "int64" or (amount_repr == "auto" and stored == "int64") else "exact"
    keep = list(columns) + ([path_col] if path_col else [])
    combined = ddf[keep].map_partitions(
        _coerce_partition,
        table,
        parse_as,
        where,
        path_col,
        meta=empty_combined(columns, [amount_col], parse_as),
    )
    if parse_as == "exact":
        combined, parse_as = settle_lazy_repr(combined, [amount_col], amount_repr)
    return LoadResult.from_combined(combined, list(columns), table, parse_as)


def read_parquet(
    path: Any, table: Table = "transfers", *, amount_repr: AmountRepr = "auto", **kw: Any
) -> LoadResult:
    """Load Parquet files holding a canonical ``transfers`` or ``runes`` table.

    Parameters
    ----------
    path
        Anything :func:`dask.dataframe.read_parquet` accepts (a file, a
        directory, a glob, a list; local or any fsspec URL).
    table
        ``"transfers"`` or ``"runes"``: the canonical table the files hold.
    amount_repr
        ``"auto"`` (int64 when every amount fits, else exact Python ints; an
        ``amount`` / ``supply`` column stored as int64 is taken as is, any
        other stored type costs one pass over the data to decide),
        ``"int64"`` (raises at compute time on a value that does not fit) or
        ``"exact"``. Exact amounts are best stored as decimal strings or
        ``decimal128(38, 0)``: both read back exactly.
    **kw
        Passed to :func:`dask.dataframe.read_parquet`.

    Returns
    -------
    LoadResult
        Lazy ``table`` in canonical dtypes (extra columns dropped) and lazy
        ``bad_rows``; rows with a missing field, a bad rune id, an unknown
        operation, an unparseable amount or inconsistent sender/receiver are
        set aside there.

    Raises
    ------
    SchemaError
        When a canonical column is missing.
    """
    import dask.dataframe as dd

    ddf = dd.read_parquet(path, **kw)
    return _load(ddf, table, amount_repr, str(path), None)


def read_csv(
    path: Any, table: Table = "transfers", *, amount_repr: AmountRepr = "auto", **kw: Any
) -> LoadResult:
    """Load CSV files holding a canonical ``transfers`` or ``runes`` table.

    Every column is read as text and then parsed exactly: amounts never pass
    through a float, ``block_time`` may be ISO 8601 text or unix seconds, empty
    fields are nulls. The other parameters and the result are those of
    :func:`read_parquet`; ``**kw`` goes to :func:`dask.dataframe.read_csv`
    (``dtype``, ``na_values`` and ``include_path_column`` are set here).
    """
    import dask.dataframe as dd

    for k in ("dtype", "include_path_column"):
        if k in kw:
            raise RunesError(f"read_csv sets {k!r} itself; leave it out")
    kw.setdefault("keep_default_na", False)
    kw.setdefault("na_values", [""])
    path_col = "_mesh_path"
    ddf = dd.read_csv(path, dtype=object, include_path_column=path_col, **kw)
    return _load(ddf, table, amount_repr, str(path), path_col)

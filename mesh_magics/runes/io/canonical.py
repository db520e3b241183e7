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
    path: Any,
    table: Table = "transfers",
    *,
    amount_repr: AmountRepr = "auto",
    storage_options: dict[str, Any] | None = None,
) -> LoadResult:
    """Load Parquet files holding a canonical ``transfers`` or ``runes`` table.

    Parameters
    ----------
    path
        A file, a dataset directory (its data files; ``_metadata`` and hidden files are
        skipped), a glob, or a list of them; local or any fsspec URL.
    table
        ``"transfers"`` or ``"runes"``: the canonical table the files hold.
    amount_repr
        ``"auto"`` (int64 when every amount fits, else exact Python ints; an
        ``amount`` / ``supply`` column stored as int64 in every file is taken as is,
        any other stored type costs one pass over the data to decide),
        ``"int64"`` (raises at compute time on a value that does not fit) or
        ``"exact"``. Exact amounts are best stored as decimal strings or
        ``decimal256(39, 0)`` (``decimal128(38, 0)`` holds amounts below 10**38 only,
        not all of u128): they read back exactly.
    storage_options
        fsspec options for remote files.

    Returns
    -------
    LoadResult
        Lazy ``table`` in canonical dtypes (extra columns dropped), one partition per
        row group, and lazy ``bad_rows``; rows with a missing field, a bad rune id, an
        unknown operation, an unparseable amount or inconsistent sender/receiver are
        set aside there, and a row group whose pages cannot be decoded (a corrupt or
        cut file) is one bad row ``truncated`` naming the file, the row group and its
        row count (the other row groups load).

    Raises
    ------
    RunesError
        When nothing matches ``path``, or a file's footer cannot be read (not Parquet,
        empty, truncated): named, before anything is computed.
    SchemaError
        When a file lacks a canonical column (named with the file).
    """
    from .files import from_map
    from .parquet import parquet_partition, parquet_pieces

    columns, amount_col = _check_kind(table)
    resolve_repr(amount_repr)  # validates the value
    fs, pieces, amount_types = parquet_pieces(path, table, storage_options)
    # an int64 column can only hold int64 amounts: no need to scan it for "auto"
    stored_int64 = all(t == "int64" for t in amount_types)
    parse_as: Literal["int64", "exact"] = (
        "int64" if amount_repr == "int64" or (amount_repr == "auto" and stored_int64) else "exact"
    )
    meta = empty_combined(columns, [amount_col], parse_as)
    combined = from_map(parquet_partition, pieces, meta, label="read-parquet", args=(fs, table, parse_as))
    repr_: str = parse_as
    if parse_as == "exact":
        combined, repr_ = settle_lazy_repr(combined, [amount_col], amount_repr)
    return LoadResult.from_combined(combined, list(columns), table, repr_)


def _hint(block: Any, exc: BaseException) -> str:
    if isinstance(exc, UnicodeDecodeError):
        head = block.getvalue()[:4] if hasattr(block, "getvalue") else b""
        if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
            return "it is UTF-16 (it starts with a UTF-16 byte-order mark): pass encoding='utf-16', blocksize=None"
        return (
            f"it is not UTF-8 (byte {exc.object[exc.start]:#04x} at offset {exc.start} of a block): pass "
            "the file's encoding, e.g. encoding='latin-1', or re-encode it as UTF-8"
        )
    if isinstance(exc, pd.errors.EmptyDataError):
        return "the file is empty: a canonical CSV starts with its header row"
    return "check the quoting (an unclosed quote runs to the end of the file) and the delimiter"


def _checked_read_csv(*args: Any, **kwargs: Any) -> pd.DataFrame:
    """pandas.read_csv for dask's CSV reader: what pandas cannot parse is a RunesError."""
    try:
        return pd.read_csv(*args, **kwargs)
    except (UnicodeError, ValueError) as e:  # ParserError and EmptyDataError are ValueErrors
        raise RunesError(
            f"CSV input cannot be parsed ({type(e).__name__}: {str(e).strip()[:200]}); {_hint(args[0], e)}"
        ) from None


def read_csv(
    path: Any, table: Table = "transfers", *, amount_repr: AmountRepr = "auto", **kw: Any
) -> LoadResult:
    """Load CSV files holding a canonical ``transfers`` or ``runes`` table.

    Every column is read as text and then parsed exactly: amounts never pass
    through a float, ``block_time`` may be ISO 8601 text or unix seconds, empty
    fields are nulls; quoted fields may hold commas and newlines, extra columns are
    dropped. The other parameters and the result are those of :func:`read_parquet`;
    ``**kw`` goes to :func:`dask.dataframe.read_csv` (``dtype``, ``na_values`` and
    ``include_path_column`` are set here; ``encoding`` reads files that are not
    UTF-8).

    Raises
    ------
    RunesError
        When nothing matches ``path``, or a file cannot be parsed as CSV (empty, not
        in the given encoding, an unclosed quote): when the file's start is sampled
        at the call, or at compute time for a later block. The message says what to
        pass (``encoding='utf-16'``, ``encoding='latin-1'``) or check.
    SchemaError
        When a canonical column is missing.
    """
    from dask.dataframe.io.csv import make_reader

    from ...errors import MeshError

    for k in ("dtype", "include_path_column"):
        if k in kw:
            raise RunesError(f"read_csv sets {k!r} itself; leave it out")
    kw.setdefault("keep_default_na", False)
    kw.setdefault("na_values", [""])
    path_col = "_mesh_path"
    reader = make_reader(_checked_read_csv, "read_csv", "CSV")
    try:
        ddf = reader(path, dtype=object, include_path_column=path_col, **kw)
    except RunesError as e:  # the sample of the file's start did not parse: name the file
        raise RunesError(f"cannot read CSV {path}: {e}") from None
    except MeshError:
        raise
    except (OSError, ValueError, UnicodeError) as e:  # no file, an empty one, a sample that does not parse
        raise RunesError(f"cannot read CSV {path}: {str(e).strip().splitlines()[-1][:300]}") from None
    return _load(ddf, table, amount_repr, str(path), path_col)

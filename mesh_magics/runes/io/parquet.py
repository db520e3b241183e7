"""Parquet files read row group by row group, so a broken file is reported, not raised deep in dask.

:func:`parquet_pieces` reads every file's footer on the client (schema, row groups): a
file whose footer cannot be read (not Parquet, truncated, empty) is a
:class:`~mesh_magics.errors.RunesError` naming it, and a file without the canonical
columns a :class:`~mesh_magics.errors.SchemaError`, both before anything is computed.
:func:`parquet_partition` then reads one row group on a worker; a row group whose pages
cannot be decoded (corrupt or cut data) becomes ONE bad row ``truncated`` naming the
file, the row group and how many rows it held, and the other row groups load. A transfers
row group with no bad row is checked and typed in Arrow (:mod:`.arrow_check`); any other goes
through :func:`~.schema.coerce`, which names its bad rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple

import pandas as pd

from ...errors import RunesError, SchemaError
from .arrow_check import clean_transfers
from .common import BAD_FIELDS
from .schema import TABLES, TableKind, coerce

__all__ = ["Piece", "parquet_partition", "parquet_pieces"]


class Piece(NamedTuple):
    """One partition: a row group of a file (``row_group`` -1: a file without rows)."""

    path: str
    row_group: int
    rows: int


def _files(fs: Any, paths: Sequence[str]) -> list[str]:
    out: list[str] = []
    for p in paths:
        if not fs.exists(p):
            raise RunesError(f"no file {p}")
        if fs.isdir(p):  # a dataset directory: its data files, not _metadata or hidden ones
            found = sorted(fs.find(p))
            root = p.rstrip("/") + "/"
            out.extend(f for f in found if not any(s[:1] in "._" for s in f[len(root) :].split("/")))
        else:
            out.append(p)
    return out


def parquet_pieces(
    path: Any, kind: TableKind, storage_options: Mapping[str, Any] | None
) -> tuple[Any, list[Piece], list[str]]:
    """``(filesystem, pieces, arrow type of each file's amount column)`` of ``path``."""
    import pyarrow.parquet as pq
    from fsspec.core import get_fs_token_paths

    from .files import expand_paths

    columns, (amount_col,) = TABLES[kind]
    specs = expand_paths(path, storage_options)  # globs; RunesError when nothing matches
    fs, _, paths = get_fs_token_paths(specs, mode="rb", storage_options=dict(storage_options or {}))
    pieces: list[Piece] = []
    amount_types: list[str] = []
    for f in _files(fs, paths):
        try:
            with fs.open(f, "rb") as fh:
                meta = pq.ParquetFile(fh).metadata
                schema = meta.schema.to_arrow_schema()
        except Exception as e:  # pyarrow's errors are ArrowInvalid, OSError, ...: all mean "unreadable"
            raise RunesError(
                f"{f} is not a readable Parquet file ({type(e).__name__}: {str(e).splitlines()[0][:200]}). "
                "A truncated or partly copied file loses its footer, where Parquet keeps its schema: "
                "copy or export it again"
            ) from None
        missing = [c for c in columns if c not in schema.names]
        if missing:
            raise SchemaError(
                f"{f}: a canonical {kind} file needs columns {list(columns)}; missing {missing}"
            )
        amount_types.append(str(schema.field(amount_col).type))
        groups = [Piece(f, i, meta.row_group(i).num_rows) for i in range(meta.num_row_groups)]
        pieces.extend(groups or [Piece(f, -1, 0)])
    if not pieces:
        raise RunesError(f"no Parquet file in {path!r}")
    return fs, pieces, amount_types


def _unreadable(piece: Piece, where: str, columns: list[str], e: Exception) -> pd.DataFrame:
    """The one ``truncated`` bad row standing for a row group that cannot be read."""
    raw = pd.DataFrame({c: pd.Series([None], dtype=object) for c in columns})
    raw["_bad_source"] = where
    raw["_bad_reason"] = "truncated"
    raw["_bad_detail"] = (
        f"row group {piece.row_group} ({piece.rows} rows) of {piece.path} cannot be read "
        f"({type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}); the other row groups are kept"
    )
    raw["_bad_record"] = None
    return raw


def parquet_partition(
    piece: Piece, fs: Any, kind: TableKind, repr_: Literal["int64", "exact"]
) -> pd.DataFrame:
    """The combined frame of one row group (one ``truncated`` bad row if it cannot be read)."""
    import pyarrow.parquet as pq

    columns = list(TABLES[kind][0])
    where = f"{piece.path} row group {piece.row_group}"
    try:
        with fs.open(piece.path, "rb") as fh:
            pf = pq.ParquetFile(fh)
            if piece.row_group < 0:
                arrow = pf.schema_arrow.empty_table().select(columns)
            else:
                arrow = pf.read_row_group(piece.row_group, columns=columns)
    except Exception as e:  # corrupt pages, codecs, a file changed since its footer was read
        raw = _unreadable(piece, where, columns, e)
    else:
        clean = clean_transfers(arrow, repr_) if kind == "transfers" else None
        if clean is not None:  # no bad row: checked and typed in Arrow (arrow_check)
            return clean
        try:
            raw = arrow.to_pandas()
        except Exception as e:  # values pandas cannot hold (timestamps out of its range, ...)
            raw = _unreadable(piece, where, columns, e)
    for c in BAD_FIELDS:
        if c not in raw.columns:
            raw[c] = pd.Series(pd.NA, index=raw.index, dtype=object)
    return coerce(raw, kind, repr_, where)

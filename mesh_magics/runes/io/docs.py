"""Loading JSON documents into a table: files on the workers, records on the client."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

import pandas as pd

from .common import BadRow, resolve_repr, settle_lazy_repr, to_int64_partition
from .files import (
    empty_combined,
    expand_paths,
    from_map,
    from_pandas,
    split_inputs,
)
from .reader import read_documents
from .result import LoadResult
from .schema import TABLES, TableKind, bad_fields, coerce, raw_frame

__all__ = ["doc_rows", "in_memory_result", "load_documents"]

RowsFn = Callable[[str, Any], list[dict[str, Any]]]


def doc_rows(docs: Iterable[tuple[str, Any]], to_rows: RowsFn) -> list[dict[str, Any]]:
    """Raw rows of documents; a document that fails becomes one bad row."""
    rows: list[dict[str, Any]] = []
    for src, doc in docs:
        if isinstance(doc, BadRow):
            rows.append(bad_fields(src, doc, None))
            continue
        try:
            rows.extend(to_rows(src, doc))
        except BadRow as e:
            rows.append(bad_fields(src, e, doc))
    return rows


def _docs_partition(
    url: str,
    to_rows: RowsFn,
    kind: TableKind,
    repr_: Literal["int64", "exact"],
    storage_options: Mapping[str, Any] | None,
) -> pd.DataFrame:
    rows = doc_rows(read_documents(url, storage_options), to_rows)
    return coerce(raw_frame(rows, TABLES[kind][0]), kind, repr_, url)


def load_documents(
    inputs: Any,
    to_rows: RowsFn,
    kind: TableKind,
    amount_repr: str,
    storage_options: Mapping[str, Any] | None = None,
    label: str = "load-runes",
) -> LoadResult:
    """Load JSON documents (files on the workers, or in-memory on the client).

    ``to_rows(source, document)`` turns one parsed document into raw table rows
    (it may raise :class:`BadRow` to set the whole document aside). Files give
    one partition each; in-memory documents give one partition.
    """
    columns, amount_cols = TABLES[kind]
    resolve_repr(amount_repr)
    paths, docs = split_inputs(inputs)
    if paths:
        urls = expand_paths(paths, storage_options)
        meta = empty_combined(columns, amount_cols, "exact")
        combined = from_map(
            _docs_partition,
            urls,
            meta,
            label=label,
            args=(to_rows, kind, "exact", storage_options),
        )
        combined, repr_ = settle_lazy_repr(combined, amount_cols, amount_repr)
        return LoadResult.from_combined(combined, list(columns), kind, repr_)
    frame = coerce(raw_frame(doc_rows(docs, to_rows), columns), kind, "exact", "records")
    return in_memory_result(frame, columns, amount_cols, kind, amount_repr)


def in_memory_result(
    combined: pd.DataFrame,
    columns: Mapping[str, str],
    amount_cols: Sequence[str],
    kind: str,
    amount_repr: str,
) -> LoadResult:
    """A LoadResult of dask frames from a combined pandas frame parsed with exact amounts."""
    good = combined["_bad_reason"].isna()
    repr_ = resolve_repr(amount_repr, (v for c in amount_cols for v in combined.loc[good, c]))
    if repr_ == "int64":
        combined = to_int64_partition(combined, amount_cols)
    return LoadResult.from_combined(from_pandas(combined), list(columns), kind, repr_)

"""Reading loader input: paths and globs, JSON documents, and the dask collections made of them.

Files are read on the workers, one partition per file (:func:`from_map`);
in-memory documents become one partition on the client (:func:`from_pandas`).
Both keep exact amounts: dask's ``dataframe.convert-string`` is off while the
collection is made.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from os import PathLike, fspath
from typing import Any

import dask
import pandas as pd

from ...errors import RunesError
from ..tables import EXACT_AMOUNT_DTYPE
from .common import BAD_FIELDS
from .reader import parse_documents

__all__ = [
    "empty_combined",
    "expand_paths",
    "from_map",
    "from_pandas",
    "is_inline_json",
    "split_inputs",
]


# --------------------------------------------------------------------------- files


def is_inline_json(text: str) -> bool:
    return text.lstrip()[:1] in ("{", "[")


def expand_paths(spec: Any, storage_options: Mapping[str, Any] | None = None) -> list[str]:
    """Expand a path, a glob, or a list of them (any fsspec URL) into file URLs."""
    from fsspec.core import get_fs_token_paths

    specs = [spec] if isinstance(spec, (str, PathLike)) else list(spec)
    out: list[str] = []
    for s in specs:
        fs, _, paths = get_fs_token_paths(fspath(s), mode="rb", storage_options=dict(storage_options or {}))
        if not paths:
            raise RunesError(f"no file matches {fspath(s)!r}")
        out.extend(
            fs.unstrip_protocol(p) if fs.protocol not in ("file", ("file", "local")) else p for p in paths
        )
    return out


def split_inputs(items: Any) -> tuple[list[str], list[tuple[str, Any]]]:
    """Sort loader input into file paths and in-memory documents.

    Dicts, lists of dicts and JSON text are documents; other strings and
    path-likes are paths or globs. Mixing the two in one call is refused.
    """
    if isinstance(items, (str, PathLike, Mapping)):
        items = [items]
    paths: list[str] = []
    docs: list[tuple[str, Any]] = []
    for i, item in enumerate(items):
        src = f"records[{i}]"
        if isinstance(item, PathLike) or (isinstance(item, str) and not is_inline_json(item)):
            paths.append(fspath(item))
        elif isinstance(item, str):
            docs.extend(parse_documents(item, src))
        else:
            docs.append((src, item))
    if paths and docs:
        raise RunesError(
            "pass either file paths/globs or in-memory documents to one loader call, not both; "
            "load them separately and dd.concat the tables"
        )
    return paths, docs


# --------------------------------------------------------------------------- frames


def empty_combined(columns: Mapping[str, str], amount_cols: Sequence[str], repr_: str) -> pd.DataFrame:
    """A zero-row combined frame with the right dtypes (the meta of a lazy load)."""
    data: dict[str, pd.Series] = {}
    for c, dtype in columns.items():
        if c in amount_cols and repr_ == "exact":
            dtype = EXACT_AMOUNT_DTYPE
        data[c] = pd.Series([], dtype=dtype)
    for c in BAD_FIELDS:
        data[c] = pd.Series([], dtype="string")
    return pd.DataFrame(data)


def from_map(
    func: Callable[..., pd.DataFrame], urls: Sequence[Any], meta: pd.DataFrame, **kwargs: Any
) -> Any:
    """``dd.from_map`` over files, keeping object columns of Python ints as they are.

    dask's ``dataframe.convert-string`` would turn exact amounts (Python ints in
    an object column) into strings, so it is off while the collection is made;
    our string columns are already pandas ``string``.
    """
    import dask.dataframe as dd

    with dask.config.set({"dataframe.convert-string": False}):
        return dd.from_map(
            func, urls, meta=meta, enforce_metadata=False, label=kwargs.pop("label", None), **kwargs
        )


def from_pandas(frame: pd.DataFrame, npartitions: int = 1) -> Any:
    """``dd.from_pandas`` without the string conversion (see :func:`from_map`)."""
    import dask.dataframe as dd

    with dask.config.set({"dataframe.convert-string": False}):
        return dd.from_pandas(frame, npartitions=max(1, npartitions), sort=False)

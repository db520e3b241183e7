"""Shared machinery of the loaders: :class:`LoadResult`, bad rows, exact amounts, files.

Every loader parses its input into one *combined* pandas frame per partition:
the columns of the target table plus four private ``_bad_*`` columns. A row
whose ``_bad_reason`` is null is good; any other row is set aside. Splitting
that one frame into :attr:`LoadResult.table` and :attr:`LoadResult.bad_rows`
keeps both lazy while sharing the parse: computing them together (see
:meth:`LoadResult.compute`) reads every file once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from os import PathLike, fspath
from typing import Any, Literal

import dask
import numpy as np
import pandas as pd

from ..errors import RunesError, SchemaError
from .tables import EXACT_AMOUNT_DTYPE, INT64_MAX, U128_MAX

__all__ = [
    "BAD_ROWS_COLUMNS",
    "REASONS",
    "AmountRepr",
    "BadRow",
    "LoadResult",
]

AmountRepr = Literal["auto", "int64", "exact"]

#: columns of :attr:`LoadResult.bad_rows`, all strings
BAD_ROWS_COLUMNS: dict[str, str] = {
    "source": "string",  # where the row came from: "FILE:LINE", "FILE[i]", "records[i]", ...
    "reason": "string",  # one of REASONS
    "detail": "string",  # a sentence naming the offending value
    "record": "string",  # the input row as JSON text
}

#: every ``reason`` a bad row can carry
REASONS: dict[str, str] = {
    "bad-json": "the line or document is not JSON, or not of the expected shape",
    "missing-field": "a required field is absent or null",
    "bad-amount": "an amount is not an exact non-negative integer <= u128::MAX",
    "bad-rune-id": "a rune id is not BLOCK:TX with a non-zero block",
    "bad-txid": "a transaction id is not 64 hex digits",
    "bad-height": "a block height is not a non-negative integer",
    "bad-time": "a block time does not parse as a timestamp",
    "unknown-operation": "the operation is not one this format defines",
    "bad-parties": "sender/receiver do not fit the operation",
    "bad-divisibility": "divisibility is not an integer 0..38",
    "unknown-divisibility": "no divisibility is known for the rune of a scaled amount",
    "bad-name": "a rune name or spaced name does not parse",
    "bad-symbol": "a symbol is not a single character",
    "supply-overflow": "premine + mints x amount exceeds u128::MAX",
    "unpaired": "runehook rows of one transaction do not balance (receive vs send/mint/etching)",
    "bad-script": "an output script is missing or not hex",
}

_BAD = ("_bad_source", "_bad_reason", "_bad_detail", "_bad_record")
_DIGITS = re.compile(r"[0-9]{1,40}")
_SCALED = re.compile(r"([0-9]{1,40})(?:\.([0-9]{0,40}))?")


class BadRow(Exception):
    """Raised while parsing one record: the record is set aside, the load goes on."""

    def __init__(self, reason: str, detail: str) -> None:
        assert reason in REASONS, reason
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


# --------------------------------------------------------------------------- amounts


def parse_raw_amount(value: Any, what: str = "amount") -> int:
    """An exact raw amount (u128) from an int, a decimal string or an integral Decimal.

    Floats are refused: a float amount has already lost precision somewhere.
    """
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        raise BadRow("missing-field", f"{what} is missing")
    if isinstance(value, (bool, np.bool_)):
        raise BadRow("bad-amount", f"{what} {value!r} is a boolean, not an integer")
    if isinstance(value, (int, np.integer)):
        n = int(value)
    elif isinstance(value, str):
        text = value.strip()
        if not _DIGITS.fullmatch(text):
            raise BadRow("bad-amount", f"{what} {value!r} is not a non-negative decimal integer")
        n = int(text)
    elif isinstance(value, Decimal):
        if not value.is_finite() or value != value.to_integral_value():
            raise BadRow("bad-amount", f"{what} {value} is not an integer")
        n = int(value)
    elif isinstance(value, (float, np.floating)):
        raise BadRow(
            "bad-amount",
            f"{what} {value!r} is a float, which cannot hold u128 amounts exactly; "
            "export amounts as integers or decimal strings",
        )
    else:
        raise BadRow("bad-amount", f"{what} {value!r} ({type(value).__name__}) is not an integer")
    if not 0 <= n <= U128_MAX:
        raise BadRow("bad-amount", f"{what} {n} is outside 0..u128::MAX")
    return n


def split_scaled(value: Any, what: str = "amount") -> tuple[str, str]:
    """The whole and fractional digit strings of a display amount such as ``"12.50"``."""
    if value is None or value is pd.NA:
        raise BadRow("missing-field", f"{what} is missing")
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return str(int(value)), ""
    if isinstance(value, Decimal) and value.is_finite():
        value = format(value, "f")
    if not isinstance(value, str):
        raise BadRow(
            "bad-amount",
            f"{what} {value!r} ({type(value).__name__}) is not a decimal string; "
            "scaled amounts must be strings such as '12.50' (floats are not exact)",
        )
    m = _SCALED.fullmatch(value.strip())
    if m is None:
        raise BadRow("bad-amount", f"{what} {value!r} is not a non-negative decimal number")
    return m.group(1), m.group(2) or ""


def unscale(value: Any, divisibility: int, what: str = "amount") -> int:
    """Raw units of a display amount: ``unscale("0.00000001", 8) == 1``, exactly."""
    whole, frac = split_scaled(value, what)
    if len(frac) > divisibility:
        if frac[divisibility:].strip("0"):
            raise BadRow(
                "bad-amount",
                f"{what} {value!r} has more decimal places than the rune's divisibility {divisibility}",
            )
        frac = frac[:divisibility]
    n = int(whole) * 10**divisibility + int(frac.ljust(divisibility, "0") or "0")
    if n > U128_MAX:
        raise BadRow("bad-amount", f"{what} {value!r} is more than u128::MAX raw units")
    return n


def amounts_fit_int64(values: Iterable[Any]) -> bool:
    """Whether every non-null value fits int64."""
    return all(v is None or v <= INT64_MAX for v in values)


def amount_column(values: Sequence[int | None], repr_: Literal["int64", "exact"], where: str) -> pd.Series:
    """A column of exact amounts in the chosen representation (nulls become 0 / None).

    ``"int64"`` raises :class:`SchemaError` on a value that does not fit, never wraps.
    """
    if repr_ == "int64":
        big = next((v for v in values if v is not None and v > INT64_MAX), None)
        if big is not None:
            raise SchemaError(
                f"{where}: amount {big} does not fit int64; load with amount_repr='exact' "
                "(or 'auto') to keep u128 amounts exact"
            )
        return pd.Series([0 if v is None else v for v in values], dtype="int64")
    return pd.Series(list(values), dtype=EXACT_AMOUNT_DTYPE)


def resolve_repr(repr_: str, values: Iterable[Any] = ()) -> Literal["int64", "exact"]:
    """``"auto"`` becomes ``"int64"`` when every value fits, else ``"exact"``."""
    if repr_ not in ("auto", "int64", "exact"):
        raise RunesError(f"amount_repr must be 'auto', 'int64' or 'exact', got {repr_!r}")
    if repr_ == "auto":
        return "int64" if amounts_fit_int64(values) else "exact"
    return repr_  # type: ignore[return-value]


# --------------------------------------------------------------------------- records


def record_text(record: Any, limit: int = 4000) -> str:
    """The record as JSON text for :attr:`LoadResult.bad_rows` (cut at ``limit``)."""
    try:
        text = json.dumps(record, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(record)
    return text if len(text) <= limit else text[:limit] + "…"


def loads(text: str) -> Any:
    """``json.loads`` that keeps every number exact (big ints as int, decimals as Decimal)."""
    return json.loads(text, parse_float=Decimal)


def parse_documents(text: str, source: str) -> list[tuple[str, Any]]:
    """The documents of a JSON file or JSON-lines text, each with its source.

    A whole-file JSON value gives one document; otherwise each non-blank line
    is one. Lines that do not parse come back as :class:`BadRow` documents.
    """
    stripped = text.strip()
    if not stripped:
        return []
    try:
        return [(source, loads(stripped))]
    except ValueError:
        pass
    out: list[tuple[str, Any]] = []
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append((f"{source}:{i}", loads(line)))
        except ValueError as e:
            out.append((f"{source}:{i}", BadRow("bad-json", f"line is not JSON ({e}): {line[:200]!r}")))
    return out


def get(record: Mapping[str, Any], *path: str) -> Any:
    """``record[a][b]...`` or None when any step is missing."""
    cur: Any = record
    for key in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(key)
    return cur


def need(record: Mapping[str, Any], *path: str) -> Any:
    value = get(record, *path)
    if value is None:
        raise BadRow("missing-field", f"required field {'.'.join(path)!r} is missing")
    return value


def parse_height(value: Any, what: str = "block height") -> int:
    if isinstance(value, (bool, np.bool_)) or value is None:
        raise BadRow("missing-field" if value is None else "bad-height", f"{what} is {value!r}")
    try:
        if isinstance(value, str):
            n = int(value.strip()) if _DIGITS.fullmatch(value.strip()) else -1
        elif isinstance(value, (int, np.integer)):
            n = int(value)
        elif isinstance(value, (Decimal, float, np.floating)) and value == int(value):
            n = int(value)
        else:
            n = -1
    except (ValueError, OverflowError, InvalidOperation):
        n = -1
    if not 0 <= n <= INT64_MAX:
        raise BadRow("bad-height", f"{what} {value!r} is not a non-negative integer")
    return n


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


def read_text(url: str, storage_options: Mapping[str, Any] | None = None) -> str:
    """The text of one (possibly compressed, possibly remote) file."""
    import fsspec

    with fsspec.open(url, "rt", compression="infer", encoding="utf-8", **dict(storage_options or {})) as f:
        return f.read()


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
    for c in _BAD:
        data[c] = pd.Series([], dtype="string")
    return pd.DataFrame(data)


def from_map(func: Callable[..., pd.DataFrame], urls: list[str], meta: pd.DataFrame, **kwargs: Any) -> Any:
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


def _fits_partition(df: pd.DataFrame, cols: Sequence[str]) -> pd.Series:
    ok = all(amounts_fit_int64(v for v in df[c] if v is not None) for c in cols)
    return pd.Series([ok], dtype=bool)


def _to_int64_partition(df: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    df = df.copy()
    for c in cols:
        df[c] = amount_column(list(df[c]), "int64", f"column {c!r}").to_numpy()
    return df


def settle_lazy_repr(combined: Any, amount_cols: Sequence[str], repr_: str) -> tuple[Any, str]:
    """Settle ``"auto"`` for a lazy combined frame parsed with exact amounts.

    ``"auto"`` computes, on the workers, whether every amount fits int64 (one
    pass over the input); ``"int64"`` converts lazily and raises at compute
    time on a value that does not fit; ``"exact"`` leaves Python ints.
    """
    if repr_ == "auto":
        flags = combined.map_partitions(_fits_partition, list(amount_cols), meta=pd.Series([], dtype=bool))
        repr_ = "int64" if bool(flags.compute().all()) else "exact"
    if repr_ == "int64":
        meta = combined._meta.copy()
        for c in amount_cols:
            meta[c] = meta[c].astype("int64")
        combined = combined.map_partitions(_to_int64_partition, list(amount_cols), meta=meta)
    return combined, repr_


# --------------------------------------------------------------------------- result


def _table_part(df: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    return df.loc[df["_bad_reason"].isna(), list(cols)].reset_index(drop=True)


def _bad_part(df: pd.DataFrame) -> pd.DataFrame:
    out = df.loc[df["_bad_reason"].notna(), list(_BAD)].reset_index(drop=True)
    out.columns = list(BAD_ROWS_COLUMNS)
    return out


@dataclass(frozen=True)
class LoadResult:
    """What every loader returns: the loaded table and the rows it set aside.

    Attributes
    ----------
    table
        The loaded table: a dask DataFrame (a pandas one for
        :func:`~mesh_magics.runes.loaders.bitcoin_etl_frame` and after
        :meth:`compute`), with the canonical columns and dtypes.
    bad_rows
        The input rows that could not be loaded, in the same family as
        ``table``, with string columns ``source`` (file and line, or
        ``records[i]``), ``reason`` (a key of :data:`REASONS`), ``detail`` (a
        sentence naming the offending value) and ``record`` (the input row as
        JSON text). A bad row never stops a load.
    kind
        ``"transfers"``, ``"runes"``, ``"balances"`` or ``"etl"``.
    amount_repr
        ``"int64"`` when every amount (``amount``, or ``supply`` for runes)
        fits int64, ``"exact"`` when they are Python ints in an ``object``
        column; ``None`` for tables without amounts.

    ``table`` and ``bad_rows`` come from one parse: ``result.compute()`` (or
    ``dask.compute(result.table, result.bad_rows)``) reads the input once.
    """

    table: Any
    bad_rows: Any
    kind: str
    amount_repr: str | None = None

    @classmethod
    def from_combined(
        cls, combined: Any, columns: Sequence[str], kind: str, amount_repr: str | None
    ) -> LoadResult:
        """Split a combined frame (pandas or dask) into table and bad rows."""
        cols = list(columns)
        if isinstance(combined, pd.DataFrame):
            table = _table_part(combined, cols)
            if amount_repr is not None:
                table.attrs["amount_repr"] = amount_repr
            return cls(table, _bad_part(combined), kind, amount_repr)
        table_meta = _table_part(combined._meta, cols)
        bad_meta = _bad_part(combined._meta)
        table = combined.map_partitions(_table_part, cols, meta=table_meta)
        bad = combined.map_partitions(_bad_part, meta=bad_meta)
        return cls(table, bad, kind, amount_repr)

    @property
    def is_lazy(self) -> bool:
        """Whether ``table`` and ``bad_rows`` are dask collections."""
        return dask.is_dask_collection(self.table)

    def compute(self, **kwargs: Any) -> LoadResult:
        """Both frames as pandas, computed together (the input is parsed once)."""
        if not self.is_lazy:
            return self
        table, bad = dask.compute(self.table, self.bad_rows, **kwargs)
        if self.amount_repr is not None:
            table.attrs["amount_repr"] = self.amount_repr
        return replace(self, table=table, bad_rows=bad)

    def counts(self) -> dict[str, int]:
        """Number of bad rows per reason (computes ``bad_rows`` when lazy)."""
        bad = self.bad_rows.compute() if dask.is_dask_collection(self.bad_rows) else self.bad_rows
        return {str(k): int(v) for k, v in bad["reason"].value_counts().sort_index().items()}

    def __repr__(self) -> str:
        how = "lazy" if self.is_lazy else f"{len(self.table)} rows, {len(self.bad_rows)} bad"
        return f"<LoadResult {self.kind}: {how}, amount_repr={self.amount_repr!r}>"

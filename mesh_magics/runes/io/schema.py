"""Coercion of loaded rows into the canonical tables, with bad rows set aside.

:func:`coerce` takes one pandas partition of *raw* rows (any dtypes: strings
from CSV, Python ints from JSON, int64 or decimals from Parquet) and returns
the combined frame of :mod:`.common`: canonical dtypes, plus ``_bad_*``
columns that say which rows failed and why. It works column by column, in
Arrow and numpy: a text column (a string dtype, or object holding only str) is
trimmed and tested in Arrow with the exact whitespace of ``str.strip``; only
distinct rune ids / names, amounts in non-integer dtypes, columns of mixed
Python values and the bad rows themselves go through Python.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from ...errors import RuneNameError, SchemaError
from ..protocol.names import format_rune_id, format_spaced_rune, parse_rune_id, parse_spaced_rune
from ..tables import RUNES_COLUMNS, TRANSFERS_COLUMNS
from .common import BAD_FIELDS, BadRow, amount_column, parse_raw_amount, record_text
from .text import bad_text, is_utf8, null, strings

__all__ = [
    "BALANCES_COLUMNS",
    "TABLES",
    "TableKind",
    "bad_fields",
    "canonical_rune_id",
    "coerce",
    "raw_frame",
]

#: the tables the loaders produce through :func:`coerce`
TableKind = Literal["transfers", "runes", "balances"]

#: the snapshot table of :func:`~mesh_magics.runes.io.from_ord_outputs`
BALANCES_COLUMNS: dict[str, str] = {
    "outpoint": "string",
    "address": "string",
    "rune": "string",
    "amount": "int64",
}

#: table kind -> (columns, amount columns)
TABLES: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    "transfers": (TRANSFERS_COLUMNS, ("amount",)),
    "runes": (RUNES_COLUMNS, ("supply",)),
    "balances": (BALANCES_COLUMNS, ("amount",)),
}

MAX_DIVISIBILITY = 38


def bad_fields(source: str, err: BadRow, record: Any) -> dict[str, Any]:
    """The ``_bad_*`` entries of a raw row for a record that failed to parse."""
    return dict(zip(BAD_FIELDS, (source, err.reason, err.detail, record_text(record))))


class _Checks:
    """Accumulates the first failing reason of every row."""

    def __init__(self, df: pd.DataFrame) -> None:
        self.df = df
        self.reason = df["_bad_reason"].astype(object).where(df["_bad_reason"].notna(), None)
        self.detail = df["_bad_detail"].astype(object).where(df["_bad_detail"].notna(), None)

    @property
    def ok(self) -> pd.Series:
        return self.reason.isna()

    def fail(
        self,
        mask: pd.Series | np.ndarray,
        reason: str,
        detail: Callable[[Any], str] | pd.Series,
        col: str,
    ) -> None:
        """Mark rows of ``mask`` that are still good as bad for ``reason``.

        ``detail`` is a function of the row's ``col`` value, or a Series of messages.
        """
        mask = pd.Series(np.asarray(mask, dtype=bool), index=self.df.index) & self.ok
        if mask.any():
            self.reason[mask] = reason
            if isinstance(detail, pd.Series):
                self.detail[mask] = detail[mask].astype(str).tolist()
            else:
                self.detail[mask] = [detail(v) for v in self.df.loc[mask, col]]


def _not_text(c: _Checks, cols: Sequence[str]) -> dict[str, pd.Series]:
    """Rows whose text UTF-8 cannot carry (a lone surrogate in a dict given in memory) are
    ``bad-encoding``, their cell emptied (Arrow-backed string columns refuse them); returns
    the columns as they were, for the bad rows' records."""
    originals: dict[str, pd.Series] = {}
    for col in cols:
        s = c.df[col]
        if s.dtype != object:
            continue
        bad = s.map(lambda v: isinstance(v, str) and not is_utf8(v)).astype(bool)
        if bad.any():
            why = s.map(lambda v, col=col: f"{col} {v!r} is not Unicode text (a lone surrogate)")
            c.fail(bad, "bad-encoding", why, col)
            originals[col] = s.copy()
            c.df.loc[bad, col] = None
    return originals


def _per_unique(s: pd.Series, fn: Callable[[Any], Any]) -> tuple[pd.Series, pd.Series]:
    """Apply ``fn`` once per distinct non-null value; (results, error messages), None where
    the value was null or had no result / no error."""
    codes, uniques = pd.factorize(s)
    results = np.full(len(uniques) + 1, None, dtype=object)  # the last slot: code -1 (null)
    errors = np.full(len(uniques) + 1, None, dtype=object)
    for i, v in enumerate(uniques):
        try:
            results[i] = fn(v)
        except (RuneNameError, BadRow, ValueError, TypeError) as e:
            errors[i] = str(e)
    return (pd.Series(results[codes], index=s.index, dtype=object),
            pd.Series(errors[codes], index=s.index, dtype=object))  # fmt: skip


def canonical_rune_id(text: Any) -> str:
    """``BLOCK:TX`` normalised (no leading zeros); raises RuneNameError, block 0 included."""
    block, tx = parse_rune_id(str(text).strip())
    if block == 0:
        raise RuneNameError(
            f"rune id {text!r} has block 0, which no etching has; use BLOCK:TX of the etching"
        )
    return format_rune_id(block, tx)


def _spaced(text: Any) -> str:
    return format_spaced_rune(*parse_spaced_rune(str(text).strip()))


def _check_rune_id(c: _Checks, col: str = "rune_id") -> pd.Series:
    s = c.df[col]
    missing = null(s)
    c.fail(missing, "missing-field", lambda v: f"{col} is missing", col)
    ids, errs = _per_unique(s.where(~missing), canonical_rune_id)
    c.fail(errs.notna(), "bad-rune-id", errs, col)
    return ids


def _heights(c: _Checks, col: str) -> pd.Series:
    s = c.df[col]
    if pd.api.types.is_integer_dtype(s.dtype) and not s.hasnans and isinstance(s.dtype, np.dtype):
        c.fail(
            (s < 0) | (s > 2**63 - 1),
            "bad-height",
            lambda v: f"{col} {v!r} is not a non-negative integer",
            col,
        )
        return s.where(c.ok, 0).astype("int64")
    missing = null(s)
    c.fail(missing, "missing-field", lambda v: f"{col} is missing", col)
    num = pd.to_numeric(s.astype(object).where(~missing, None), errors="coerce")
    bad = num.isna() | (num < 0) | (num != np.floor(num)) | (num > 2**63 - 1)
    c.fail(bad, "bad-height", lambda v: f"{col} {v!r} is not a non-negative integer", col)
    return num.where(c.ok, 0).astype("int64")


def _times(c: _Checks, col: str) -> pd.Series:
    s = c.df[col]
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        out = s.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(s.dtype):
        out = s.dt.tz_localize("UTC")  # naive timestamps are taken as UTC
    else:
        obj = s.astype(object).where(~null(s), None)
        num = pd.to_numeric(obj, errors="coerce")
        out = pd.to_datetime(num, unit="s", utc=True, errors="coerce")
        text = obj.where(num.isna(), None).dropna()
        if len(text):
            out.loc[text.index] = pd.to_datetime(
                text.astype(str), utc=True, errors="coerce", format="ISO8601"
            )
    c.fail(null(s), "missing-field", lambda v: f"{col} is missing", col)
    c.fail(out.isna(), "bad-time", lambda v: f"{col} {v!r} is not a timestamp", col)
    return out.astype("datetime64[ns, UTC]")


def _amounts(c: _Checks, col: str) -> list[int | None]:
    s = c.df[col]
    if pd.api.types.is_integer_dtype(s.dtype) and not s.hasnans:
        vals: list[int | None] = s.astype(object).tolist() if s.dtype == np.uint64 else s.tolist()
        c.fail(s < 0, "bad-amount", lambda v: f"{col} {v} is negative", col)
    else:
        vals = []
        ok = c.ok.to_numpy()
        for pos, v in enumerate(s.astype(object)):
            try:
                vals.append(parse_raw_amount(v, col))
            except BadRow as e:
                vals.append(None)
                if ok[pos]:
                    c.reason.iat[pos] = e.reason
                    c.detail.iat[pos] = e.detail
    ok = c.ok.to_numpy()
    return [v if k else None for v, k in zip(vals, ok)]


def _sources(df: pd.DataFrame, source: str, bad: pd.Series) -> pd.Series:
    """Where each bad row came from (given, or ``SOURCE row N``); None for good rows."""
    given = df["_bad_source"].astype(object)
    out = pd.Series(None, index=df.index, dtype=object)
    rows = np.flatnonzero(bad.to_numpy())
    out.iloc[rows] = [v if pd.notna(v) else f"{source} row {i}" for i, v in zip(rows, given.iloc[rows])]
    return out


def _records(df: pd.DataFrame, cols: list[str], mask: pd.Series) -> pd.Series:
    rec = df["_bad_record"].astype(object).copy()
    need = mask & rec.isna()
    if need.any():
        rec[need] = [
            record_text({k: (None if pd.isna(v) else v) for k, v in r.items()})
            for r in df.loc[need, cols].astype(object).to_dict("records")
        ]
    return rec


def coerce(
    raw: pd.DataFrame,
    kind: TableKind,
    repr_: Literal["int64", "exact"],
    source: str = "input",
) -> pd.DataFrame:
    """Type and check one partition of raw rows; return the combined frame.

    ``raw`` must hold every column of the table (extra columns are dropped);
    ``_bad_*`` columns are optional and mark rows already found bad.
    Raises :class:`SchemaError` only for a missing column, or an amount that
    does not fit int64 when ``repr_`` is ``"int64"``.
    """
    columns, (amount_col,) = TABLES[kind]
    missing = [c for c in columns if c not in raw.columns]
    if missing:
        raise SchemaError(f"{source}: the {kind} table needs columns {list(columns)}; missing {missing}")
    df = raw.reset_index(drop=True)
    for b in BAD_FIELDS:
        if b not in df.columns:
            df[b] = pd.Series(pd.NA, index=df.index, dtype=object)
    c = _Checks(df)
    originals = _not_text(c, [col for col, dtype in columns.items() if dtype == "string"])
    out: dict[str, Any] = {}
    if kind == "transfers":
        out["block_height"] = _heights(c, "block_height")
        out["block_time"] = _times(c, "block_time")
        out["txid"] = strings(df["txid"])  # null where the raw value is: missing
        c.fail(out["txid"].isna(), "missing-field", lambda v: "txid is missing", "txid")
        hex64 = out["txid"].str.fullmatch(r"[0-9a-fA-F]{64}").fillna(False).astype(bool)
        c.fail(~hex64, "bad-txid", lambda v: f"txid {v!r} is not 64 hex digits", "txid")
        out["rune_id"] = _check_rune_id(c)
        op = strings(df["operation"])
        c.fail(op.isna(), "missing-field", lambda v: "operation is missing", "operation")
        known = op.isin(["etching", "mint", "send", "burn"]).fillna(False)
        c.fail(
            ~known,
            "unknown-operation",
            lambda v: f"operation {v!r} is not etching/mint/send/burn",
            "operation",
        )
        out["operation"] = op
        amounts = _amounts(c, "amount")
        sender, receiver = strings(df["sender"]), strings(df["receiver"])
        has_s, has_r = sender.notna(), receiver.notna()
        wrong = (
            (op.isin(["etching", "mint"]) & has_s)
            | ((op == "burn") & has_r)
            | ((op == "send") & ~(has_s & has_r))
        ).fillna(False)
        c.fail(
            wrong,
            "bad-parties",
            lambda v: f"a {v} row needs sender null for etching/mint, receiver null for burn, both for send",
            "operation",
        )
        out["sender"], out["receiver"] = sender, receiver
    elif kind == "runes":
        out["rune_id"] = _check_rune_id(c)
        missing = null(df["name"])
        c.fail(missing, "missing-field", lambda v: "name is missing", "name")
        names, errs = _per_unique(df["name"].where(~missing), _spaced)
        c.fail(errs.notna(), "bad-name", errs, "name")
        out["name"] = names
        c.fail(
            null(df["divisibility"]),
            "missing-field",
            lambda v: "divisibility is missing",
            "divisibility",
        )
        div = pd.to_numeric(df["divisibility"].astype(object), errors="coerce")
        c.fail(
            div.isna() | (div != np.floor(div)) | (div < 0) | (div > MAX_DIVISIBILITY),
            "bad-divisibility",
            lambda v: f"divisibility {v!r} is not an integer 0..38",
            "divisibility",
        )
        out["divisibility"] = div.where(c.ok, 0).astype("int64")
        amounts = _amounts(c, "supply")
        sym = df["symbol"].astype(object).map(lambda v: v if isinstance(v, str) and v else None)
        sym = sym.astype("string")
        c.fail(
            sym.str.len().fillna(1) != 1,
            "bad-symbol",
            lambda v: f"symbol {v!r} is not one character",
            "symbol",
        )
        out["symbol"] = sym
    else:  # balances
        out["outpoint"] = strings(df["outpoint"])  # null where the raw value is: missing
        c.fail(out["outpoint"].isna(), "missing-field", lambda v: "outpoint is missing", "outpoint")
        out["address"] = strings(df["address"])
        missing = null(df["rune"])
        c.fail(missing, "missing-field", lambda v: "rune is missing", "rune")
        names, errs = _per_unique(df["rune"].where(~missing), _spaced)
        c.fail(errs.notna(), "bad-name", errs, "rune")
        out["rune"] = names
        amounts = _amounts(c, "amount")
    ok = c.ok
    table: dict[str, Any] = {}
    for col, dtype in columns.items():
        if col == amount_col:
            table[col] = amount_column(amounts, repr_, source)
        elif dtype == "string":
            table[col] = out[col].astype("string").where(ok.to_numpy(), pd.NA).reset_index(drop=True)
        else:
            table[col] = out[col].reset_index(drop=True)
    frame = pd.DataFrame(table)
    bad = ~ok
    frame["_bad_source"] = bad_text(_sources(df, source, bad))
    frame["_bad_reason"] = bad_text(c.reason)
    frame["_bad_detail"] = bad_text(c.detail)
    records = _records(df.assign(**originals) if originals else df, list(columns), bad)
    frame["_bad_record"] = bad_text(records.where(bad, None))
    return frame


def raw_frame(rows: Sequence[Mapping[str, Any]], columns: Mapping[str, str]) -> pd.DataFrame:
    """Raw rows (dicts) as an all-object frame with every table and ``_bad_*`` column."""
    cols = [*columns, *BAD_FIELDS]
    if not rows:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in cols})
    return pd.DataFrame({c: pd.Series([r.get(c) for r in rows], dtype=object) for c in cols})

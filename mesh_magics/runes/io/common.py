"""Shared vocabulary of the loaders: bad rows and their reasons, exact amounts, record fields.

Every loader parses its input into one *combined* pandas frame per partition:
the columns of the target table plus four private ``_bad_*`` columns
(:data:`BAD_FIELDS`). A row whose ``_bad_reason`` is null is good; any other
row is set aside (see :class:`~mesh_magics.runes.io.result.LoadResult`).
Raw amounts go through the one amount parser of the canonical tables
(:func:`mesh_magics.runes.tables.amounts.parse_amount`); a value it refuses
becomes a :class:`BadRow`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import numpy as np
import pandas as pd

from ...errors import RunesError, SchemaError
from ..tables import EXACT_AMOUNT_DTYPE, INT64_MAX, U128_MAX
from ..tables.amounts import AmountError, parse_amount

__all__ = [
    "BAD_FIELDS",
    "BAD_ROWS_COLUMNS",
    "REASONS",
    "AmountRepr",
    "BadRow",
    "amount_column",
    "amounts_fit_int64",
    "get",
    "need",
    "parse_height",
    "parse_raw_amount",
    "record_text",
    "resolve_repr",
    "settle_lazy_repr",
    "split_scaled",
    "to_int64_partition",
    "unscale",
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
    "bad-json": "the line or document is not strict JSON (NaN, a key twice, too deep), or not of the expected shape",
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
    "rpc-error": "a JSON-RPC envelope carries an error instead of a result",
    "bad-encoding": "a line or document is not UTF-8 (nor UTF-16/32 opened by a byte-order mark)",
    "too-large": "a line or document is longer than MAX_DOCUMENT_BYTES (64 MiB); skipped, not read",
    "truncated": "the file breaks off (truncated or corrupt compressed data); rows before it are kept",
}

#: the private columns of a combined frame that mark a bad row
BAD_FIELDS = ("_bad_source", "_bad_reason", "_bad_detail", "_bad_record")
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
    """An exact raw amount (u128), read by the tables' one amount parser.

    :func:`~mesh_magics.runes.tables.amounts.parse_amount` accepts ints,
    text of ASCII digits and integral Decimals; floats are refused (a float
    amount has already lost precision somewhere). A refusal is a
    :class:`BadRow`: ``missing-field`` for a null, ``bad-amount`` otherwise.
    """
    try:
        return parse_amount(value, what)
    except AmountError as e:
        raise BadRow("missing-field" if e.kind == "missing" else "bad-amount", str(e)) from None


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
    return "int64" if repr_ == "int64" else "exact"


def _fits_partition(df: pd.DataFrame, cols: Sequence[str]) -> pd.Series:
    ok = all(amounts_fit_int64(v for v in df[c] if v is not None) for c in cols)
    return pd.Series([ok], dtype=bool)


def to_int64_partition(df: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
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
        combined = combined.map_partitions(to_int64_partition, list(amount_cols), meta=meta)
    return combined, repr_


# --------------------------------------------------------------------------- records


def record_text(record: Any, limit: int = 4000) -> str:
    """The record as JSON text for :attr:`LoadResult.bad_rows` (cut at ``limit``)."""
    try:
        text = json.dumps(record, default=str, ensure_ascii=False)
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: escaped, so the text stays exact and storable
        text = json.dumps(record, default=str, ensure_ascii=True)
    except (TypeError, ValueError):
        text = repr(record)
    return text if len(text) <= limit else text[:limit] + "…"


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

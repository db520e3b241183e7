"""A clean Parquet row group checked in Arrow, before it becomes pandas.

:func:`clean_transfers` is the fast path of :func:`~mesh_magics.runes.io.parquet.parquet_partition`
for the transfers table: it checks one Arrow table column by column with
:mod:`pyarrow.compute` and numpy, and returns the combined frame only when **every row
passes every check of** :func:`~mesh_magics.runes.io.schema.coerce` **unchanged** (nothing
to trim, no id to normalise, no bad row). Anything else (a flaw in any row, a type it does
not know, amounts kept exact) returns None and the caller runs ``coerce``, which finds and
names the bad rows as before. So this module never decides what a bad row is; it only
recognises input that has none, and builds the same frame ``coerce`` would (a test compares
the two on clean and hostile tables).

What "unchanged" means here, column by column:

* ``block_height``: an integer type, no nulls, 0 ≤ h ≤ 2**63 - 1.
* ``block_time``: a timestamp type (naive is taken as UTC), no nulls, that casts to
  nanoseconds without overflow.
* ``txid``: text, no nulls, exactly 64 hex digits (so nothing to trim).
* ``rune_id``: text, no nulls, every distinct value already canonical (``BLOCK:TX``, no
  leading zeros, block > 0, in range): checked once per distinct value.
* ``operation``: text, one of etching / mint / send / burn.
* ``sender`` / ``receiver``: text; each present value non-empty with no whitespace (of
  ``str.isspace``'s 29 characters) at either end; nulls where the operation says
  (etching/mint: no sender; burn: no receiver; send: both).
* ``amount``: int64, no nulls, ≥ 0, the table read as int64.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from ..tables import OPERATIONS, TRANSFERS_COLUMNS
from .common import BAD_FIELDS
from .text import SPACE

__all__ = ["clean_transfers"]

#: byte -> is an ASCII hex digit
_HEX = np.zeros(256, dtype=bool)
_HEX[np.frombuffer(b"0123456789abcdefABCDEF", dtype=np.uint8)] = True


def _text(col: Any) -> bool:
    import pyarrow as pa

    return pa.types.is_string(col.type) or pa.types.is_large_string(col.type)


def _heights(col: Any) -> np.ndarray | None:
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_integer(col.type) or col.null_count:
        return None
    if len(col):
        lo, hi = pc.min_max(col).values()
        if lo.as_py() < 0 or hi.as_py() > 2**63 - 1:
            return None
    return np.asarray(col.cast(pa.int64()), dtype=np.int64)


def _times(col: Any) -> pd.Series | None:
    import pyarrow as pa

    if not pa.types.is_timestamp(col.type) or col.null_count:
        return None
    try:  # same instants: a naive timestamp is taken as UTC, as coerce does
        ns = col.cast(pa.timestamp("ns", tz="UTC"))
    except (pa.ArrowInvalid, OverflowError):  # outside datetime64[ns]: coerce names the rows
        return None
    return ns.to_pandas()


def _hex64(col: Any) -> bool:
    import pyarrow as pa
    import pyarrow.compute as pc

    if not _text(col) or col.null_count:
        return False
    if len(col):
        lengths = pc.min_max(pc.binary_length(col))
        if (lengths["min"].as_py(), lengths["max"].as_py()) != (64, 64):
            return False
    for chunk in col.chunks:  # every value is 64 bytes: the chunk's values are one run of bytes
        if not len(chunk):
            continue
        _, offsets, data = chunk.buffers()
        width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        off = np.frombuffer(offsets, dtype=width)[chunk.offset : chunk.offset + len(chunk) + 1]
        raw = np.frombuffer(data, dtype=np.uint8)[int(off[0]) : int(off[-1])]
        if not _HEX[raw].all():
            return False
    return True


def _canonical_ids(col: Any) -> bool:
    """Every distinct id is canonical: ASCII digits, no leading zeros, block 1..2**64-1,
    tx 0..2**32-1 (what :func:`canonical_rune_id` returns unchanged)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not _text(col) or col.null_count:
        return False
    ids = pc.unique(col)
    if not len(ids):
        return True
    if not pc.all(pc.match_substring_regex(ids, r"^[1-9][0-9]{0,19}:(0|[1-9][0-9]{0,9})$")).as_py():
        return False
    parts = pc.split_pattern(ids, ":")
    try:  # a value past u64 / u32 fails the safe cast
        pc.cast(pc.list_element(parts, 0), pa.uint64())
        pc.cast(pc.list_element(parts, 1), pa.uint32())
    except (pa.ArrowInvalid, OverflowError):
        return False
    return True


def _untrimmed(col: Any) -> bool:
    """Every present value is non-empty with nothing for ``str.strip`` to remove."""
    import pyarrow.compute as pc

    if not _text(col):
        return False
    present = col.drop_null()
    if not len(present):
        return True
    lengths = pc.binary_length(present)
    if pc.min(lengths).as_py() == 0:
        return False
    trimmed = pc.binary_length(pc.utf8_trim(present, characters=SPACE))
    return bool(pc.all(pc.equal(lengths, trimmed)).as_py())


def _string(col: Any) -> pd.Series:
    import pyarrow as pa

    dtype = pd.StringDtype()
    if getattr(dtype, "storage", None) == "pyarrow":
        return pd.Series(pd.arrays.ArrowStringArray(col.cast(pa.large_string())))
    return pd.Series(col.to_pandas(), dtype="string")  # pandas with Python-backed strings


def clean_transfers(table: Any, repr_: Literal["int64", "exact"]) -> pd.DataFrame | None:
    """The combined frame of a transfers row group with no bad row, or None (use ``coerce``).
    ``table`` holds the file's columns as read (no ``_bad_*`` columns: nothing is marked bad yet)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if repr_ != "int64" or any(c not in table.column_names for c in TRANSFERS_COLUMNS):
        return None
    amount = table.column("amount")
    if amount.type != pa.int64() or amount.null_count:
        return None
    if len(amount) and pc.min(amount).as_py() < 0:
        return None
    heights = _heights(table.column("block_height"))
    if heights is None:
        return None
    times = _times(table.column("block_time"))
    if times is None:
        return None
    if not _hex64(table.column("txid")) or not _canonical_ids(table.column("rune_id")):
        return None
    op = table.column("operation")
    if not _text(op) or op.null_count or not pc.all(pc.is_in(op, pa.array(OPERATIONS))).as_py():
        return None
    sender, receiver = table.column("sender"), table.column("receiver")
    if not _untrimmed(sender) or not _untrimmed(receiver):
        return None
    has_s, has_r = pc.is_valid(sender), pc.is_valid(receiver)
    minting = pc.is_in(op, pa.array(["etching", "mint"]))
    wrong = pc.or_(
        pc.or_(pc.and_(minting, has_s), pc.and_(pc.equal(op, "burn"), has_r)),
        pc.and_(pc.equal(op, "send"), pc.invert(pc.and_(has_s, has_r))),
    )
    if len(op) and pc.any(wrong).as_py():
        return None
    frame = pd.DataFrame(
        {
            "block_height": heights,
            "block_time": times,
            "txid": _string(table.column("txid")),
            "rune_id": _string(table.column("rune_id")),
            "operation": _string(op),
            "sender": _string(sender),
            "receiver": _string(receiver),
            "amount": np.asarray(amount, dtype=np.int64),
        }
    )
    for b in BAD_FIELDS:
        frame[b] = pd.Series(pd.NA, index=frame.index, dtype="string")
    return frame

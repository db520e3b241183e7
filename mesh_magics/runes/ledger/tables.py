"""The ledger's result tables, built from rows, and :class:`LedgerResult`.

=============  ==========================================================================
table          columns (one row per ...)
=============  ==========================================================================
``runes``      rune: :data:`RUNES_LEDGER_COLUMNS` (the canonical ``rune_id, name,
               divisibility, supply, symbol`` first), ordered by rune id
``balances``   unspent outpoint and rune with a non-zero amount: ``txid, vout, rune_id,
               amount, address``, ordered by where the outpoint was created, then rune id
``transfers``  movement of units: the canonical transfers columns (whale-suite.md), ordered
               by block, transaction, rune id; see :mod:`.flows` for the sender attribution
``events``     ord's index events: ``block_height, block_time, tx_index, txid, event
               (etched | minted | transferred | burned), rune_id, amount, vout, address``
=============  ==========================================================================

Amounts (``supply``, ``premine``, ``burned``, ``terms_amount``, ``terms_cap``, transfer,
balance and event amounts) are exact: each column is ``int64`` (``Int64`` where it has
nulls) when every value fits, else Python ints in an ``object`` column;
``attrs["amount_repr"]`` of each frame says which its amount column (``supply`` for
``runes``) uses, as :func:`mesh_magics.runes.tables.amount_repr` reads it. Term heights and
offsets are u64 and follow the same rule. ``timestamp`` and ``block_time`` are UTC.
``etched`` events carry the premine as their amount; ``transferred`` events the output
(``vout``) and its address.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..protocol.names import format_spaced_rune, rune_name
from ..tables import EXACT_AMOUNT_DTYPE, INT64_MAX, TRANSFERS_COLUMNS
from .rules import RuneEntry

__all__ = [
    "BALANCES_COLUMNS",
    "EVENTS_COLUMNS",
    "RUNES_LEDGER_COLUMNS",
    "LedgerResult",
    "balances_columns",
    "balances_frame",
    "EVENT_NAMES",
    "events_columns",
    "events_frame",
    "exact_column",
    "merge_parts",
    "runes_frame",
    "transfers_columns",
    "transfers_frame",
]

RUNES_LEDGER_COLUMNS = [
    "rune_id", "name", "divisibility", "supply", "symbol", "rune", "premine", "mints", "burned", "number",
    "etching_txid", "block", "timestamp", "turbo", "terms_amount", "terms_cap", "terms_height_start",
    "terms_height_end", "terms_offset_start", "terms_offset_end",
]  # fmt: skip
BALANCES_COLUMNS = ["txid", "vout", "rune_id", "amount", "address"]
EVENTS_COLUMNS = [
    "block_height",
    "block_time",
    "tx_index",
    "txid",
    "event",
    "rune_id",
    "amount",
    "vout",
    "address",
]
_EVENT_ORDER = {"minted": 0, "etched": 1, "transferred": 2, "burned": 3}


def exact_column(values: Any, repr_: str = "auto") -> Any:
    """An exact integer column: ``int64`` / ``Int64`` when every value fits and ``repr_`` is
    ``"auto"`` or ``"int64"``, else an ``object`` array of Python ints (None for nulls).
    ``values``: a sequence of ints and Nones, or an ``int64`` array (which fits)."""
    if isinstance(values, np.ndarray):
        if repr_ == "exact":
            return pd.array(values.tolist(), dtype=EXACT_AMOUNT_DTYPE)
        return pd.array(values, dtype="int64")
    fits = all(v is None or v <= INT64_MAX for v in values)
    if repr_ == "exact" or not fits:
        out = pd.array(list(values), dtype=EXACT_AMOUNT_DTYPE)
        return out
    if any(v is None for v in values):
        return pd.array(list(values), dtype="Int64")
    return pd.array(list(values), dtype="int64")


def _repr_of(column: Any) -> str:
    return "exact" if str(column.dtype) == EXACT_AMOUNT_DTYPE else "int64"


def _utc(seconds: Any) -> Any:
    values = seconds if isinstance(seconds, np.ndarray) else list(seconds)
    return pd.to_datetime(pd.array(values, dtype="int64"), unit="s", utc=True).astype("datetime64[ns, UTC]")


def _str(values: Iterable[Any]) -> Any:
    """A ``string`` column of Python strings and Nones, or of an Arrow string array."""
    if isinstance(values, pa.Array | pa.ChunkedArray | np.ndarray):
        return pd.array(values, dtype="string")
    return pd.array(list(values), dtype="string")


def runes_frame(entries: Iterable[RuneEntry]) -> pd.DataFrame:
    """The ``runes`` table of rune entries (ordered by rune id)."""
    es = sorted(entries, key=lambda e: e.id)
    terms = [e.terms for e in es]
    amount = [t.amount if t else None for t in terms]
    supply = [e.premine + e.mints * (t.amount or 0 if t else 0) for e, t in zip(es, terms)]
    df = pd.DataFrame(
        {
            "rune_id": _str(f"{e.block}:{e.tx}" for e in es),
            "name": _str(format_spaced_rune(e.rune, e.spacers) for e in es),
            "divisibility": pd.array([e.divisibility for e in es], dtype="int64"),
            "supply": exact_column(supply),
            "symbol": _str(e.symbol for e in es),
            "rune": _str(rune_name(e.rune) for e in es),
            "premine": exact_column([e.premine for e in es]),
            "mints": exact_column([e.mints for e in es]),
            "burned": exact_column([e.burned for e in es]),
            "number": pd.array([e.number for e in es], dtype="int64"),
            "etching_txid": _str(e.etching for e in es),
            "block": pd.array([e.block for e in es], dtype="int64"),
            "timestamp": _utc([e.timestamp for e in es]),
            "turbo": pd.array([e.turbo for e in es], dtype="bool"),
            "terms_amount": exact_column(amount),
            "terms_cap": exact_column([t.cap if t else None for t in terms]),
            "terms_height_start": exact_column([t.height[0] if t else None for t in terms]),
            "terms_height_end": exact_column([t.height[1] if t else None for t in terms]),
            "terms_offset_start": exact_column([t.offset[0] if t else None for t in terms]),
            "terms_offset_end": exact_column([t.offset[1] if t else None for t in terms]),
        }
    )
    df.attrs["amount_repr"] = _repr_of(df["supply"])
    return df


def _columns(rows: Sequence[tuple[Any, ...]], n: int) -> list[list[Any]]:
    return [list(map(itemgetter(i), rows)) for i in range(n)]


def _take(column: Any, order: np.ndarray | None) -> Any:
    """``column`` (a list, a numpy or an Arrow array) in ``order`` (None: as it is)."""
    if order is None:
        return column
    if isinstance(column, np.ndarray):
        return column[order]
    if isinstance(column, pa.Array | pa.ChunkedArray):
        return column.take(pa.array(order))
    return [column[k] for k in order.tolist()]


def _ordered(keys: tuple[np.ndarray, ...]) -> np.ndarray | None:
    """``np.lexsort(keys)`` (the last key primary), or None where the rows are in that
    order already (the ledgers emit them so: checked in one pass per key, no sort)."""
    tied = np.ones(max(len(keys[0]) - 1, 0), bool)
    for key in reversed(keys):
        step = np.diff(key)
        if (tied & (step < 0)).any():
            return np.lexsort(keys)
        tied &= step == 0
    return None


def _ids(block: np.ndarray, tx: np.ndarray) -> Any:
    """``BLOCK:TX`` strings, in Arrow's kernels."""
    text = pc.binary_join_element_wise(pa.array(block).cast(pa.string()), pa.array(tx).cast(pa.string()), ":")
    return pd.array(text, dtype="string") if len(block) else pd.array([], dtype="string")


def _times(heights: np.ndarray, block_times: dict[int, int]) -> Any:
    unique, inverse = np.unique(heights, return_inverse=True)
    seconds = np.array([block_times[h] for h in unique.tolist()], dtype=np.int64)[inverse]
    return _utc(seconds)


def balances_frame(rows: Sequence[tuple[Any, ...]], repr_: str = "auto") -> pd.DataFrame:
    """``rows``: ``(height, tx_index, vout, txid, rune block, rune tx, amount, address)``."""
    h, t, v, txid, b, x, amount, address = _columns(list(rows), 8)
    h_, t_, v_, b_, x_ = (np.array(c, dtype=np.int64) for c in (h, t, v, b, x))
    return balances_columns(h_, t_, v_, txid, b_, x_, amount, address, repr_)


def balances_columns(
    h: np.ndarray, t: np.ndarray, v: np.ndarray, txid: Any, b: np.ndarray, x: np.ndarray, amount: Any,
    address: Any, repr_: str = "auto",
) -> pd.DataFrame:  # fmt: skip
    """:func:`balances_frame` of columns: ``int64`` arrays for the keys, lists or numpy
    arrays (object) for the strings, a list of ints for the amounts."""
    order = np.lexsort((x, b, v, t, h))
    df = pd.DataFrame(
        {
            "txid": _str(_take(txid, order)),
            "vout": pd.array(v[order], dtype="int64"),
            "rune_id": _ids(b[order], x[order]),
            "amount": exact_column(_take(amount, order), repr_),
            "address": _str(_take(address, order)),
        }
    )
    df.attrs["amount_repr"] = _repr_of(df["amount"])
    return df


def transfers_frame(
    rows: Sequence[tuple[Any, ...]], block_times: dict[int, int], repr_: str = "auto", keys: bool = False
) -> pd.DataFrame:
    """``rows``: ``(height, tx_index, txid, rune block, rune tx, operation, sender, receiver, amount)``
    in ledger order (kept: the sort is stable on block, transaction and rune id). ``keys``:
    keep the sort keys as columns ``_t``, ``_b``, ``_x`` (for :func:`merge_parts`)."""
    h, t, txid, b, x, op, sender, receiver, amount = _columns(rows, 9)
    h_, t_, b_, x_ = (np.array(c, dtype=np.int64) for c in (h, t, b, x))
    return transfers_columns(h_, t_, txid, b_, x_, op, sender, receiver, amount, block_times, repr_, keys)


def transfers_columns(
    h: np.ndarray, t: np.ndarray, txid: Any, b: np.ndarray, x: np.ndarray, op: Any, sender: Any, receiver: Any,
    amount: Any, block_times: dict[int, int], repr_: str = "auto", keys: bool = False,
) -> pd.DataFrame:  # fmt: skip
    """:func:`transfers_frame` of columns: ``int64`` arrays for the keys, lists or Arrow
    arrays for the strings, an ``int64`` array or a list of ints for the amounts."""
    order = _ordered((x, b, t, h))
    h_, b_, x_ = _take(h, order), _take(b, order), _take(x, order)
    df = pd.DataFrame(
        {
            "block_height": pd.array(h_, dtype="int64"),
            "block_time": _times(h_, block_times),
            "txid": _str(_take(txid, order)),
            "rune_id": _ids(b_, x_),
            "operation": _str(_take(op, order)),
            "sender": _str(_take(sender, order)),
            "receiver": _str(_take(receiver, order)),
            "amount": exact_column(_take(amount, order), repr_),
        }
    )
    assert list(df.columns) == list(TRANSFERS_COLUMNS)
    if keys:
        df["_t"], df["_b"], df["_x"] = _take(t, order), b_, x_
    df.attrs["amount_repr"] = _repr_of(df["amount"])
    return df


def events_frame(
    rows: Sequence[tuple[Any, ...]], block_times: dict[int, int], repr_: str = "auto", keys: bool = False
) -> pd.DataFrame:
    """``rows``: ``(height, tx_index, txid, event, rune block, rune tx, amount, vout, address)``.
    ``keys``: keep the sort keys as columns ``_k``, ``_v``, ``_b``, ``_x``."""
    h, t, txid, ev, b, x, amount, vout, address = _columns(rows, 9)
    kind = np.array([_EVENT_ORDER[e] for e in ev], dtype=np.int64)
    vouts = np.array([-1 if o is None else o for o in vout], dtype=np.int64)
    h_, t_, b_, x_ = (np.array(c, dtype=np.int64) for c in (h, t, b, x))
    return events_columns(h_, t_, txid, kind, b_, x_, amount, vouts, address, block_times, repr_, keys)


#: event names by kind (the order events of one transaction and rune sort in)
EVENT_NAMES = np.array(sorted(_EVENT_ORDER, key=_EVENT_ORDER.__getitem__), dtype=object)


def events_columns(
    h: np.ndarray, t: np.ndarray, txid: Any, kind: np.ndarray, b: np.ndarray, x: np.ndarray, amount: Any,
    vout: np.ndarray, address: Any, block_times: dict[int, int], repr_: str = "auto", keys: bool = False,
) -> pd.DataFrame:  # fmt: skip
    """:func:`events_frame` of columns: ``kind`` the event's code (:data:`EVENT_NAMES`),
    ``vout`` -1 for none; the rest as :func:`transfers_columns` takes them."""
    order = _ordered((x, b, vout, kind, t, h))
    h_, kind_, vout_ = _take(h, order), _take(kind, order), _take(vout, order)
    df = pd.DataFrame(
        {
            "block_height": pd.array(h_, dtype="int64"),
            "block_time": _times(h_, block_times),
            "tx_index": pd.array(_take(t, order), dtype="int64"),
            "txid": _str(_take(txid, order)),
            "event": _str(EVENT_NAMES[kind_]),
            "rune_id": _ids(_take(b, order), _take(x, order)),
            "amount": exact_column(_take(amount, order), repr_),
            "vout": pd.arrays.IntegerArray(np.maximum(vout_, 0), vout_ < 0),
            "address": _str(_take(address, order)),
        }
    )
    if keys:
        df["_k"], df["_v"], df["_b"], df["_x"] = kind_, vout_, _take(b, order), _take(x, order)
    df.attrs["amount_repr"] = _repr_of(df["amount"])
    return df


def merge_parts(parts: Sequence[pd.DataFrame], by: list[str], repr_: str) -> pd.DataFrame:
    """Frames built with ``keys=True`` as one, in order (stable on ``by``, then the hidden
    keys), the keys dropped and the amounts in ``repr_`` (``int64``: every part's fit, or
    ``exact``: Python ints)."""
    hidden = [c for c in parts[0].columns if c.startswith("_")]
    if repr_ == "exact":  # parts whose amounts all fit came as int64: exact like the rest
        parts = [
            p if str(p["amount"].dtype) == EXACT_AMOUNT_DTYPE
            else p.assign(amount=pd.array([int(a) for a in p["amount"]], dtype=EXACT_AMOUNT_DTYPE))
            for p in parts
        ]  # fmt: skip
    df = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    rank = {"_t": 1, "_k": 2, "_v": 3, "_b": 4, "_x": 5}
    keys = by + sorted(hidden, key=rank.__getitem__)
    # the keys are int64 columns: one stable lexsort, not pandas' factorizing multi-column sort
    order = _ordered(tuple(df[c].to_numpy() for c in reversed(keys)))
    df = df.drop(columns=hidden)
    df = (df if order is None else df.take(order)).reset_index(drop=True)
    if repr_ == "int64" and str(df["amount"].dtype) == EXACT_AMOUNT_DTYPE:
        df["amount"] = exact_column(df["amount"].tolist(), "int64")
    df.attrs["amount_repr"] = _repr_of(df["amount"])
    return df


@dataclass
class LedgerResult:
    """What a ledger run gives: the four tables (see the module doc), the network, the
    last block indexed, and (from :func:`~.mesh.index_chain`) the state a later call
    continues from. Tables are pandas from :func:`~.blocks.index_blocks`; from
    ``index_chain`` ``runes`` is pandas and the others are dask DataFrames."""

    runes: Any
    balances: Any
    transfers: Any
    events: Any
    network: str
    height: int | None
    state: Any = None

    def compute(self) -> LedgerResult:
        """The same result with every table in memory (pandas)."""
        balances, transfers, events = (
            t.compute() if hasattr(t, "npartitions") else t
            for t in (self.balances, self.transfers, self.events)
        )
        return LedgerResult(self.runes, balances, transfers, events, self.network, self.height, self.state)

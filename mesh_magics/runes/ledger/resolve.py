"""Names for the replay's positions, on the worker that holds the range's text.

:func:`range_frames` turns one :class:`~.replay.ReplayOut` into the result tables' frames
(txids, heights, addresses instead of local positions; the transfers steps summed per
transaction, rune, operation, sender and receiver exactly as the reference does, see
:mod:`.flows`), off the replay's critical path; :func:`name_new` names the range's new
live outpoints: the rune-bearing outputs it left unspent, each
with its txid, prefix and address, so the next range can match spends on them and name
their senders. :func:`merge_live` folds them into the partition's live set, on the worker
that keeps it (live sets never travel between workers, only what a range adds or spends).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .gcpause import paused_gc
from .prepare import Text
from .replay import LIVE_COLUMNS, ReplayOut
from .tables import INT64_MAX, events_columns, events_frame, transfers_columns, transfers_frame

__all__ = ["Framed", "merge_live", "name_new", "range_frames"]

RuneId = tuple[int, int]


class Framed:
    """One range and rune partition's transfers and events frames (with their sort keys,
    amounts int64 where they all fit, for :func:`~.tables.merge_parts`), whether they fit,
    and the units the replay burned per rune."""

    __slots__ = ("burned", "events", "events_fit", "transfers", "transfers_fit")

    def __init__(
        self, transfers: pd.DataFrame, events: pd.DataFrame, transfers_fit: bool, events_fit: bool,
        burned: dict[RuneId, int] | None = None,
    ) -> None:  # fmt: skip
        self.transfers, self.events = transfers, events
        self.transfers_fit, self.events_fit = transfers_fit, events_fit
        self.burned = burned or {}


@paused_gc
def name_new(new: list[tuple[int, int, int, tuple[tuple[RuneId, int], ...]]], text: Text) -> pd.DataFrame:
    """The range's new live outpoints (:attr:`~.replay.ReplayOut.new`) with their height,
    index, txid, prefix and address: what the next range needs, on the replay's critical path."""
    if not new:
        return pd.DataFrame({c: pd.Series([], dtype="int64" if c in ("height", "tx_index", "vout", "pfx") else object)
                             for c in LIVE_COLUMNS})  # fmt: skip
    t_, vout, row_, held = zip(*new)
    t, row = np.array(t_, dtype=np.int64), np.array(row_, dtype=np.int64)
    return pd.DataFrame(
        {
            "height": text.height[t].astype(np.int64),
            "tx_index": text.tx_index[t].astype(np.int64),
            "vout": np.array(vout, dtype=np.int64),
            "pfx": text.pfx[t].astype(np.int64),
            "txid": pd.Series(text.txid.take(pa.array(t)).to_numpy(zero_copy_only=False), dtype=object),
            "address": pd.Series(
                text.address.take(pa.array(row)).to_numpy(zero_copy_only=False), dtype=object
            ),
            "balances": pd.Series(list(held), dtype=object),
        },
        columns=LIVE_COLUMNS,
    )


def _labels(labels: np.ndarray, text: Text, carried_address: np.ndarray) -> pa.Array:
    """The addresses of replay labels (module doc of :mod:`.replay`): output rows of the
    range from its text, spent live outpoints from :attr:`~.replay.ReplayOut.carried`, None for -1."""
    rows = labels >= 0
    named = text.address.take(pa.array(np.where(rows, labels, 0), mask=~rows))
    carried = labels <= -2
    if not carried.any():
        return named
    values = carried_address[np.where(carried, -2 - labels, 0)]
    values[~carried] = None
    from_live = pa.array(values, type=named.type, from_pandas=True)
    return pc.if_else(pa.array(carried), from_live, named)


def _ints(values: Any) -> np.ndarray:
    """Labels (ints, None for none) as an int64 array, None as -1."""
    return np.fromiter((-1 if v is None else v for v in values), np.int64, len(values))


def _amounts(values: Any) -> tuple[Any, bool]:
    """Amounts as an int64 array where they all fit (and whether they do), else a list of ints."""
    fits = not values or max(values) <= INT64_MAX
    return (np.array(values, dtype=np.int64) if fits else list(values)), fits


@paused_gc
def range_frames(out: ReplayOut, text: Text) -> Framed:
    """The transfers and events of one replay, named from the range's text and, for the
    carried outpoints it spent, the addresses the replay kept (``out.carried``); off the
    replay's critical path. Columnar: the replay's rows become arrays once, names are
    Arrow takes."""
    height, tx_index = text.height, text.tx_index
    if out.steps:
        t_, b_, x_, op_, snd_, rcv_, amt_ = zip(*out.steps)
        t, b, x = (np.array(c, dtype=np.int64) for c in (t_, b_, x_))
        op, snd, rcv, amt = np.array(op_, dtype=object), _ints(snd_), _ints(rcv_), list(amt_)
        order = _by_tx(t)
        if order is not None:
            t, b, x, op, snd, rcv = (c[order] for c in (t, b, x, op, snd, rcv))
            amt = [amt[i] for i in order.tolist()]
        sender, receiver = _labels(snd, text, out.carried), _labels(rcv, text, out.carried)
        keep, amounts = _summed(t, b, x, op, sender, receiver, amt)
        if keep is not None:
            t, b, x, op = t[keep], b[keep], x[keep], op[keep]
            sender, receiver = (c.take(pa.array(keep)) for c in (sender, receiver))
        amount, t_fit = _amounts(amounts)
        transfers = transfers_columns(height[t], tx_index[t], text.txid.take(pa.array(t)), b, x, op, sender,
                                      receiver, amount, text.times, "auto", keys=True)  # fmt: skip
    else:
        transfers, t_fit = transfers_frame([], text.times, "auto", keys=True), True
    if out.events:
        et_, kind_, eb_, ex_, eamt_, vout_, row_ = zip(*out.events)
        et, kind, eb, ex, vout, row = (
            np.array(c, dtype=np.int64) for c in (et_, kind_, eb_, ex_, vout_, row_)
        )
        order = _by_tx(et)
        if order is not None:
            et, kind, eb, ex, vout, row = (c[order] for c in (et, kind, eb, ex, vout, row))
            eamt_ = tuple(eamt_[i] for i in order.tolist())
        eamount, e_fit = _amounts(eamt_)
        address = text.address.take(pa.array(np.maximum(row, 0), mask=row < 0))
        events = events_columns(height[et], tx_index[et], text.txid.take(pa.array(et)), kind, eb, ex, eamount, vout,
                                address, text.times, "auto", keys=True)  # fmt: skip
    else:
        events, e_fit = events_frame([], text.times, "auto", keys=True), True
    return Framed(transfers, events, t_fit, e_fit)


def _by_tx(t: np.ndarray) -> np.ndarray | None:
    """A stable order of rows by transaction, None where they are in it: the loop's rows
    come in transaction order and the plain mints' (:class:`~.replay.ReplayOut`) after
    them; in one order the frames' own sort finds nothing to do and takes no strings."""
    if len(t) < 2 or bool((t[1:] >= t[:-1]).all()):
        return None
    return np.argsort(t, kind="stable")


def _summed(
    t: np.ndarray, b: np.ndarray, x: np.ndarray, op: np.ndarray, sender: pa.Array, receiver: pa.Array,
    amounts: list[int],
) -> tuple[np.ndarray | None, list[int]]:  # fmt: skip
    """The steps of one (transaction, rune) summed per (operation, sender, receiver) *names*
    in order of first appearance, as :func:`~.flows.aggregate` does for the reference: the
    rows kept (None: all) and their amounts. Only (transaction, rune) groups of more than
    one step are looked at, in Python; the steps of a group are consecutive."""
    n = len(t)
    new = np.ones(n, bool)
    new[1:] = (t[1:] != t[:-1]) | (b[1:] != b[:-1]) | (x[1:] != x[:-1])
    starts = np.flatnonzero(new)
    sizes = np.diff(np.append(starts, n))
    multi = np.flatnonzero(sizes > 1)
    if not len(multi):
        return None, amounts
    rows = np.concatenate([np.arange(starts[g], starts[g] + sizes[g]) for g in multi.tolist()])
    pick = pa.array(rows)
    names = zip(op[rows].tolist(), sender.take(pick).to_pylist(), receiver.take(pick).to_pylist())
    keep = np.ones(n, bool)
    group = np.repeat(multi, sizes[multi]).tolist()
    first: dict[tuple[Any, ...], int] = {}
    for i, g, key in zip(rows.tolist(), group, names):
        j = first.setdefault((g, *key), i)
        if j != i:
            amounts[j] += amounts[i]
            keep[i] = False
    kept = np.flatnonzero(keep)
    return kept, [amounts[i] for i in kept.tolist()]


@paused_gc
def merge_live(live: pd.DataFrame, spent: np.ndarray, new: pd.DataFrame) -> pd.DataFrame:
    """The next live set: ``live`` without the rows the range spent, plus the range's new
    rune-bearing outputs (runs where the partition's live set is kept)."""
    kept = live.drop(index=live.index[spent]) if len(spent) else live
    if new.empty:
        return kept.reset_index(drop=True)
    return pd.concat([kept, new], ignore_index=True) if len(kept) else new

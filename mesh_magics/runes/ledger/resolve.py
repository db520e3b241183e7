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

from .flows import aggregate
from .gcpause import paused_gc
from .prepare import Text
from .replay import LIVE_COLUMNS, Ref, ReplayOut
from .tables import INT64_MAX, events_frame, transfers_frame

__all__ = ["Framed", "merge_live", "name_new", "range_frames"]

RuneId = tuple[int, int]


class Framed:
    """One range and rune partition's transfers and events frames (with their sort keys,
    amounts int64 where they all fit, for :func:`~.tables.merge_parts`), and whether they fit."""

    __slots__ = ("events", "events_fit", "transfers", "transfers_fit")

    def __init__(
        self, transfers: pd.DataFrame, events: pd.DataFrame, transfers_fit: bool, events_fit: bool
    ) -> None:
        self.transfers, self.events = transfers, events
        self.transfers_fit, self.events_fit = transfers_fit, events_fit


def _namer(text: Text, rows: set[int], txs: set[int]) -> tuple[dict[int, Any], dict[int, str]]:
    """Addresses of output rows and txids of transactions, taken in one Arrow call each."""
    r, t = sorted(rows), sorted(txs)
    names = dict(zip(r, text.address.take(pa.array(r, pa.int64())).to_pylist())) if r else {}
    txids = dict(zip(t, text.txid.take(pa.array(t, pa.int64())).to_pylist())) if t else {}
    return names, txids


@paused_gc
def name_new(new: list[tuple[int, int, int, tuple[tuple[RuneId, int], ...]]], text: Text) -> pd.DataFrame:
    """The range's new live outpoints (:attr:`~.replay.ReplayOut.new`) with their height,
    index, txid, prefix and address: what the next range needs, on the replay's critical path."""
    names, txids = _namer(text, {n[2] for n in new}, {n[0] for n in new})
    height, tx_index, pfx = text.height, text.tx_index, text.pfx
    return pd.DataFrame(
        {
            "height": np.array([height[n[0]] for n in new], dtype=np.int64),
            "tx_index": np.array([tx_index[n[0]] for n in new], dtype=np.int64),
            "vout": np.array([n[1] for n in new], dtype=np.int64),
            "pfx": np.array([pfx[n[0]] for n in new], dtype=np.int64),
            "txid": pd.Series([txids[n[0]] for n in new], dtype=object),
            "address": pd.Series([names[n[2]] for n in new], dtype=object),
            "balances": pd.Series([n[3] for n in new], dtype=object),
        },
        columns=LIVE_COLUMNS,
    )


@paused_gc
def range_frames(out: ReplayOut, text: Text) -> Framed:
    """The transfers and events of one replay, named from the range's text (module doc);
    off the replay's critical path."""
    names, txids = _namer(
        text,
        {int(x) for s in out.steps for x in s[4:6] if isinstance(x, Ref)}
        | {e[6] for e in out.events if e[6] >= 0},
        {s[0] for s in out.steps} | {e[0] for e in out.events},
    )

    def name(label: Any) -> Any:
        return names[int(label)] if isinstance(label, Ref) else label

    height, tx_index = text.height.tolist(), text.tx_index.tolist()
    transfers: list[tuple[Any, ...]] = []
    steps = out.steps
    i, n = 0, len(steps)
    while i < n:  # the steps of one (transaction, rune) are consecutive: name them, then sum them
        t, b, x = steps[i][:3]
        j = i + 1
        while j < n and steps[j][0] == t and steps[j][1] == b and steps[j][2] == x:
            j += 1
        head = (height[t], tx_index[t], txids[t], b, x)
        group = [(s[3], name(s[4]), name(s[5]), s[6]) for s in steps[i:j]]
        transfers.extend(head + row for row in (group if j == i + 1 else aggregate(group)))
        i = j
    events = [
        (height[t], tx_index[t], txids[t], ev, b, x, amount, None if vout < 0 else vout,
         names[row] if row >= 0 else None)
        for t, ev, b, x, amount, vout, row in out.events
    ]  # fmt: skip
    return Framed(
        transfers_frame(transfers, text.times, "auto", keys=True),
        events_frame(events, text.times, "auto", keys=True),
        all(r[-1] <= INT64_MAX for r in transfers),
        all(r[6] <= INT64_MAX for r in events),
    )


@paused_gc
def merge_live(live: pd.DataFrame, spent: np.ndarray, new: pd.DataFrame) -> pd.DataFrame:
    """The next live set: ``live`` without the rows the range spent, plus the range's new
    rune-bearing outputs (runs where the partition's live set is kept)."""
    kept = live.drop(index=live.index[spent]) if len(spent) else live
    if new.empty:
        return kept.reset_index(drop=True)
    return pd.concat([kept, new], ignore_index=True) if len(kept) else new

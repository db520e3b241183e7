"""Names for the replay's positions, on the worker that holds the range's text.

:func:`resolve_range` turns one :class:`~.replay.ReplayOut` into rows of the result tables
(txids, heights, addresses instead of local positions; the transfers steps summed per
transaction, rune, operation, sender and receiver exactly as the reference does, see
:mod:`.flows`) and into the range's new live outpoints: the rune-bearing outputs it left unspent, each
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

__all__ = ["Resolved", "merge_live", "part_frames", "resolve_range"]


class Resolved:
    """One range and rune partition: its transfers and events rows (tuples, see
    :mod:`.tables`), the range's block times, and its new live outpoints, named
    (:data:`~.replay.LIVE_COLUMNS`). `part_frames` turns the rows into frames."""

    __slots__ = ("events", "events_fit", "new", "times", "transfers", "transfers_fit")

    def __init__(
        self, transfers: list[tuple[Any, ...]], events: list[tuple[Any, ...]], new: pd.DataFrame,
        times: dict[int, int],
    ) -> None:  # fmt: skip
        self.transfers_fit = all(r[-1] <= INT64_MAX for r in transfers)
        self.events_fit = all(r[6] <= INT64_MAX for r in events)
        self.transfers, self.events, self.new, self.times = transfers, events, new, times


@paused_gc
def part_frames(res: Resolved) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The transfers and events frames of one :class:`Resolved`, with their sort keys and
    exact amounts, for :func:`~.tables.merge_parts` (off the replay's critical path)."""
    return (
        transfers_frame(res.transfers, res.times, "exact", keys=True),
        events_frame(res.events, res.times, "exact", keys=True),
    )


@paused_gc
def resolve_range(out: ReplayOut, text: Text) -> Resolved:
    """Rows and new live outpoints of one replay, named from the range's text (module doc)."""
    refs = sorted({int(x) for s in out.steps for x in s[4:6] if isinstance(x, Ref)} |
                  {e[6] for e in out.events if e[6] >= 0} | {n[2] for n in out.new})  # fmt: skip
    names = dict(zip(refs, text.address.take(pa.array(refs, pa.int64())).to_pylist())) if refs else {}
    ts = sorted({s[0] for s in out.steps} | {e[0] for e in out.events} | {n[0] for n in out.new})
    txids = dict(zip(ts, text.txid.take(pa.array(ts, pa.int64())).to_pylist())) if ts else {}
    txid = txids.__getitem__

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
        head = (height[t], tx_index[t], txid(t), b, x)
        group = [(s[3], name(s[4]), name(s[5]), s[6]) for s in steps[i:j]]
        transfers.extend(head + row for row in (group if j == i + 1 else aggregate(group)))
        i = j
    events = [
        (height[t], tx_index[t], txid(t), ev, b, x, amount, None if vout < 0 else vout,
         names[row] if row >= 0 else None)
        for t, ev, b, x, amount, vout, row in out.events
    ]  # fmt: skip
    new = pd.DataFrame(
        {
            "height": np.array([height[n[0]] for n in out.new], dtype=np.int64),
            "tx_index": np.array([tx_index[n[0]] for n in out.new], dtype=np.int64),
            "vout": np.array([n[1] for n in out.new], dtype=np.int64),
            "pfx": np.array([text.pfx[n[0]] for n in out.new], dtype=np.int64),
            "txid": pd.Series([txid(n[0]) for n in out.new], dtype=object),
            "address": pd.Series([names[n[2]] for n in out.new], dtype=object),
            "balances": pd.Series([n[3] for n in out.new], dtype=object),
        },
        columns=LIVE_COLUMNS,
    )
    return Resolved(transfers, events, new, text.times)


@paused_gc
def merge_live(live: pd.DataFrame, spent: np.ndarray, new: pd.DataFrame) -> pd.DataFrame:
    """The next live set: ``live`` without the rows the range spent, plus the range's new
    rune-bearing outputs (runs where the partition's live set is kept)."""
    kept = live.drop(index=live.index[spent]) if len(spent) else live
    if new.empty:
        return kept.reset_index(drop=True)
    return pd.concat([kept, new], ignore_index=True) if len(kept) else new

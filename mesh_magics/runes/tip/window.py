"""The rewritable tail of a followed ledger: ledger states and rows of the last ``depth`` blocks.

A reorg that replaces blocks from height *f* on must re-index from a ledger state that
ends below *f*. :class:`Window` keeps a :class:`Checkpoint` (the
:class:`~mesh_magics.runes.ledger.LedgerState` after an ``index_chain`` call) per call,
and the rows (events, transfers, alerts) and hash of each block, for the blocks that can
still be rewritten: those above ``tip - depth``. After each batch :meth:`Window.prune`
drops every checkpoint but the newest one at or below that floor and the ones above it,
and the rows below it, so a long follow holds ``depth + 1`` states and ``depth`` blocks
of rows at most.

A state's live sets are futures on the cluster (what each costs is the live rune-bearing
outpoints of one point in the chain); its rune entries and names are shared with the
previous checkpoint where they did not change (:func:`share`), so the client holds one
copy of the rune table plus what the last blocks changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ...errors import LedgerError

__all__ = ["BlockRows", "Checkpoint", "Window", "share"]


@dataclass
class Checkpoint:
    """The ledger state before block ``next_height`` (None: nothing indexed yet; index from there)."""

    next_height: int
    state: Any


@dataclass
class BlockRows:
    """What one indexed block gave: its hash and its rows of each table."""

    hash: str | None
    events: pd.DataFrame
    transfers: pd.DataFrame
    alerts: pd.DataFrame


@dataclass
class Window:
    depth: int
    checkpoints: list[Checkpoint] = field(default_factory=list)
    rows: dict[int, BlockRows] = field(default_factory=dict)

    def hashes(self) -> dict[int, str | None]:
        """Height -> hash of the blocks whose rows are held (the rewritable ones)."""
        return {h: r.hash for h, r in self.rows.items()}

    def push(self, checkpoint: Checkpoint, rows: dict[int, BlockRows]) -> None:
        if self.checkpoints and self.checkpoints[-1].state is not None and checkpoint.state is not None:
            share(self.checkpoints[-1].state, checkpoint.state)
        self.checkpoints.append(checkpoint)
        self.rows.update(rows)

    def rewind(self, fork: int) -> tuple[Checkpoint, dict[int, BlockRows]]:
        """Back to the newest checkpoint at or below ``fork``; the rows of blocks from it on are
        removed and returned (height -> rows)."""
        usable = [c for c in self.checkpoints if c.next_height <= fork]
        if not usable:
            raise LedgerError(
                f"a reorg from block {fork}: no ledger state below it is kept (depth={self.depth}); "
                "index that range again with index_chain, or follow with a larger depth"
            )
        base = usable[-1]
        self.checkpoints = usable
        gone = {h: r for h, r in self.rows.items() if h >= base.next_height}
        self.rows = {h: r for h, r in self.rows.items() if h < base.next_height}
        return base, gone

    def prune(self, height: int) -> int:
        """Keep what rewriting blocks above ``height - depth`` needs; returns that floor."""
        floor = height - self.depth + 1
        below = [i for i, c in enumerate(self.checkpoints) if c.next_height <= floor]
        if below:
            self.checkpoints = self.checkpoints[below[-1] :]
        self.rows = {h: r for h, r in self.rows.items() if h >= floor}
        return floor


def share(old: Any, new: Any) -> None:
    """Let ``new`` (a LedgerState) reuse ``old``'s rune entries where they are equal, and its
    names when no rune was added (states are never changed after they are made: index_chain
    copies what it continues from)."""
    for k, e in new.entries.items():
        prev = old.entries.get(k)
        if prev is not None and prev is not e and prev == e:
            new.entries[k] = prev
    if len(new.names) == len(old.names) and new.names == old.names:
        new.names = old.names

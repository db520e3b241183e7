"""The items of a batch run (:mod:`.batch`): :class:`Item`, and :func:`batch_error`, the one
error of the items that failed (the first ``mesh.run.max-tracebacks`` tracebacks in full,
the rest counted)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import config
from ..errors import BatchError

__all__ = ["ITEM_ENDED", "ITEM_TAIL", "Item", "batch_error"]

#: characters of output kept per item (stdout and stderr each) after the batch
ITEM_TAIL = 2000
#: the statuses an item ends in
ITEM_ENDED = frozenset({"finished", "failed", "cancelled", "lost"})


@dataclass(eq=False)
class Item:
    """One item's share of a batch (written by the batch's pump only)."""

    index: int
    status: str = "queued"  # queued, running, finished, failed, cancelled, lost
    attempts: int = 0
    worker: str | None = None
    result: dict[str, Any] | None = field(default=None, repr=False)
    error: str | None = None
    traceback: list[str] = field(default_factory=list, repr=False)
    started: float | None = None
    finished: float | None = None
    chunks_seen: int = 0
    tails: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def done(self) -> bool:
        return self.status in ITEM_ENDED

    def row(self, label: Callable[[str], str]) -> dict[str, Any]:
        """The item's outcome as the history keeps it."""
        duration = None if self.started is None or self.finished is None else self.finished - self.started
        return {"index": self.index, "status": self.status, "attempts": self.attempts,
                "worker": label(self.worker) if self.worker else None,
                "error": (self.error or "")[:300] or None, "duration": duration}  # fmt: skip


def batch_error(run_id: str, name: str, items: Sequence[Item], values: list[Any]) -> BatchError | None:
    """One error for the items that failed: the first ``mesh.run.max-tracebacks``
    tracebacks in full, the rest counted by exception name; None when none failed."""
    failed = [it for it in items if it.status == "failed"]
    if not failed:
        return None
    cap = int(config.get("run.max-tracebacks"))
    failures: list[dict[str, Any]] = [{"item": it.index, "worker": it.worker, "ename": (it.error or "").partition(":")[0],
                 "evalue": (it.error or "").partition(": ")[2], "traceback": it.traceback} for it in failed]  # fmt: skip
    lines: list[str] = []
    for f in failures[:cap]:
        lines.append(f"\x1b[31m[item {f['item']}] {f['ename']}: {f['evalue']}\x1b[0m")
        lines.extend(line.rstrip("\n") for line in f["traceback"] or [f"{f['ename']}: {f['evalue']}"])
    rest = failures[cap:]
    if rest:
        kinds = ", ".join(sorted({str(f["ename"]) for f in rest}))
        lines.append(
            f"... and {len(rest)} more item(s) failed with {kinds} (the error's .failures has them all)"
        )
    first = failures[0]
    msg = (f"{len(failed)} of {len(items)} items of batch {name} failed; first: item "
           f"{first['item']}: {first['ename']}: {first['evalue']} (the error's .results keep the other values)")  # fmt: skip
    return BatchError(msg, failures, run_id, rendered=[*lines, msg], results=values)

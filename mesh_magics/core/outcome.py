"""How a run ended, from what its targets returned: :func:`conclude`.

Pure: it reads the targets (:class:`~.target.Target`) and returns the run's final
status, its error and the pulled values. The order of precedence: a lost worker, then
a cell that raised (or a future that failed), then a cancellation, then a ``pull``
name that was missing, else finished.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import config
from ..errors import (
    PullError,
    RemoteError,
    RunCancelledError,
    RunError,
    WorkerLostError,
    named,
)
from .target import Target

__all__ = ["Outcome", "conclude", "is_killed", "remote_error"]

Label = Callable[[str], str]


@dataclass(frozen=True)
class Outcome:
    status: str
    error: RunError | PullError | None = None
    pulled: dict[str, Any] = field(default_factory=dict)


def is_killed(err: BaseException | None) -> bool:
    """Whether a future failed because Dask gave up on its worker (``KilledWorker``)."""
    return err is not None and type(err).__name__ == "KilledWorker"


def _cancelled(t: Target) -> bool:
    return t.status == "cancelled" or isinstance(t.error, RunCancelledError)


def conclude(run_id: str, name: str, targets: Sequence[Target], label: Label) -> Outcome:
    """The outcome of a run whose targets are all done (see the module doc)."""
    multi = len(targets) > 1
    lost = [t for t in targets if t.lost or is_killed(t.error)]
    failed = [t for t in targets if t.status == "error"]
    cancelled = [t for t in targets if _cancelled(t)]
    other = [t for t in targets if t.error is not None and t not in lost and t not in cancelled]
    pulled: dict[str, Any] = {}
    for t in targets:
        for n, v in (t.result or {}).get("pulled", {}).items():
            if multi:  # --on all / a list: one value per worker
                pulled.setdefault(n, {})[label(t.address)] = v
            else:
                pulled[n] = v
    if lost:
        names = ", ".join(label(t.address) for t in lost)
        if any(t.gave_up for t in lost):
            text = named(
                "run {run}: worker {names} left the mesh while running the cell and no live worker "
                "came back within mesh.run.retry-wait to run it again",
                run=name,
                names=names,
            )
        else:
            text = named(
                "run {run}: worker {names} left the mesh while running the cell and no "
                "retry was left (set {retries} to run it again on another worker)",
                run=name,
                names=names,
            )
        error: RunError | PullError = WorkerLostError(text, run_id)
        return Outcome("lost", error, pulled)
    if failed or other:
        return Outcome("failed", remote_error(run_id, failed, other, label), pulled)
    if cancelled:
        return Outcome("cancelled", RunCancelledError(f"run {name} was cancelled", run_id), pulled)
    missing = [
        (label(t.address), n, why) for t in targets if t.result for n, why in t.result.get("pull_missing", [])
    ]
    if missing:
        w, n, why = missing[0]
        error = PullError(
            named(
                "{pull} {var}: the name {why} on worker {w}; define it in the cell or drop it "
                "from {pull} (the cell itself ran fine)",
                var=n,
                why=why,
                w=w,
            ),
            name=n,
        )
        return Outcome("failed", error, pulled)
    return Outcome("finished", None, pulled)


def remote_error(run_id: str, failed: Sequence[Target], other: Sequence[Target], label: Label) -> RemoteError:
    """One error for every target whose cell raised (``failed``) or whose future failed
    (``other``): the first ``mesh.run.max-tracebacks`` tracebacks, the rest counted."""
    cap = int(config.get("run.max-tracebacks"))
    failures, lines = [], []
    for t in failed:
        r = t.result or {}
        failures.append(
            {
                "worker": label(t.address),
                "ename": r.get("ename"),
                "evalue": r.get("evalue"),
                "traceback": r.get("traceback", []),
            }
        )
    for t in other:
        failures.append(
            {
                "worker": label(t.address),
                "ename": type(t.error).__name__,
                "evalue": str(t.error),
                "traceback": [],
            }
        )
    for i, f in enumerate(failures):
        if i < cap:
            lines.append(f"\x1b[31m[worker {f['worker']}] {f['ename']}: {f['evalue']}\x1b[0m")
            lines.extend(line.rstrip("\n") for line in f["traceback"] or [f"{f['ename']}: {f['evalue']}"])
        elif i == cap:
            rest = failures[cap:]
            kinds = sorted({str(r["ename"]) for r in rest})
            lines.append(
                f"... and {len(rest)} more worker(s) failed with {', '.join(kinds)} "
                f"(run.results has every traceback)"
            )
    first = failures[0]
    msg = f"{first['ename']}: {first['evalue']} (on worker {first['worker']}" + (
        f", and {len(failures) - 1} more)" if len(failures) > 1 else ")"
    )
    return RemoteError(msg, failures, run_id, rendered=lines)

"""When a run's share is attempted again: :func:`plan_retry`.

A target is retried while its attempts do not exceed the run's ``retries``:

* its cell raised, or its future failed: again on the same worker when that worker is
  still on the mesh, else on another one (the session's worker is re-chosen);
* its worker left the mesh mid-run: on another worker, but only for runs that go to
  the session's worker (``on="any"``): a pinned or ``all`` share has no replacement
  namespace, and it ends as lost.

"Elsewhere" is any live worker that fits the run. When there is none (the only other
worker is restarting too), the dispatcher (:mod:`.dispatch`) waits for one up to
``mesh.run.retry-wait`` seconds (and never past the run's timeout) before the share ends
as lost. A cancelled target is never retried.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from .. import config
from .spec import RunSpec
from .target import Target

__all__ = ["Plan", "plan_retry", "retry_wait"]

Plan = Literal["here", "elsewhere"]


def retry_wait(left: float | None) -> float:
    """Seconds to wait for a live worker: ``mesh.run.retry-wait``, never past ``left`` (the
    run's time left, or its timeout; ``None``: unbounded)."""
    wait = float(config.get("run.retry-wait"))
    return wait if left is None else min(wait, left)


def plan_retry(spec: RunSpec, target: Target, live: Iterable[str], *, worker_left: bool) -> Plan | None:
    """Where ``target``'s next attempt runs, or None when it gets none (see the module doc)."""
    if target.attempts > spec.retries:
        return None
    if worker_left:
        return "elsewhere" if spec.movable else None
    return "here" if target.address in set(live) else "elsewhere"

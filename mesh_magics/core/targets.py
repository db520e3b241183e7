"""Which workers a run goes to: pure functions over the worker table.

``any`` is the session's *home* worker: chosen once (the least busy that offers the
run's resources, ties by name) and kept while it lives, so later cells see earlier
variables. When it has left, a new home is chosen and :class:`Placement` carries a
notice saying the namespace is gone. ``all`` is every fitting worker; a list names
workers by name or address.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import MeshUsageError, named
from .spec import On

__all__ = ["Placement", "label", "place", "load"]

Workers = Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class Placement:
    """Where a run goes: its target addresses, the session's home after it, a notice."""

    targets: tuple[str, ...]
    home: str | None
    notice: str | None = None


def label(workers: Workers, address: str) -> str:
    """A worker's name when it has one, else its address."""
    w = workers.get(address)
    return str(w.get("name")) if w and w.get("name") is not None else address


def load(worker: Mapping[str, Any]) -> int:
    """Tasks a worker is busy with, from its heartbeat."""
    counts = (worker.get("metrics") or {}).get("task_counts") or {}
    return sum(int(v) for k, v in counts.items() if k in ("executing", "long-running", "ready"))


def _fitting(workers: Workers, resources: tuple[tuple[str, float], ...]) -> list[str]:
    if not workers:
        raise MeshUsageError(named("the mesh has no workers yet; wait for them or look at {mesh.status()}"))
    fit = [
        a for a, w in workers.items() if all((w.get("resources") or {}).get(k, 0) >= v for k, v in resources)
    ]
    if not fit:
        offered = sorted({k for w in workers.values() for k in (w.get("resources") or {})})
        raise MeshUsageError(
            named(
                "{resources} {wanted}: no worker of this mesh offers that; workers offer {offered}",
                wanted=dict(resources),
                offered=offered or "none",
            )
        )
    return fit


def place(workers: Workers, on: On, resources: tuple[tuple[str, float], ...], home: str | None) -> Placement:
    """The targets of a run asked to go ``on`` (see the module doc)."""
    fit = _fitting(workers, resources)
    if on == "any":
        if home is not None and home in fit:
            return Placement((home,), home)
        new = min(fit, key=lambda a: (load(workers[a]), str(workers[a].get("name"))))
        notice = None
        if home is not None and home not in workers:
            notice = (
                f"the session's worker {home} left the mesh; its namespace "
                f"is gone, now running on {label(workers, new)}"
            )
        return Placement((new,), new, notice)
    if on == "all":
        return Placement(tuple(sorted(fit, key=lambda a: str(workers[a].get("name")))), home)
    by_name = {str(w.get("name")): a for a, w in workers.items()}
    out = []
    for n in on:
        addr = n if n in workers else by_name.get(str(n))
        if addr is None:
            raise MeshUsageError(
                named(
                    "{on} {worker}: no such worker; known workers: {known} (names) or their addresses",
                    worker=n,
                    known=", ".join(sorted(by_name)) or "none",
                )
            )
        out.append(addr)
    return Placement(tuple(out), home)

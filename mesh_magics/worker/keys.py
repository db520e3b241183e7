"""The Dask keys of a run's cell tasks, shared by the kernel, the scheduler plugin and cancels.

Keys are tuples ``(prefix, attempt, worker)`` with ``prefix = "mesh-run-<first 12 hex of the
run id>"``: Dask groups tasks (and their span) by a tuple key's first element, so each run gets
its own task group, and a client that knows only the run id (the side panel's server
extension) can find the run's tasks on the scheduler.

A session's actor on a worker (:mod:`mesh_magics.worker.actor`) has the key ``("mesh-session-<first
12 characters of the session>", worker address)``: the scheduler plugin that releases actors of
retiring workers (:mod:`mesh_magics.worker.retire`) knows them, and no other actor, by it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["actor_key", "is_actor_key", "is_cell_key", "run_key", "run_key_prefix"]

_ACTOR_PREFIX = "mesh-session-"


def run_key_prefix(run_id: str) -> str:
    """The first element of every Dask key of ``run_id``'s cell tasks."""
    return f"mesh-run-{run_id[:12]}"


def run_key(run_id: str, attempt: int, worker: str) -> tuple[str, int, str]:
    """The key of one attempt of ``run_id`` on ``worker`` (a name or an address)."""
    return (run_key_prefix(run_id), attempt, worker)


def is_cell_key(key: Any, run_id: str | None = None) -> bool:
    """Whether ``key`` is a ``%%mesh`` cell's own task (of ``run_id`` if given)."""
    if not (isinstance(key, tuple) and key and isinstance(key[0], str)):
        return False
    return key[0] == run_key_prefix(run_id) if run_id else key[0].startswith("mesh-run-")


def actor_key(session: str, address: str) -> tuple[str, str]:
    """The Dask key of ``session``'s actor on the worker at ``address``."""
    return (f"{_ACTOR_PREFIX}{session[:12]}", address)


def is_actor_key(key: Any) -> bool:
    """Whether ``key`` is a session actor's (of any session)."""
    return (
        isinstance(key, tuple) and bool(key) and isinstance(key[0], str) and key[0].startswith(_ACTOR_PREFIX)
    )

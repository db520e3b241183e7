"""Cancel a run from outside the kernel that started it.

A kernel busy in a blocking ``%%mesh`` cell cannot receive a widget click, so
the side panel's server extension cancels runs by talking to the scheduler
directly, with its own Client: :func:`cancel_run` interrupts the cell's code on
every worker (a no-op where it does not run) and cancels the run's futures by
their key prefix. The kernel's ``MeshRun`` then sees its futures cancelled and
ends as ``cancelled``, exactly as after Ctrl-C.
"""

from __future__ import annotations

from typing import Any

from . import _remote

__all__ = ["cancel_run", "run_key_prefix"]


def run_key_prefix(run_id: str) -> str:
    """Every Dask key of a run's tasks starts with this (see ``RunsMixin._submit``)."""
    return f"mesh-run-{run_id[:12]}-"


def _keys_with_prefix(dask_scheduler: Any, prefix: str) -> list[str]:
    return [k for k in dask_scheduler.tasks if isinstance(k, str) and k.startswith(prefix)]


def cancel_run(client: Any, run_id: str) -> dict[str, Any]:
    """Interrupt and cancel ``run_id`` on the mesh ``client`` is connected to.

    Returns ``{"interrupted": [worker, ...], "cancelled_keys": [key, ...]}``.
    Finding the keys asks the scheduler once (``run_on_scheduler``); where the
    scheduler refuses pickled functions, the interrupt alone still stops the
    cell and its task then ends as cancelled.
    """
    from distributed import Future

    interrupted = [w for w, hit in client.run(_remote.interrupt, run_id).items() if hit]
    try:
        keys = client.run_on_scheduler(_keys_with_prefix, prefix=run_key_prefix(run_id))
    except Exception:
        keys = []
    if keys:
        futures = [Future(k, client=client) for k in keys]
        client.cancel(futures, force=True)
    return {"interrupted": interrupted, "cancelled_keys": list(keys)}

"""Cancel a run from outside the kernel that started it.

A kernel busy in a blocking ``%%mesh`` cell cannot receive a widget click, so
the side panel's server extension cancels runs by talking to the scheduler
directly, with its own Client: :func:`cancel_run` interrupts the cell's code on
every worker (a no-op where it does not run) and cancels the run's futures by
their key prefix (:mod:`mesh_magics.worker.keys`). The kernel's ``MeshRun`` then
sees its futures cancelled and ends as ``cancelled``, exactly as after Ctrl-C.
"""

from __future__ import annotations

from typing import Any

from ..worker import cell
from ..worker.keys import is_cell_key

__all__ = ["cancel_run"]


def _keys_of_run(dask_scheduler: Any, run_id: str) -> list[Any]:
    return [k for k in dask_scheduler.tasks if is_cell_key(k, run_id)]


def cancel_run(client: Any, run_id: str) -> dict[str, Any]:
    """Interrupt and cancel ``run_id`` on the mesh ``client`` is connected to.

    Returns ``{"interrupted": [worker, ...], "cancelled_keys": [key, ...]}`` (keys as
    ``repr`` strings, JSON-friendly). Finding the keys asks the scheduler once
    (``run_on_scheduler``); where the scheduler refuses pickled functions, the
    interrupt alone still stops the cell and its task then ends as cancelled.
    """
    from distributed import Future

    interrupted = [w for w, hit in client.run(cell.interrupt, run_id).items() if hit]
    try:
        keys = client.run_on_scheduler(_keys_of_run, run_id=run_id)
    except Exception:
        keys = []
    if keys:
        futures: list[Any] = [Future(k, client=client) for k in keys]
        client.cancel(futures, force=True)
    return {"interrupted": interrupted, "cancelled_keys": [repr(k) for k in keys]}

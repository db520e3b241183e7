"""The session's way in to a worker that skips the scheduler: :class:`SessionActor`.

A Dask actor (``Client.submit(SessionActor, session, actor=True, workers=[address])``),
one per notebook session and worker, created by the kernel in the background the first
time a cell goes to that worker (:mod:`mesh_magics.core.direct`). Calling its
:meth:`~SessionActor.run` sends the cell to the worker in one request (through the
scheduler's ``proxy`` or straight to the worker, as Dask routes actor calls) and its
result comes back in the reply: no task, no transitions, no batched streams, no
gather. The cell runs on a thread of this module's pool, in the same session namespace
as a cell task (:func:`mesh_magics.worker.cell.run_direct`), with its output streamed
as events exactly as a task's.

This module is imported on the workers: the standard library and distributed only.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from . import cell

__all__ = ["MAX_CELLS", "SessionActor"]

#: cells of all sessions that may run at once on one worker through actors
MAX_CELLS = 256

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """Threads for the cells (created as needed, then reused: no thread start per cell)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(MAX_CELLS, thread_name_prefix="mesh-cell")
        return _POOL


class SessionActor:
    """One session's cells on this worker, without the scheduler (see the module doc)."""

    def __init__(self, session: str) -> None:
        self.session = session

    async def run(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Run a cell (a :func:`~mesh_magics.worker.cell.run_cell` payload); its result dict.

        A coroutine, so Dask runs it on the worker's event loop rather than on the one
        thread it keeps for actors: the cell itself goes to a thread of its own, and cells
        of several runs proceed at once as they do as seceded tasks."""
        from distributed import get_worker

        if spec.get("session") != self.session:
            raise ValueError(
                f"a cell of session {spec.get('session')!r} sent to the actor of {self.session!r}"
            )
        worker = get_worker()
        context = contextvars.copy_context()  # get_worker() and get_client() work in the cell's thread
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_pool(), context.run, cell.run_direct, spec, worker)

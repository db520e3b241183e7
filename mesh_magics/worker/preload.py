"""Worker preload of the embedded mesh (``distributed`` calls ``dask_setup``).

A kernel interrupt (Ctrl-C, the notebook's stop button) is a SIGINT sent by
jupyter_client to the kernel's whole process group, which includes the
embedded mesh's worker processes. Without this they would die with
KeyboardInterrupt on every interrupt. The interrupt reaches the cell's code
through :func:`mesh_magics.worker.cell.interrupt` instead.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

__all__ = ["PluginPreloads", "dask_setup"]


def dask_setup(worker: Any) -> None:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


class PluginPreloads(WorkerPlugin):
    """A worker plugin running the preload modules of mesh-magics plugins on every worker
    (present and future): each is imported and its ``dask_setup(worker)`` called, as a Dask
    preload would. A module that fails is logged on the worker and the others still run."""

    name = "mesh-magics-plugin-preloads"
    idempotent = True

    def __init__(self, modules: list[str]) -> None:
        self.modules = list(modules)

    def setup(self, worker: Any) -> None:
        import importlib
        import logging

        for name in self.modules:
            try:
                module = importlib.import_module(name)
                setup = getattr(module, "dask_setup", None)
                if callable(setup):
                    setup(worker)
            except Exception:
                logging.getLogger("mesh_magics").exception("plugin preload %s failed on this worker", name)

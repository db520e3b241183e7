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

__all__ = ["dask_setup"]


def dask_setup(worker: Any) -> None:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)

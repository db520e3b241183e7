"""Waiting for a run (or a batch) that the waiting thread may have to drive itself.

A run's events reach the kernel through a queue that someone must pump (render output,
settle futures). Whoever waits pumps, unless another thread (a ``--noblock`` pump, another
waiter) holds the pump lock: then it just waits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["pump_until"]


def pump_until(
    done: threading.Event, lock: threading.Lock, pump_once: Callable[[float], None], timeout: float | None
) -> bool:
    """Block until ``done`` is set, calling ``pump_once(seconds)`` whenever this thread gets
    ``lock``; True if it ended, False when ``timeout`` seconds passed first."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while not done.is_set():
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return False
        if lock.acquire(timeout=0.05):
            try:
                if not done.is_set():
                    pump_once(0.05 if left is None else min(0.05, left))
            finally:
                lock.release()
    return True

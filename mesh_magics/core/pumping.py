"""Waiting for a run (or a batch) that the waiting thread may have to drive itself.

A run's events reach the kernel through a queue that someone must pump (render output,
settle futures). Whoever waits pumps, unless another thread (a ``--noblock`` pump, another
waiter) holds the pump lock: then it just waits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["DoneCallbacks", "pump_until"]


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


class DoneCallbacks:
    """Callbacks for when a run ends, called *before* its done event is set: whoever wakes
    on that event (``wait``, ``result``) finds them applied (``--results`` bound, ``-o``
    pulled). A callback added after they fired is called at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[Callable[[], object]] | None = []

    def add(self, fn: Callable[[], object]) -> None:
        with self._lock:
            if self._pending is not None:
                self._pending.append(fn)
                return
        fn()

    def fire(self, on_error: Callable[[BaseException], object] | None = None) -> None:
        with self._lock:
            pending, self._pending = self._pending or [], None
        for fn in pending:
            try:
                fn()
            except Exception as e:
                if on_error is None:
                    raise
                on_error(e)

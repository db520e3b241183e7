"""Waiting for a run (or a batch) that the waiting thread may have to drive itself.

A run's events reach the kernel through a queue that someone must pump (render output,
settle futures). Whoever waits pumps, unless another thread (a ``--noblock`` pump, another
waiter) holds the pump lock: then it just waits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["Lifecycle", "pump_until"]


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


class Lifecycle:
    """How a run or a batch ends and is waited for: its done event, the pump lock, and the
    callbacks that run *before* the event is set, so whoever wakes on it (``wait``,
    ``result``) finds them applied (``--results`` bound, ``-o`` pulled). A callback added
    after they ran is called at once. ``pump_once(seconds)`` drives the run's events."""

    def __init__(self, pump_once: Callable[[float], None]) -> None:
        self._pump_once = pump_once
        self._pumper: int | None = None  # the thread inside pump_once now
        self.ended = threading.Event()
        self.pump_lock = threading.Lock()
        self._lock = threading.Lock()
        self._pending: list[Callable[[], object]] | None = []

    def done(self) -> bool:
        return self.ended.is_set()

    def pump_once(self, seconds: float) -> None:
        self._pumper = threading.get_ident()
        try:
            self._pump_once(seconds)
        finally:
            self._pumper = None

    def settle(self, seconds: float) -> None:
        """After a cancel: wait up to ``seconds`` for the end, unless this thread is the one
        pumping (a hook or renderer that cancels from inside the pump), which must go on."""
        if self._pumper != threading.get_ident():
            self.wait(seconds)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the end (pumping if nobody else does); True if it ended."""
        return pump_until(self.ended, self.pump_lock, self.pump_once, timeout)

    def wait_or_cancel(self, cancel: Callable[[str], object], error: Callable[[], BaseException]) -> None:
        """Wait for the end; Ctrl-C calls ``cancel`` instead and raises ``error()``."""
        try:
            self.wait()
        except KeyboardInterrupt:
            cancel("interrupted (Ctrl-C)")
            raise error() from None

    def pump_in_background(self, name: str) -> None:
        """Pump on a daemon thread (``--noblock``)."""
        threading.Thread(target=self.wait, daemon=True, name=f"mesh-pump-{name}").start()

    def on_end(self, fn: Callable[[], object]) -> None:
        with self._lock:
            if self._pending is not None:
                self._pending.append(fn)
                return
        fn()

    def end(self, on_error: Callable[[BaseException], object] | None = None) -> None:
        """Run the callbacks (``on_error`` gets what one raises; without it, it propagates),
        then set the done event."""
        with self._lock:
            pending, self._pending = self._pending or [], None
        try:
            for fn in pending:
                try:
                    fn()
                except Exception as e:
                    if on_error is None:
                        raise
                    on_error(e)
        finally:
            self.ended.set()

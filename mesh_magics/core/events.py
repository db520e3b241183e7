"""Mesh events: a tiny synchronous emitter behind ``Mesh.on(event, callback)``.

Callbacks run on whichever thread noticed the event (the kernel's main thread
for run events of blocking runs, Dask's event-loop thread for worker and
connection events), so they must be quick and must not block. A callback that
raises is logged and detached from nothing: the other callbacks still run and
the mesh carries on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from ..errors import MeshConfigError

__all__ = ["EVENTS", "EventEmitter", "Subscription"]

logger = logging.getLogger("mesh_magics")

#: every event name ``Mesh.on`` accepts; the payload is one dict.
EVENTS = frozenset(
    {
        "connected",
        "disconnected",
        "reconnecting",
        "worker_joined",
        "worker_left",
        "run_started",
        "run_finished",
        "run_failed",
        "run_cancelled",
    }
)


class Subscription:
    """Returned by ``on``: call ``cancel()`` (or use as a context manager) to detach."""

    def __init__(self, emitter: EventEmitter, event: str, callback: Callable[[dict[str, Any]], Any]):
        self._emitter, self.event, self.callback = emitter, event, callback

    def cancel(self) -> None:
        self._emitter.off(self.event, self.callback)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()


class EventEmitter:
    def __init__(self) -> None:
        self._callbacks: dict[str, list[Callable[[dict[str, Any]], Any]]] = {e: [] for e in EVENTS}
        self._lock = threading.Lock()

    def on(self, event: str, callback: Callable[[dict[str, Any]], Any]) -> Subscription:
        if event not in EVENTS:
            raise MeshConfigError(f"unknown mesh event {event!r}; known events: {', '.join(sorted(EVENTS))}")
        if not callable(callback):
            raise MeshConfigError(f"the callback for {event!r} must be callable, got {callback!r}")
        with self._lock:
            self._callbacks[event].append(callback)
        return Subscription(self, event, callback)

    def off(self, event: str, callback: Callable[[dict[str, Any]], Any]) -> None:
        """Detach ``callback`` from ``event`` (a callback not attached is fine)."""
        with self._lock:
            if callback in self._callbacks[event]:
                self._callbacks[event].remove(callback)

    def emit(self, event: str, **payload: Any) -> None:
        payload["event"] = event
        with self._lock:
            callbacks = list(self._callbacks[event])
        for cb in callbacks:
            try:
                cb(payload)
            except Exception:
                logger.exception("mesh event callback %r for %r raised", cb, event)

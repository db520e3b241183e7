"""The change feed behind ``GET events``: pushes instead of the panel polling.

One :class:`ChangeFeed` per server polls cheaply, and only while at least one
websocket is subscribed:

* every ``interval`` (1 s) it lists the registry (a few small files and a pid
  check each) and reuses scheduler probes younger than ``probe_every`` (5 s);
  when the list differs from the last one it publishes
  ``{"type": "meshes", "meshes": [...]}``;
* it compares the sizes and mtimes of the history databases and their WAL
  files, which change on every commit of a kernel, and only then reads the
  watched runs (the newest ones and every active one) and publishes
  ``{"type": "runs", "changed": [rows]}`` with the rows new or changed since
  the last look (rows as ``GET runs`` lists them).

Subscribers are plain callables taking the message dict; the websocket handler
serialises and sends it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from .manager import MeshManager

__all__ = ["ChangeFeed"]

log = logging.getLogger("mesh_magics.server")

Subscriber = Callable[[dict[str, Any]], None]


class ChangeFeed:
    """Publish registry and history changes to subscribers at most every ``interval`` seconds."""

    def __init__(self, manager: MeshManager, *, interval: float = 1.0, probe_every: float = 5.0) -> None:
        self.manager = manager
        self.interval, self.probe_every = interval, probe_every
        self._subscribers: list[Subscriber] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """True while the polling task runs (only while someone is subscribed)."""
        return self._task is not None and not self._task.done()

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Add ``callback``; start polling if it is the first. Returns the unsubscribe function."""
        self._subscribers.append(callback)
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="mesh-magics-feed")

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)
            if not self._subscribers and self._task is not None:
                self._task.cancel()
                self._task = None

        return unsubscribe

    def _publish(self, message: dict[str, Any]) -> None:
        for callback in list(self._subscribers):
            try:
                callback(message)
            except Exception:  # one broken subscriber must not starve the others
                log.exception("mesh_magics | an events subscriber failed; dropping it")
                self._subscribers.remove(callback)

    async def _run(self) -> None:
        manager = self.manager
        meshes = await self._guard(manager.meshes(max_age=self.probe_every), None)
        signature = manager.runs.signature()
        _, fingerprints = await self._guard(manager.run_changes({}), ([], {}))
        while self._subscribers:
            await asyncio.sleep(self.interval)
            now = await self._guard(manager.meshes(max_age=self.probe_every), meshes)
            if now != meshes:
                meshes = now
                self._publish({"type": "meshes", "meshes": now})
            if (current := manager.runs.signature()) != signature:
                signature = current
                changed, fingerprints = await self._guard(
                    manager.run_changes(fingerprints), ([], fingerprints)
                )
                if changed:
                    self._publish({"type": "runs", "changed": changed})

    @staticmethod
    async def _guard(awaitable: Any, fallback: Any) -> Any:
        """The result, or ``fallback`` after logging: the feed outlives a bad file or a slow disk."""
        try:
            return await awaitable
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("mesh_magics | events feed: a poll failed", exc_info=True)
            return fallback

"""``%mesh dashboard``: the node map, runs in flight and their logs, not tied to one run.

A daemon thread refreshes the widget's traits at most every
``mesh.dashboard.interval`` seconds (only comm messages: nothing is printed, so
nothing can land in another cell), asks the scheduler plugin for node state with
a ``watch`` event every few seconds, and stops when the view is closed or the
mesh goes down.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from .. import config
from ..core.telemetry import LogBuffer, NodeMap, RunProgress
from ..worker.plugin import WATCH_TOPIC
from .widget import MeshDashboard

__all__ = ["MeshWatch"]


class MeshWatch:
    def __init__(self, mesh: Any) -> None:
        self.mesh = mesh
        self.interval = float(config.get("dashboard.interval"))
        self.widget = MeshDashboard(
            name=f"mesh {mesh.address}",
            status=mesh.state,
            blocking=False,
            dashboard_link=mesh.dashboard_link or "",
        )
        self.nodes = NodeMap()
        self._stop = threading.Event()
        self._started = time.time()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="mesh-dashboard")

    def start(self) -> MeshWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        last_watch = 0.0
        while not self._stop.wait(self.interval):
            if self.widget.comm is None or self.mesh.state == "closed":
                break  # the view was closed, or the mesh is down
            now = time.time()
            if now - last_watch > 3.0 and self.mesh.state == "connected":
                try:
                    self.mesh.client.log_event(WATCH_TOPIC, {"watch": self.mesh.session})
                    last_watch = now
                except Exception:
                    pass
            self.refresh(now)

    def refresh(self, now: float | None = None) -> None:
        """One update of every trait from the mesh's current state."""
        now = now or time.time()
        msg = self.mesh.nodes
        if msg:
            self.nodes.update(msg["nodes"], msg.get("links"))
        progress, logs, busy = RunProgress(), LogBuffer(), set()
        for run in self.mesh.runs_in_flight():
            d = run.telemetry
            if d is None:
                continue
            p = d.progress
            progress.groups[run.name] = [
                p.done,
                sum(c[1] for c in p.groups.values()),
                sum(c[2] for c in p.groups.values()) or (0 if p.total else 1),
                p.erred,
            ]
            busy |= set(p.workers) | set(run.targets)
            logs.lines.extend(list(d.logs.lines)[-100:])
        w = self.widget
        with w.hold_sync():
            w.status = self.mesh.state
            w.elapsed = now - self._started
            w.set_state(progress, self.nodes, logs, busy)

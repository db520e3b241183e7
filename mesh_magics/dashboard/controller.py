"""One run's dashboard: model updates in, throttled renders out.

Driven by the run's pump (the kernel's main thread for a blocking cell, the
run's daemon thread with ``--noblock``), never by a thread of its own: it
renders when the pump ticks, at most every ``mesh.dashboard.interval`` seconds,
appears only once the run has lasted ``mesh.progress.after`` seconds, and stops
with the run or when its view is closed.
"""

from __future__ import annotations

import time
from typing import Any

from .. import config
from .model import LogBuffer, NodeMap, RunProgress, Summary, bytes_text

__all__ = ["RunDashboard"]


class RunDashboard:
    def __init__(self, run: Any) -> None:
        self.run = run
        self.progress = RunProgress()
        self.nodes = NodeMap()
        self.logs = LogBuffer(max_lines=int(config.get("dashboard.max-log-lines")))
        self.transferred = 0
        self.widget: Any = None
        self.closed = False
        self.summary: Summary | None = None
        self._after = float(config.get("progress.after"))
        self._interval = float(config.get("dashboard.interval"))
        self._last = 0.0
        self._nodes_t = 0.0
        self._text_last = 0.0
        self._rx = 0.0
        self._recorded = 0.0

    # -- inputs (on the pump's thread) ------------------------------------------------
    def on_progress(self, groups: dict[str, list[int]], workers: list[str], nbytes: int, t: float) -> None:
        self.progress.update(groups, workers, t)
        self.transferred = max(self.transferred, int(nbytes))
        self._rx = time.time()

    def settled(self, since: float) -> bool:
        """Whether the plugin's counts are final. They are when nothing is left
        processing or waiting (the plugin publishes that moment at once); otherwise
        one more tick after ``since`` (all targets returned) carries them. Waits at
        most one interval."""
        if self.progress.total == 0 or self._rx >= since + 0.05:
            return True
        if all(c[1] == 0 and c[2] == 0 for c in self.progress.groups.values()):
            return True  # the plugin published the end of the work the moment it ended
        return time.time() > since + self._interval + 0.3

    def on_chunk(self, worker: str, stream: str, text: str) -> None:
        self.logs.add(self.run._label_of(worker), stream, text)

    def _pull_nodes(self) -> None:
        msg = getattr(self.run.mesh, "_nodes_msg", None)
        if msg and msg.get("t", 0) > self._nodes_t:
            self._nodes_t = msg["t"]
            self.nodes.update(msg["nodes"], msg.get("links"))

    # -- output ----------------------------------------------------------------------------
    def tick(self, final: bool = False) -> None:
        now = time.time()
        if self.closed or (not final and now - self._last < self._interval):
            return
        self._last = now
        self._pull_nodes()
        elapsed = now - self.run.submitted
        renderer = self.run.renderer
        can_widget = callable(getattr(renderer, "widget", None))
        if self.widget is None and can_widget and (final or elapsed >= self._after):
            if final and elapsed < self._after:
                return  # quick cells stay quiet
            self._create(renderer)
        if not final and self.progress.total and now - self._recorded >= 2.0:
            self._recorded = now  # the side panel reads a running run's progress from its row
            self.run.mesh._history_update(
                self.run.id,
                summary={
                    "progress": {
                        "done": self.progress.done + self.progress.erred,
                        "total": self.progress.total,
                    }
                },
            )
        if self.widget is not None:
            self._push(elapsed)
            if final:
                renderer.update_widget(self.widget, "dashboard")
        elif (
            callable(getattr(renderer, "progress_line", None))
            and elapsed >= self._after
            and (final or now - self._text_last >= 5 * self._interval)
        ):
            self._text_last = now
            renderer.progress_line(self._text(elapsed, final))

    def _create(self, renderer: Any) -> None:
        from .widget import MeshDashboard

        w = MeshDashboard(
            run_id=self.run.id,
            name=self.run.name,
            blocking=not getattr(self.run, "noblock", False),
            dashboard_link=self.run.mesh.dashboard_link or "",
            hint=""
            if getattr(self.run, "noblock", False)
            else "to cancel a blocking run, interrupt the kernel (Ctrl-C / stop button)",
        )
        w.on_cancel(lambda: self.run.cancel("cancelled from its dashboard"))
        w.observe(
            lambda change: setattr(self, "closed", True) if change["new"] is None else None, names="comm"
        )
        self.widget = w
        renderer.widget(w, "dashboard")

    def _busy(self) -> set[str]:
        return set(self.progress.workers) | {a for a, t in self.run._targets.items() if not t.done}

    def _push(self, elapsed: float) -> None:
        w = self.widget
        with w.hold_sync():
            w.status = self.run.status
            w.elapsed = (self.run.duration if self.run.done() and self.run.duration else elapsed) or 0.0
            w.set_state(self.progress, self.nodes, self.logs, self._busy() if not self.run.done() else set())
            if self.summary is not None:
                w.summary = self.summary.as_dict()
                w.hint = ""

    def _text(self, elapsed: float, final: bool) -> str:
        p = self.progress
        head = f"[{self.run.name}] {self.run.status} {elapsed:.1f} s"
        if p.total:
            eta = p.eta()
            head += f", {p.done + p.erred}/{p.total} tasks ({p.percent:.0f} %)" + (
                f", ETA {eta:.0f} s" if eta and not final else ""
            )
        if final and self.summary is not None:
            s = self.summary
            head += "; " + bytes_text(s.bytes_transferred, s.bytes_spilled, s.peak_memory)
        return head

    def finish(self) -> dict[str, Any]:
        """The run ended: compute the summary, render it once more, stop."""
        self._pull_nodes()
        self.summary = Summary.of(self.run.duration, self.progress, self.nodes, self.transferred)
        self.tick(final=True)
        self.closed = True
        return self.summary.as_dict()

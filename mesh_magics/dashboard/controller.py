"""One run's in-cell dashboard: a view of the run's telemetry.

:class:`RunDashboard` is a run observer (:mod:`mesh_magics.core.interfaces`) attached by the
composition root (:mod:`mesh_magics.session`) when the run's renderer can show a widget
(the notebook cell) or progress lines (plain text). Driven by the run's pump (the
kernel's main thread for a blocking cell, the run's daemon thread with ``--noblock``),
never by a thread of its own: it renders when the pump ticks, at most every
``mesh.dashboard.interval`` seconds, appears only once the run has lasted
``mesh.progress.after`` seconds, and stops with the run or when its view is closed. It
reads the run's :class:`~mesh_magics.core.telemetry.RunTelemetry` and writes nothing but
its view.
"""

from __future__ import annotations

import time
from typing import Any

from .. import config
from ..core.interfaces import RunObserver
from ..core.run import MeshRun
from ..core.telemetry import RunTelemetry, bytes_text

__all__ = ["RunDashboard"]


class RunDashboard(RunObserver):
    def __init__(self, run: MeshRun, *, dashboard_link: str = "") -> None:
        assert run.telemetry is not None, "a dashboard draws the run's telemetry"
        self.run = run
        self.telemetry: RunTelemetry = run.telemetry
        self.dashboard_link = dashboard_link
        self.widget: Any = None
        self.closed = False
        self._after = float(config.get("progress.after"))
        self._interval = float(config.get("dashboard.interval"))
        self._last = 0.0
        self._text_last = 0.0

    # -- observer hooks ----------------------------------------------------------------
    def on_tick(self, run: MeshRun) -> None:
        self.tick()

    def on_end(self, run: MeshRun) -> None:
        """The run ended: render the summary once more, stop."""
        self.tick(final=True)
        self.closed = True

    # -- output ------------------------------------------------------------------------
    def tick(self, final: bool = False) -> None:
        now = time.time()
        if self.closed or (not final and now - self._last < self._interval):
            return
        self._last = now
        elapsed = now - self.run.submitted
        renderer: Any = self.run.renderer
        can_widget = callable(getattr(renderer, "widget", None))
        if self.widget is None and can_widget and (final or elapsed >= self._after):
            if final and elapsed < self._after:
                return  # quick cells stay quiet
            self._create(renderer)
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
            blocking=not self.run.noblock,
            dashboard_link=self.dashboard_link,
            hint=""
            if self.run.noblock
            else "to cancel a blocking run, interrupt the kernel (Ctrl-C / stop button)",
        )
        w.on_cancel(lambda: self.run.cancel("cancelled from its dashboard"))
        w.observe(
            lambda change: setattr(self, "closed", True) if change["new"] is None else None, names="comm"
        )
        self.widget = w
        renderer.widget(w, "dashboard")

    def _push(self, elapsed: float) -> None:
        w, t = self.widget, self.telemetry
        with w.hold_sync():
            w.status = self.run.status
            w.elapsed = (self.run.duration if self.run.done() and self.run.duration else elapsed) or 0.0
            w.set_state(t.progress, t.nodes, t.logs, t.busy(self.run))
            if t.summary is not None:
                w.summary = t.summary.as_dict()
                w.hint = ""

    def _text(self, elapsed: float, final: bool) -> str:
        p = self.telemetry.progress
        head = f"[{self.run.name}] {self.run.status} {elapsed:.1f} s"
        if p.total:
            eta = p.eta()
            head += f", {p.done + p.erred}/{p.total} tasks ({p.percent:.0f} %)" + (
                f", ETA {eta:.0f} s" if eta and not final else ""
            )
        s = self.telemetry.summary
        if final and s is not None:
            head += "; " + bytes_text(s.bytes_transferred, s.bytes_spilled, s.peak_memory)
        return head

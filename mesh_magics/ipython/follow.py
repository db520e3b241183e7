"""``%mesh follow``: a followed chain in the notebook, in the background, with its alert table.

:class:`FollowSession` composes three things and holds no logic of its own:
:func:`mesh_magics.runes.follow` (the ledger kept current, on the mesh's client), the
:class:`~mesh_magics.dashboard.alerts.AlertTable` widget it updates after each batch
(from the follow's thread: comm messages only, nothing printed into other cells), and a
history row through the core recorder (:meth:`mesh_magics.core.mesh.Mesh.record_session`):
one row per session, ``running`` while it follows, each alert (and each retraction by a
reorg) a line of its output tail, the counts in its summary, and its end status
(``finished`` when stopped, ``failed`` with the error). One session per kernel
(:func:`current`); ``%mesh follow --stop`` ends it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FollowSession", "current", "start", "stop"]

_current: FollowSession | None = None


class FollowSession:
    """One ``%mesh follow``: the follow, its widget, its history row (module doc)."""

    def __init__(self, mesh: Any, source: str, *, network: str, alerts: dict[str, Any], depth: int,
                 interval: float, start: int | None, name: str | None, line: str, max_rows: int = 50) -> None:  # fmt: skip
        from ..dashboard.alerts import AlertTable
        from ..runes.tip import follow

        self.follow = follow(source, network, alerts=alerts, depth=depth, interval=interval, start=start,
                             client=mesh.client, on_batch=self._on_batch)  # fmt: skip
        self.widget = AlertTable(title=str(source), network=self.follow.network, max_rows=max_rows)
        self.record = mesh.record_session(name or f"follow {source}", f"%mesh {line}".strip())

    def start(self) -> FollowSession:
        self.widget.show(status="following")
        self.record.note([f"following {self.follow.source.name} ({self.follow.network}) from block {self.follow.first}"],
                         self._summary())  # fmt: skip
        self.follow.start(on_end=self._on_end)
        return self

    def stop(self) -> None:
        self.follow.stop()

    def _summary(self) -> dict[str, Any]:
        f = self.follow
        return {"follow": {"source": f.source.name, "network": f.network, "height": f.height, "tip": f.tip,
                           "blocks": f.blocks, "alerts": f.n_alerts, "retracted": f.n_retracted, "reorgs": f.reorgs,
                           "status": f.status}}  # fmt: skip

    def _on_batch(self, batch: Any) -> None:
        from ..runes.tip.alerts import alert_line, display_rows

        lines = []
        note = None
        if batch.removed:
            lo, hi = batch.removed[0][0], batch.removed[-1][0]
            note = f"reorg: block{'s' if hi > lo else ''} {lo}{'..' + str(hi) if hi > lo else ''} replaced"
            lines.append(note + f", {len(batch.retracted)} alert(s) retracted")
            lines += ["retracted " + alert_line(r) for r in display_rows(batch.retracted)[::-1]]
        lines += [alert_line(r) for r in display_rows(batch.alerts)[::-1]]
        f = self.follow
        state: dict[str, Any] = dict(status=f.status, height=-1 if f.height is None else f.height, tip=f.tip,
                                     n_alerts=f.n_alerts, reorgs=f.reorgs, retracted=f.n_retracted)  # fmt: skip
        if note or f.warning:
            state["note"] = f.warning or note
        self.widget.show(list(f.recent)[::-1], **state)
        self.record.note(lines, self._summary())  # the row follows the height, alerts or not

    def _on_end(self, f: Any) -> None:
        global _current
        failed = f.error is not None and not isinstance(f.error, KeyboardInterrupt)
        status = "failed" if failed else "finished"
        note = f"stopped: {f.error}" if failed else f"stopped at block {f.height}"
        self.widget.show(status="failed" if failed else "stopped", note=note)
        self.record.note([note])
        self.record.end(status, error=str(f.error) if failed else None, summary=self._summary())
        if _current is self:
            _current = None

    def text(self) -> str:
        return str(self.widget.snapshot()["text/plain"])


def current() -> FollowSession | None:
    """This kernel's follow session, if one is running."""
    return _current


def start(mesh: Any, source: str, **options: Any) -> FollowSession:
    """Start this kernel's follow session (one at a time)."""
    global _current
    from ..errors import MeshUsageError

    if _current is not None and _current.follow.status == "following":
        raise MeshUsageError(f"already following {_current.follow.source.name}: `%mesh follow --stop` first")
    session = _current = FollowSession(mesh, source, **options).start()
    mesh.on_down(lambda _mesh: session.follow.stop(timeout=0))  # the mesh going down ends the follow
    return session


def stop() -> FollowSession | None:
    """Stop this kernel's follow session; the one stopped (None when none ran)."""
    session = _current
    if session is not None:
        session.stop()
    return session

"""The one writer of run history: :class:`RunRecorder`.

Every row of a run is written here, from submission to its end: ``queued`` with its
source and targets when submitted, ``running`` when the cell starts (written when the pump
goes round after the start: a quick cell whose start and result are read together goes from
``queued`` to its end in one write, off its round trip), the task counts of
its Dask work every two seconds while it runs (the side panel shows them as progress),
and at the end its status, error, output tails, a short result and the summary
(duration, tasks, bytes, peak memory, attempts per worker). The database is opened on
first use; when it cannot be, the mesh carries on without history and says why once
(:attr:`RunRecorder.warnings`).

Work of the kernel that is not a ``%%mesh`` cell but lasts and reports (a ``%mesh follow``
session) gets a row too, through :meth:`RunRecorder.open_session`: a :class:`SessionRecord` is
``running`` from its start, keeps the newest ``max_lines`` lines it is given as the row's
stdout tail and a summary dict, and ends with a status like a run's.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .. import config
from .interfaces import RunObserver

if TYPE_CHECKING:  # pragma: no cover
    from ..store.history import History
    from .run import MeshRun

__all__ = ["RunRecorder", "SessionRecord"]

logger = logging.getLogger("mesh_magics")

#: seconds between two progress writes of a running run
PROGRESS_EVERY = 2.0


class RunRecorder(RunObserver):
    """Writes the history rows of the runs of one mesh (``mesh`` is its address)."""

    def __init__(self, *, mesh: str, kernel_id: str | None, session: str) -> None:
        self.mesh, self.kernel_id, self.session = mesh, kernel_id, session
        self.warnings: list[str] = []
        self._history: History | None = None
        self._error: str | None = None
        self._progress_at: dict[str, float] = {}
        self._starting: set[str] = set()  # runs started whose "running" row is not written yet

    @property
    def history(self) -> History | None:
        """The history database, opened on first use; None when disabled or broken."""
        if self._history is None and self._error is None and config.get("history.enabled"):
            from ..errors import HistoryCorruptError
            from ..store.history import History, default_path, recover

            try:
                try:
                    self._history = History()
                except HistoryCorruptError as e:  # keep the bad file, start a new one
                    aside = recover(default_path())
                    self._history = History()
                    self.warnings.append(f"{e} It was moved to {aside}; a new run history was started.")
                self._history.close_orphans()  # runs a killed or restarted kernel left in flight
            except Exception as e:
                self._failed(e)
        return self._history

    def close(self) -> None:
        if self._history is not None:
            self._history.close()

    def _failed(self, e: Exception) -> None:
        if self._error is None:
            self._error = str(e)
            msg = f"run history disabled for this mesh: {e}"
            self.warnings.append(msg)
            logger.warning(msg)

    def update(self, run_id: str, **fields: Any) -> None:
        """Write ``fields`` to the row ``run_id``; a failing history is disabled, not raised."""
        h = self.history
        if h is None:
            return
        try:
            h.update(run_id, **fields)
        except Exception as e:
            self._failed(e)

    # -- the rows ------------------------------------------------------------------
    def queued(self, run: MeshRun) -> None:
        """A run was submitted."""
        h = self.history
        if h is None:
            return
        try:
            h.add(
                run.id,
                mesh=self.mesh,
                source=run.source,
                name=run.name,
                targets=run.targets,
                submitted=run.submitted,
                status="queued",
                kernel_id=self.kernel_id,
                session_id=self.session,
            )
        except Exception as e:
            self._failed(e)

    def on_start(self, run: MeshRun) -> None:
        self._starting.add(run.id)  # the next tick writes it, unless the run ends first

    def on_tick(self, run: MeshRun) -> None:
        if run.id in self._starting:
            self._starting.discard(run.id)
            self.update(run.id, status="running", started=run.started)
        t = run.telemetry
        now = time.monotonic()
        if t is None or not t.progress.total or now - self._progress_at.get(run.id, 0.0) < PROGRESS_EVERY:
            return
        self._progress_at[run.id] = now
        done = t.progress.done + t.progress.erred
        self.update(run.id, summary={"progress": {"done": done, "total": t.progress.total}})

    def on_end(self, run: MeshRun) -> None:
        self._progress_at.pop(run.id, None)
        self._starting.discard(run.id)
        err = run.error
        result = None
        if run.status == "finished":
            texts = [r.get("mimebundle", {}).get("text/plain") for r in run.results.values()]
            result = "; ".join(v for v in texts if v)[:500] or None
        self.update(
            run.id,
            status=run.status,
            started=run.started,
            finished=run.finished,
            targets=run.targets,
            error=str(err) if err else None,
            stdout_tail=run.stdout,
            stderr_tail=run.stderr,
            result=result,
            summary={**(run.summary or {"duration": run.duration}), "attempts": run.attempts()},
        )

    # -- rows of sessions that are not cells ---------------------------------------
    def open_session(self, *, name: str, source: str, max_lines: int = 500) -> SessionRecord:
        """A ``running`` row for a session that is not a ``%%mesh`` cell (see the module doc)."""
        record = SessionRecord(self, uuid.uuid4().hex, name, max_lines)
        h = self.history
        if h is not None:
            try:
                h.add(record.id, mesh=self.mesh, source=source, name=name, submitted=record.started,
                      status="running", kernel_id=self.kernel_id, session_id=self.session)  # fmt: skip
                h.update(record.id, started=record.started)
            except Exception as e:
                self._failed(e)
        return record


class SessionRecord:
    """The history row of one session (made by :meth:`RunRecorder.open_session`)."""

    def __init__(self, recorder: RunRecorder, run_id: str, name: str, max_lines: int) -> None:
        self.recorder, self.id, self.name = recorder, run_id, name
        self.lines: deque[str] = deque(maxlen=max_lines)
        self.summary: dict[str, Any] = {}
        self.status = "running"
        self.started = time.time()

    def note(self, lines: Iterable[str] = (), summary: Mapping[str, Any] | None = None) -> None:
        """Add output lines and update the summary; both written to the row at once."""
        self.lines.extend(lines)
        if summary:
            self.summary.update(summary)
        self.recorder.update(self.id, stdout_tail="\n".join(self.lines), summary=dict(self.summary))

    def end(
        self, status: str = "finished", *, error: str | None = None, summary: Mapping[str, Any] | None = None
    ) -> None:
        """Close the row as ``status`` (finished, failed, cancelled), once."""
        if self.status != "running":
            return
        self.status = status
        if summary:
            self.summary.update(summary)
        now = time.time()
        self.recorder.update(self.id, status=status, finished=now, error=error, stdout_tail="\n".join(self.lines),
                              summary={**self.summary, "duration": now - self.started})  # fmt: skip

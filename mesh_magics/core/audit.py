"""The kernel's side of the audit trail (:mod:`mesh_magics.store.audit`): :class:`MeshAuditor`.

A mesh attaches :meth:`MeshAuditor.observe` to every run as a view: it appends the run's
``submitted`` event at once (who, where, the code's hash, the targets) and returns a
:class:`RunAudit` observer that counts the run's output bytes and appends ``ended`` with
the outcome; a result-cache hit is audited the same way (it was asked for and answered), its
``detail`` naming the run it replayed. The mesh also reports its connection: ``connected`` once, ``reconnected``
after each reconnection, ``lost`` when reconnection gives up, ``down``.

The trail is opened on first use; when it cannot be (``mesh.audit.enabled`` false, an
unwritable directory), the mesh carries on without it and says why once
(:attr:`MeshAuditor.warnings`). Writing never raises into a run.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

from .. import config
from .interfaces import RunObserver

if TYPE_CHECKING:  # pragma: no cover
    from ..store.audit import AuditLog
    from .batch import BatchRun
    from .run import MeshRun

__all__ = ["MeshAuditor", "RunAudit"]

logger = logging.getLogger("mesh_magics")


class MeshAuditor:
    """Appends the audit events of one mesh (``mesh`` is its scheduler address)."""

    def __init__(self, *, mesh: str, kernel_id: str | None) -> None:
        self.mesh, self.kernel_id = mesh, kernel_id
        self.warnings: list[str] = []
        self._log: AuditLog | None = None
        self._error: str | None = None

    @property
    def log(self) -> AuditLog | None:
        """The audit trail, opened on first use; None when disabled or unusable."""
        if self._log is None and self._error is None and config.get("audit.enabled"):
            from ..store.audit import AuditLog

            try:
                self._log = AuditLog()
            except Exception as e:
                self._failed(e)
        return self._log

    def _failed(self, e: Exception) -> None:
        if self._error is None:
            self._error = str(e)
            msg = f"audit trail disabled for this mesh: {e}"
            self.warnings.append(msg)
            logger.warning(msg)

    def append(self, event: str, **fields: Any) -> None:
        """Append an event of this mesh; failures are warned about once, never raised."""
        log = self.log
        if log is None:
            return
        try:
            log.append(event, mesh=self.mesh, kernel_id=self.kernel_id, **fields)
        except Exception as e:
            self._failed(e)

    def connection(self, payload: dict[str, Any]) -> None:
        """A mesh event callback: ``connected`` (only ever emitted after a reconnection: the first
        connection is the mesh's ``connected`` event) and a final ``disconnected``."""
        if payload.get("event") == "connected":
            attempts = payload.get("attempts")
            self.append(
                "reconnected", detail=f"after {attempts} attempt(s)" if attempts else "by the client itself"
            )
        elif payload.get("event") == "disconnected" and payload.get("final"):
            self.append("lost", detail=payload.get("error"))

    def observe(self, run: MeshRun) -> RunObserver | None:
        """A view for every run: its ``submitted`` event now, its :class:`RunAudit` observer."""
        from ..store.audit import notebook_path

        if self.log is None:
            return None
        self.append(
            "submitted",
            run_id=run.id,
            notebook=notebook_path(),
            code_hash=hashlib.sha256(run.source.encode("utf-8", "backslashreplace")).hexdigest(),
            name=run.name,
            targets=run.targets,
            detail=_cached(run),
        )
        return RunAudit(self)

    def observe_batch(self, batch: BatchRun) -> None:
        """A batch's ``submitted`` event now and its ``ended`` when it ends (``%%mesh map``)."""
        from ..store.audit import notebook_path

        if self.log is None:
            return
        code_hash = hashlib.sha256(batch.source.encode("utf-8", "backslashreplace")).hexdigest()
        self.append(
            "submitted", run_id=batch.id, notebook=notebook_path(), code_hash=code_hash, name=batch.name
        )

        def ended(b: BatchRun) -> None:
            err = b.error
            self.append("ended", run_id=b.id, name=b.name, started=b.started, finished=b.finished,
                        outcome=b.status, error_type=type(err).__name__ if err is not None else None)  # fmt: skip

        batch.add_done_callback(ended)

    def close(self) -> None:
        if self._log is not None:
            self._log.close()


class RunAudit(RunObserver):
    """Counts a run's output (UTF-8 bytes of stdout and stderr) and appends its ``ended``."""

    def __init__(self, auditor: MeshAuditor) -> None:
        self.auditor = auditor
        self.output_bytes = 0

    def on_chunk(self, run: MeshRun, worker: str, stream: str, text: str) -> None:
        if stream in ("stdout", "stderr"):
            self.output_bytes += len(text.encode("utf-8", "backslashreplace"))

    def on_end(self, run: MeshRun) -> None:
        err = run.error
        self.auditor.append(
            "ended",
            run_id=run.id,
            name=run.name,
            targets=run.targets,
            started=run.started,
            finished=run.finished,
            outcome=run.status,
            error_type=type(err).__name__ if err is not None else None,
            output_bytes=self.output_bytes,
            detail=_cached(run),
        )


def _cached(run: MeshRun) -> str | None:
    """A result-cache hit's note: the run whose result it replayed (it ran nothing)."""
    return f"cached from run {run.cached_from}" if run.cached_from else None

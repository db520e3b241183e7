"""The audit trail: who ran what where, append-only, in its own SQLite file.

One row per *event* in the ``events`` table, never updated or deleted (two triggers
refuse it, so not even a bug of ours can rewrite the past):

* ``submitted`` — a run was submitted: user, host, pid, kernel, notebook path when known,
  the SHA-256 of the code (never the code), run name, target workers, mesh address;
* ``ended`` — its outcome (finished, failed, cancelled, timeout, lost), the error's class
  (never its message: messages can quote values), started and finished, output bytes;
* ``cancel`` — a cancel asked through the Jupyter server (the side panel);
* ``connected``, ``reconnected``, ``lost``, ``down`` — the mesh's connection.

:meth:`AuditLog.runs` joins ``submitted`` and ``ended`` into one record per run,
filtered by user, mesh, outcome, notebook and time; :meth:`AuditLog.export` writes them
to ``.csv`` or ``.json`` (mode 0600). No secrets: nothing of a cell but its hash is
kept, a mesh address loses any user/password and query string, and every text field
goes through :func:`scrub` (tokens, passwords, PEM blocks). The file lives at
``mesh.audit.path``, by default ``<jupyter data dir>/mesh-magics/audit.sqlite3`` (mode
0600, directory 0700), shared by every kernel of the user like the history.
"""

from __future__ import annotations

import csv
import datetime as _dt
import getpass
import json
import os
import re
import socket
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .. import config
from ..errors import AuditError
from .sqlite import SIDECARS, SharedDatabase, equal_to

__all__ = [
    "EVENTS",
    "EXPORT_SUFFIXES",
    "OUTCOMES",
    "RUN_COLUMNS",
    "AuditLog",
    "current_user",
    "default_path",
    "merged_totals",
    "notebook_path",
    "redact_address",
    "scrub",
]

#: every kind of event the trail holds
EVENTS = ("submitted", "ended", "cancel", "connected", "reconnected", "lost", "down")
#: the columns of one run as :meth:`AuditLog.runs` returns it
RUN_COLUMNS = (
    "run_id", "submitted", "user", "host", "pid", "kernel_id", "notebook", "mesh", "code_hash",
    "name", "targets", "started", "finished", "outcome", "error_type", "output_bytes",
)  # fmt: skip
#: suffixes :meth:`AuditLog.export` writes
EXPORT_SUFFIXES = (".csv", ".json")
#: what :meth:`AuditLog.runs` filters ``outcome`` by (``in-flight``: not ended yet)
OUTCOMES = ("finished", "failed", "cancelled", "timeout", "lost", "in-flight")

_FIELDS = (
    "at", "event", "run_id", "user", "host", "pid", "kernel_id", "notebook", "mesh", "code_hash",
    "name", "targets", "started", "finished", "outcome", "error_type", "output_bytes", "detail",
)  # fmt: skip
_APPEND_ONLY = "the audit trail is append-only"
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "CREATE TABLE IF NOT EXISTS events ("
        " seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, event TEXT NOT NULL,"
        " run_id TEXT, user TEXT, host TEXT, pid INTEGER, kernel_id TEXT, notebook TEXT, mesh TEXT,"
        " code_hash TEXT, name TEXT, targets TEXT, started REAL, finished REAL, outcome TEXT,"
        " error_type TEXT, output_bytes INTEGER, detail TEXT)",
        "CREATE INDEX IF NOT EXISTS events_run ON events (run_id)",
        "CREATE INDEX IF NOT EXISTS events_at ON events (at)",
        f"CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events"
        f" BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END",
        f"CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events"
        f" BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END",
    ),
}
_FIX = "set mesh.audit.path (or DASK_MESH__AUDIT__PATH) to a writable file, or mesh.audit.enabled to false"

# What must never reach the file, whatever field it hides in.
_SECRETS = (
    re.compile(r"-----BEGIN [A-Z ]*-----.*?(-----END [A-Z ]*-----|\Z)", re.S),
    re.compile(r"(?i)\b(token|password|passwd|secret|api[_-]?key|auth)([=:]\s*)[^\s&;,'\"]+"),
    re.compile(r"(?i)\b(authorization:\s*)(token|bearer|basic)\s+\S+"),
    re.compile(r"([a-z][a-z0-9+.-]*://)[^/\s@]+@"),  # credentials in a URL: scheme://user:pw@host
)


def scrub(text: Any) -> str | None:
    """``text`` with tokens, passwords and PEM blocks replaced by ``[redacted]``."""
    if text is None:
        return None
    out = str(text)
    out = _SECRETS[0].sub("[redacted]", out)
    out = _SECRETS[1].sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", out)
    out = _SECRETS[2].sub(lambda m: f"{m.group(1)}{m.group(2)} [redacted]", out)
    return _SECRETS[3].sub(lambda m: f"{m.group(1)}[redacted]@", out)


def redact_address(address: Any) -> str | None:
    """A mesh address without user, password, query or fragment (``tls://h:8786``)."""
    if address is None:
        return None
    text = str(address)
    try:
        parts = urlsplit(text)
    except ValueError:
        return scrub(text)
    if not parts.scheme or not parts.netloc:
        return scrub(text)
    netloc = parts.netloc.rpartition("@")[2]
    return scrub(urlunsplit((parts.scheme, netloc, parts.path, "", "")))


def current_user() -> str:
    """The JupyterHub user when there is one, else the login name of this process."""
    hub = os.environ.get("JUPYTERHUB_USER")
    if hub:
        return hub
    try:
        return getpass.getuser()
    except Exception:  # no login name (a container without /etc/passwd entry)
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


def notebook_path() -> str | None:
    """The notebook this kernel serves, when the Jupyter server said (``JPY_SESSION_NAME``)."""
    return os.environ.get("JPY_SESSION_NAME") or None


def default_path() -> Path:
    """``mesh.audit.path``, else ``<jupyter data dir>/mesh-magics/audit.sqlite3``."""
    configured = config.get("audit.path")
    if configured:
        return Path(os.path.expanduser(str(configured)))
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "mesh-magics" / "audit.sqlite3"


def _epoch(value: Any, name: str) -> float | None:
    """Seconds since the epoch from a number, a datetime or an ISO-8601 string."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, _dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)).timestamp()
    try:
        parsed = _dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise AuditError(
            f"{name}={value!r} is not a time; give an ISO-8601 time (2026-01-31T12:00) or seconds since the epoch"
        ) from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=_dt.timezone.utc)).timestamp()


def _iso(ts: float | None) -> str | None:
    return None if ts is None else _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).isoformat()


class AuditLog:
    """The audit trail at ``path`` (default: :func:`default_path`). Use as a context manager
    or call :meth:`close`."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *, timeout: float = 10.0) -> None:
        self.path = default_path() if path is None else Path(os.fspath(path)).expanduser()
        self._db = SharedDatabase(
            self.path,
            timeout=timeout,
            migrations=_MIGRATIONS,
            functions={},
            error=AuditError,
            label="audit trail",
            kind="audit-trail database",
            reopen="open a new AuditLog",
            fix=_FIX,
        )

    def close(self) -> None:
        """Close the connection. Idempotent."""
        self._db.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<AuditLog {str(self.path)!r}{' closed' if self._db.closed else ''}>"

    # -- writing -------------------------------------------------------------------
    def append(self, event: str, **fields: Any) -> None:
        """Append one event; who and where (user, host, pid) are filled in when not given.
        Text is scrubbed, ``mesh`` redacted, ``targets`` stored as a JSON list."""
        if event not in EVENTS:
            raise AuditError(f"unknown audit event {event!r}; expected one of {', '.join(EVENTS)}")
        unknown = sorted(set(fields) - set(_FIELDS[2:]))
        if unknown:
            raise AuditError(f"unknown audit field(s) {', '.join(unknown)}; known: {', '.join(_FIELDS[2:])}")
        row: dict[str, Any] = {"at": time.time(), "event": event, "user": current_user(),
                               "host": socket.gethostname(), "pid": os.getpid(), **fields}  # fmt: skip
        if "targets" in row:
            row["targets"] = json.dumps([redact_address(t) for t in row["targets"] or ()])
        if "mesh" in row:
            row["mesh"] = redact_address(row["mesh"])
        for key, value in row.items():
            if isinstance(value, str) and key not in ("targets", "code_hash"):
                row[key] = scrub(value)
        sql = f"INSERT INTO events ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})"
        self._db.write(sql, list(row.values()))

    # -- reading -------------------------------------------------------------------
    def events(self, n: int | None = None, *, event: str | None = None, run_id: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
        """Raw events, oldest first (the last ``n`` if given)."""
        where: list[str] = []
        params: list[Any] = []
        equal_to(where, params, event=event, run_id=run_id)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        limit = -1 if n is None else max(int(n), 0)
        rows = self._db.read(f"SELECT * FROM (SELECT * FROM events{clause} ORDER BY seq DESC LIMIT ?) ORDER BY seq", [*params, limit])  # fmt: skip
        for r in rows:
            r["targets"] = json.loads(r["targets"]) if r["targets"] else []
        return rows

    def runs(
        self,
        n: int | None = 50,
        *,
        user: str | None = None,
        mesh: str | None = None,
        outcome: str | Sequence[str] | None = None,
        notebook: str | None = None,
        since: Any = None,
        until: Any = None,
        run_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """One record per run (:data:`RUN_COLUMNS`), newest first; ``outcome`` is None while
        the run is in flight. ``run_id`` is a prefix; ``since``/``until`` bound the submission
        time (seconds, a datetime or ISO-8601 text)."""
        clauses: list[str] = ["s.event = 'submitted'"]
        params: list[Any] = []
        for column, value in (("s.user", user), ("s.notebook", notebook)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if mesh is not None:
            clauses.append("s.mesh = ?")
            params.append(redact_address(mesh))
        if outcome is not None:
            wanted = [outcome] if isinstance(outcome, str) else list(outcome)
            wrong = [o for o in wanted if o not in OUTCOMES]
            if wrong:
                raise AuditError(f"unknown outcome {wrong[0]!r}; expected one of {', '.join(OUTCOMES)}")
            open_ = "in-flight" in wanted
            closed = [o for o in wanted if o != "in-flight"]
            parts = [f"e.outcome IN ({', '.join('?' * len(closed))})"] if closed else []
            parts += ["e.outcome IS NULL"] if open_ else []
            clauses.append("(" + (" OR ".join(parts) or "0") + ")")
            params.extend(closed)
        for op, value, name in ((">=", since, "since"), ("<", until, "until")):
            ts = _epoch(value, name)
            if ts is not None:
                clauses.append(f"s.at {op} ?")
                params.append(ts)
        if run_id:
            clauses.append("substr(s.run_id, 1, ?) = ?")
            params.extend([len(run_id), run_id])
        limit = -1 if n is None else max(int(n), 0)
        rows = self._db.read(
            "SELECT s.run_id, s.at AS submitted, s.user, s.host, s.pid, s.kernel_id, s.notebook, s.mesh,"
            " s.code_hash, s.name, COALESCE(e.targets, s.targets) AS targets, e.started, e.finished,"
            " e.outcome, e.error_type, e.output_bytes"
            " FROM events s LEFT JOIN events e ON e.run_id = s.run_id AND e.event = 'ended'"
            f" WHERE {' AND '.join(clauses)} ORDER BY s.seq DESC LIMIT ?",
            [*params, limit],
        )
        for r in rows:
            r["targets"] = json.loads(r["targets"]) if r["targets"] else []
        return rows

    def users(self) -> list[str]:
        """Everyone who submitted a run, sorted."""
        rows = self._db.read(
            "SELECT DISTINCT user FROM events WHERE event = 'submitted' AND user IS NOT NULL", []
        )
        return sorted(str(r["user"]) for r in rows)

    def totals(self) -> dict[str, dict[str, float]]:
        """Per mesh: ``output_bytes`` and the counts of ``reconnected``, ``cancel`` and ended
        runs (``runs``), for the metrics page."""
        rows = self._db.read(
            "SELECT mesh, SUM(CASE WHEN event = 'ended' THEN COALESCE(output_bytes, 0) ELSE 0 END) AS output_bytes,"
            " SUM(event = 'reconnected') AS reconnected, SUM(event = 'cancel') AS cancel,"
            " SUM(event = 'ended') AS runs FROM events WHERE mesh IS NOT NULL GROUP BY mesh",
            [],
        )
        return {str(r["mesh"]): {k: float(r[k] or 0) for k in ("output_bytes", "reconnected", "cancel", "runs")} for r in rows}  # fmt: skip

    def export(self, dest: str | os.PathLike[str], *, overwrite: bool = False, **filters: Any) -> int:
        """Write the runs :meth:`runs` selects (all by default) to ``.csv`` or ``.json`` with mode
        0600, through a temporary file; return how many. An existing file is kept unless
        ``overwrite``; the audit database and its side files are never overwritten."""
        dest = Path(os.fspath(dest)).expanduser()
        suffix = dest.suffix.lower()
        if suffix not in EXPORT_SUFFIXES:
            raise AuditError(f"cannot export the audit trail to {dest}: use a name ending in {' or '.join(EXPORT_SUFFIXES)}")  # fmt: skip
        for victim in (self.path, *(self.path.with_name(self.path.name + s) for s in SIDECARS)):
            if dest.resolve() == victim.resolve():
                raise AuditError(f"cannot export the audit trail to {dest}: that is the audit database; export to another file")  # fmt: skip
        if dest.is_dir():
            raise AuditError(f"cannot export the audit trail to {dest}: it is a directory; give a file name")
        if os.path.lexists(dest) and not overwrite:
            raise AuditError(
                f"cannot export the audit trail to {dest}: the file exists. Fix: choose another name, "
                "or overwrite=True (`%mesh audit --export FILE --force`)"
            )
        rows = self.runs(filters.pop("n", None), **filters)
        records = [{**r, **{k: _iso(r[k]) for k in ("submitted", "started", "finished")}} for r in rows]
        try:
            fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")  # mode 0600
        except OSError as exc:
            raise AuditError(f"cannot export the audit trail to {dest}: {exc}") from exc
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                if suffix == ".json":
                    json.dump(records, f, indent=1, ensure_ascii=False)
                else:
                    w = csv.DictWriter(f, fieldnames=list(RUN_COLUMNS))
                    w.writeheader()
                    w.writerows({**r, "targets": json.dumps(r["targets"])} for r in records)
            os.replace(name, dest)
        except OSError as exc:
            raise AuditError(f"cannot export the audit trail to {dest}: {exc}") from exc
        finally:
            if os.path.exists(name):
                os.unlink(name)
        return len(records)


def merged_totals(logs: Iterable[AuditLog]) -> dict[str, dict[str, float]]:
    """:meth:`AuditLog.totals` of several files, added up per mesh."""
    out: dict[str, dict[str, float]] = {}
    for log in logs:
        for mesh, counts in log.totals().items():
            slot = out.setdefault(mesh, dict.fromkeys(counts, 0.0))
            for k, v in counts.items():
                slot[k] = slot.get(k, 0.0) + v
    return out

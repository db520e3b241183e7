"""Run history: one row per ``%%mesh`` run in a local SQLite database.

The database lives at ``mesh.history.path`` (``DASK_MESH__HISTORY__PATH``), by
default ``<jupyter data dir>/mesh-magics/history.sqlite3``. It is shared by every
kernel of the user, so it is opened for concurrent use by several processes:

* WAL journal mode and a busy timeout, so readers never block writers and
  writers wait for each other instead of failing;
* every write is one short ``BEGIN IMMEDIATE`` transaction (taking the write lock
  up front avoids the lock-upgrade deadlock that a busy timeout cannot resolve);
* the schema version is ``PRAGMA user_version`` and migrations only ever add;
  rows are never dropped or overwritten by ``add``.

Within a process, one :class:`History` holds ONE connection, shared by the kernel's
main thread and background threads (run watchers); see :mod:`.sqlite`. The file is
created with mode 0600 and its directory with mode 0700: cell sources and outputs can
hold secrets. Frames and exported files: :mod:`.export`; the ``runs`` table's schema and
rows: :mod:`.history_schema`.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import config
from ..errors import HistoryCorruptError, HistoryError, MeshError
from .audit import current_user
from .history_schema import (
    ACTIVE_STATUSES,
    COLUMNS,
    MIGRATIONS,
    SCHEMA_VERSION,
    STATUSES,
    TIME_COLUMNS,
    check_status,
    decode_row,
    icontains,
    sha256,
    summary_json,
    tail,
    where_clause,
)
from .sqlite import SharedDatabase

if TYPE_CHECKING:  # pragma: no cover
    import pandas

__all__ = [
    "COLUMNS",
    "ACTIVE_STATUSES",
    "EXPORT_SUFFIXES",
    "ORPHAN_ERROR",
    "SCHEMA_VERSION",
    "STATUSES",
    "TIME_COLUMNS",
    "History",
    "default_path",
    "orphaned",
    "recover",
]

#: Suffixes :meth:`History.export` understands.
EXPORT_SUFFIXES = (".csv", ".parquet", ".json")

_BUSY_TIMEOUT_S = 10.0
_FIX = "set mesh.history.path (or DASK_MESH__HISTORY__PATH) to a writable file"


def recover(path: str | os.PathLike[str]) -> Path:
    """Move an unusable history file (and its -wal/-shm files) aside, to
    ``<name>.unreadable-<UTC time>``, so a new history can start; return where it went.
    Nothing is deleted: the old file can be inspected or repaired with the sqlite3 tools."""
    path = Path(os.fspath(path))
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    aside = path.with_name(f"{path.name}.unreadable-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.unreadable-{stamp}-{n}")
    os.replace(path, aside)
    for suffix in ("-wal", "-shm"):
        extra = Path(f"{path}{suffix}")
        if extra.exists():
            os.replace(extra, Path(f"{aside}{suffix}"))
    return aside


def default_path() -> Path:
    """``mesh.history.path``, else ``<jupyter data dir>/mesh-magics/history.sqlite3``."""
    configured = config.get("history.path")
    if configured:
        return Path(os.path.expanduser(str(configured)))
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "mesh-magics" / "history.sqlite3"


class History:
    """The run-history database. Use as a context manager or call :meth:`close`."""

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, timeout: float = _BUSY_TIMEOUT_S
    ) -> None:
        self.path = default_path() if path is None else Path(os.fspath(path)).expanduser()
        self._db = SharedDatabase(
            self.path,
            timeout=timeout,
            migrations=MIGRATIONS,
            functions={"mm_icontains": (2, icontains)},
            error=HistoryError,
            corrupt=HistoryCorruptError,
            label="run history",
            kind="run-history database",
            reopen="open a new History",
            fix=_FIX,
        )

    def _error(self, what: str, exc: BaseException | None = None) -> MeshError:
        return self._db.error(what, exc)

    def _write(self, sql: str, params: Sequence[Any]) -> int:
        return self._db.write(sql, params)

    def read_sql(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a read-only ``sql`` on this database, with its lock (for :mod:`.stats`)."""
        return self._read(sql, params)

    def _read(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        return self._db.read(sql, params)

    def close(self) -> None:
        """Close the connection. Idempotent."""
        self._db.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<History {str(self.path)!r}{' closed' if self._db.closed else ''}>"

    # -- writing ------------------------------------------------------------------

    def add(
        self,
        run_id: str,
        *,
        mesh: str,
        source: str,
        name: str | None = None,
        targets: Iterable[str] = (),
        submitted: float | None = None,
        status: str = "queued",
        kernel_id: str | None = None,
        session_id: str | None = None,
        source_hash: str | None = None,
        user: str | None = None,
    ) -> None:
        """Record a new run (``user``: who submitted it, by default this process's user, see
        :func:`~.audit.current_user`). An ``run_id`` already in the history raises HistoryError."""
        check_status(status)
        row = {
            "id": str(run_id),
            "mesh": str(mesh),
            "name": name,
            "source": source,
            "source_hash": source_hash or sha256(source),
            "targets": json.dumps([str(t) for t in targets]),
            "submitted": time.time() if submitted is None else float(submitted),
            "status": status,
            "kernel_id": kernel_id,
            "session_id": session_id,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "user": current_user() if user is None else str(user),
        }
        sql = f"INSERT INTO runs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})"
        try:
            self._write(sql, list(row.values()))
        except sqlite3.IntegrityError as exc:
            raise HistoryError(
                f"run {run_id!r} is already in the run history {self.path}; run ids must be unique"
            ) from exc

    def update(self, run_id: str, **fields: Any) -> None:
        """Set columns of an existing run.

        Only known columns are accepted; ``stdout_tail``/``stderr_tail`` keep their
        last ``mesh.history.tail-bytes`` characters, ``targets`` (a list) and
        ``summary`` (a dict) are stored as JSON, and changing ``source`` without
        a ``source_hash`` recomputes the hash. A run that is not in the history
        raises HistoryError.
        """
        unknown = sorted(set(fields) - set(COLUMNS[1:]))
        if unknown:
            known = ", ".join(COLUMNS[1:])
            raise HistoryError(f"unknown run-history field(s) {', '.join(unknown)}; known: {known}")
        if not fields:
            return
        values = dict(fields)
        if "status" in values:
            check_status(values["status"])
        for key in ("stdout_tail", "stderr_tail"):
            if key in values:
                values[key] = tail(values[key])
        if "targets" in values:
            values["targets"] = json.dumps([str(t) for t in values["targets"] or ()])
        if "summary" in values:
            values["summary"] = summary_json(values["summary"])
        if "source" in values and "source_hash" not in values:
            values["source_hash"] = sha256(values["source"])
        for key in TIME_COLUMNS:
            if values.get(key) is not None:
                values[key] = float(values[key])
        assignments = ", ".join(f"{key} = ?" for key in values)
        try:
            changed = self._write(
                f"UPDATE runs SET {assignments} WHERE id = ?", [*values.values(), str(run_id)]
            )
        except sqlite3.IntegrityError as exc:  # NOT NULL columns set to None
            raise self._error(f"cannot update run {run_id!r}", exc) from exc
        if changed == 0:
            raise HistoryError(f"run {run_id!r} is not in the run history {self.path}")

    def close_orphans(self) -> int:
        """Close as ``lost`` the runs left queued or running by a process of this host that
        is gone (a kernel restarted or killed mid-run); return how many were closed.
        Runs of other hosts, and runs recorded before the history knew their process, stay."""
        rows = self._read(
            f"SELECT id, status, pid, host FROM runs WHERE status IN ({', '.join('?' * len(ACTIVE_STATUSES))}) "
            "AND pid IS NOT NULL",
            list(ACTIVE_STATUSES),
        )
        gone = [r["id"] for r in rows if orphaned(r)]
        for run_id in gone:
            self._write(
                f"UPDATE runs SET status = 'lost', finished = COALESCE(finished, ?), error = ? "
                f"WHERE id = ? AND status IN ({', '.join('?' * len(ACTIVE_STATUSES))})",
                [time.time(), ORPHAN_ERROR, run_id, *ACTIVE_STATUSES],
            )
        return len(gone)

    # -- reading ------------------------------------------------------------------

    def get(self, run_id: str) -> dict[str, Any] | None:
        """The run as a dict (``targets`` a list, ``summary`` a dict), or None."""
        rows = self._read("SELECT * FROM runs WHERE id = ?", [str(run_id)])
        return decode_row(rows[0]) if rows else None

    def items(self, run_id: str, status: str | Sequence[str] | None = None) -> list[dict[str, Any]]:
        """The per-item outcomes of a batch run (``%%mesh map``), in item order: ``index``,
        ``status``, ``attempts``, ``worker``, ``error``, ``duration``; only those in ``status``
        if given. ``[]`` for a run that is not a batch or has not ended."""
        row = self.get(run_id)
        items = list(((row or {}).get("summary") or {}).get("items") or [])
        if status is not None:
            wanted = {status} if isinstance(status, str) else set(status)
            items = [i for i in items if i.get("status") in wanted]
        return items

    def query(
        self,
        n: int | None = 20,
        *,
        status: str | Sequence[str] | None = None,
        grep: str | None = None,
        mesh: str | None = None,
        offset: int = 0,
        user: str | None = None,
    ) -> list[dict[str, Any]]:
        """Up to ``n`` runs (all if None), newest first, skipping ``offset``.

        ``status`` is one status or several; ``grep`` is a case-insensitive
        substring of the name, source, error or output tails; ``mesh`` is a
        scheduler address; ``user`` who submitted the run.
        """
        where, params = where_clause(status, grep, mesh, user)
        limit = -1 if n is None else max(int(n), 0)
        rows = self._read(
            f"SELECT * FROM runs{where} ORDER BY submitted DESC, rowid DESC LIMIT ? OFFSET ?",
            [*params, limit, max(int(offset), 0)],
        )
        return [decode_row(row) for row in rows]

    def count(
        self,
        status: str | Sequence[str] | None = None,
        grep: str | None = None,
        mesh: str | None = None,
        user: str | None = None,
    ) -> int:
        """How many runs match the same filters as :meth:`query`."""
        where, params = where_clause(status, grep, mesh, user)
        return int(self._read(f"SELECT COUNT(*) AS n FROM runs{where}", params)[0]["n"])

    def users(self) -> list[str]:
        """Everyone who submitted a run recorded here, sorted."""
        rows = self._read("SELECT DISTINCT user FROM runs WHERE user IS NOT NULL", [])
        return sorted(str(r["user"]) for r in rows)

    def to_frame(
        self,
        n: int | None = None,
        *,
        status: str | Sequence[str] | None = None,
        grep: str | None = None,
        mesh: str | None = None,
        offset: int = 0,
        user: str | None = None,
    ) -> pandas.DataFrame:
        """Matching runs as a DataFrame, newest first; timestamps are UTC datetimes."""
        from .export import frame

        return frame(self.query(n, status=status, grep=grep, mesh=mesh, offset=offset, user=user))

    def export(
        self,
        dest: str | os.PathLike[str],
        *,
        status: str | Sequence[str] | None = None,
        grep: str | None = None,
        mesh: str | None = None,
        n: int | None = None,
        overwrite: bool = False,
        user: str | None = None,
    ) -> int:
        """Write matching runs to ``dest`` (.csv, .parquet or .json); return the row count.

        Timestamps are ISO-8601 UTC strings in CSV and JSON, UTC timestamps in
        Parquet. JSON is a list of records with ``targets`` and ``summary``
        nested; CSV and Parquet hold ``summary`` as JSON text (Parquet keeps
        ``targets`` as a list, CSV as JSON text). The file is written to a
        temporary name and renamed, so a reader never sees half a file, with mode
        0600 like the database (it holds cell sources and outputs).

        Refused with HistoryError, nothing written: an existing ``dest`` unless
        ``overwrite=True``; and even then this database or the default one, their
        ``-wal``/``-shm``/``-journal`` files (also through a link), a directory, and
        any path inside the mesh registry directory.
        """
        from . import registry
        from .export import export_rows

        rows = self.query(n, status=status, grep=grep, mesh=mesh, user=user)
        return export_rows(
            rows,
            dest,
            overwrite=overwrite,
            databases=[self.path, default_path()],
            directories=[registry.configured_dir()],
        )


#: the error of a run its kernel left in flight
ORPHAN_ERROR = "its kernel exited while the run was in flight"


def orphaned(row: Mapping[str, Any]) -> bool:
    """Whether a queued or running row was left by a process of this host that is gone."""
    import psutil

    pid = row.get("pid")
    if row.get("status") not in ACTIVE_STATUSES or not pid or row.get("host") != socket.gethostname():
        return False
    return int(pid) != os.getpid() and not psutil.pid_exists(int(pid))

"""The ``runs`` table of the run history (:mod:`.history`): its schema and its rows.

The columns, the statuses a run can have and the migrations that bring a database to
:data:`SCHEMA_VERSION` (they only ever add); how a row is written (output tails cut to
``mesh.history.tail-bytes``, the source's hash, the summary as JSON) and read back
(``targets`` and ``summary`` decoded); and the ``WHERE`` clause of the history's filters
(status, a case-insensitive ``grep`` of the text columns, mesh, user).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from .. import config
from ..errors import HistoryError
from .sqlite import equal_to

__all__ = [
    "ACTIVE_STATUSES",
    "COLUMNS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "STATUSES",
    "TIME_COLUMNS",
    "check_status",
    "decode_row",
    "icontains",
    "sha256",
    "summary_json",
    "tail",
    "where_clause",
]

#: Version of the schema the history writes (``PRAGMA user_version``).
SCHEMA_VERSION = 4
#: Every status a run can have.
STATUSES = ("queued", "running", "finished", "failed", "cancelled", "timeout", "lost")
#: Columns of the ``runs`` table, in order.
COLUMNS = (
    "id", "mesh", "name", "source", "source_hash", "targets", "submitted", "started",
    "finished", "status", "error", "stdout_tail", "stderr_tail", "result", "summary",
    "kernel_id", "session_id", "pid", "host", "user", "cached_from",
)  # fmt: skip
#: Statuses of a run that has not ended.
ACTIVE_STATUSES = ("queued", "running")
#: Columns holding times (seconds since the epoch, UTC).
TIME_COLUMNS = ("submitted", "started", "finished")

_GREP_COLUMNS = ("name", "source", "error", "stdout_tail", "stderr_tail")

# Migrations: version -> statements that bring the schema from version-1 to it.
# Only ever append; never drop or rewrite existing data.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "CREATE TABLE IF NOT EXISTS runs ("
        " id TEXT PRIMARY KEY NOT NULL, mesh TEXT NOT NULL, name TEXT, source TEXT NOT NULL,"
        " source_hash TEXT NOT NULL, targets TEXT NOT NULL DEFAULT '[]', submitted REAL NOT NULL,"
        " started REAL, finished REAL, status TEXT NOT NULL, error TEXT, stdout_tail TEXT,"
        " stderr_tail TEXT, result TEXT, summary TEXT, kernel_id TEXT, session_id TEXT)",
        "CREATE INDEX IF NOT EXISTS runs_submitted ON runs (submitted)",
        "CREATE INDEX IF NOT EXISTS runs_status ON runs (status)",
        "CREATE INDEX IF NOT EXISTS runs_mesh ON runs (mesh)",
    ),
    # the process that recorded a run, so a run its kernel left behind can be closed
    2: ("ALTER TABLE runs ADD COLUMN pid INTEGER", "ALTER TABLE runs ADD COLUMN host TEXT"),
    # who submitted the run (the side panel filters by it)
    3: ("ALTER TABLE runs ADD COLUMN user TEXT", "CREATE INDEX IF NOT EXISTS runs_user ON runs (user)"),
    # a run served from the result cache (%%mesh --cache): the id of the run it replays
    4: ("ALTER TABLE runs ADD COLUMN cached_from TEXT",),
}


def tail(text: Any) -> str | None:
    """The last ``mesh.history.tail-bytes`` characters of ``text`` (all if the limit is null)."""
    limit = config.get("history.tail-bytes")
    if text is None or limit is None:
        return None if text is None else str(text)
    limit = max(int(limit), 0)
    return str(text)[-limit:] if limit else ""


def sha256(text: str) -> str:
    """The ``source_hash`` of a cell source."""
    return hashlib.sha256(str(text).encode("utf-8", "backslashreplace")).hexdigest()


def icontains(haystack: str | None, needle: str) -> bool:
    """``mm_icontains``, the SQL function of ``grep``: ``needle`` is already casefolded."""
    return haystack is not None and needle in str(haystack).casefold()


def check_status(status: Any) -> None:
    """Refuse (HistoryError) a status that is not one of :data:`STATUSES`."""
    if status not in STATUSES:
        raise HistoryError(f"unknown run status {status!r}; expected one of {', '.join(STATUSES)}")


def summary_json(summary: Any) -> str | None:
    """A run summary as stored: JSON text (None stays None)."""
    if summary is None:
        return None
    if not isinstance(summary, Mapping):
        raise HistoryError(f"run summary must be a dict, not {type(summary).__name__}")
    return json.dumps(dict(summary), default=str)


def decode_row(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row as the history returns it: ``targets`` a list, ``summary`` a dict or None."""
    out = dict(row)
    out["targets"] = json.loads(out["targets"]) if out["targets"] else []
    out["summary"] = json.loads(out["summary"]) if out["summary"] else None
    return out


def where_clause(
    status: str | Sequence[str] | None, grep: str | None, mesh: str | None, user: str | None = None
) -> tuple[str, list[Any]]:
    """The ``WHERE`` clause (empty without filters) and its parameters of the history's filters."""
    clauses: list[str] = []
    params: list[Any] = []
    if status is not None:
        statuses = [status] if isinstance(status, str) else list(status)
        for s in statuses:
            check_status(s)
        if not statuses:
            clauses.append("0")
        else:
            clauses.append(f"status IN ({', '.join('?' * len(statuses))})")
            params.extend(statuses)
    if grep:
        clauses.append("(" + " OR ".join(f"mm_icontains({c}, ?)" for c in _GREP_COLUMNS) + ")")
        params.extend([grep.casefold()] * len(_GREP_COLUMNS))
    equal_to(clauses, params, mesh=mesh, user=user)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

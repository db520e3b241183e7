"""Read-only view of the run history for the server: several databases, one listing.

Kernels write their runs to ``mesh.history.path``; a kernel started with another
setting records its database in its registry entry (``history_path``). The
server reads :func:`mesh_magics.store.history.default_path` plus every distinct
``history_path`` of the registry, skipping files that do not exist (the server
never creates a database) and files that are the same database under another
name. Runs are merged newest first and deduplicated by id.

Everything here is synchronous SQLite through :class:`~mesh_magics.store.history.History`
(one connection per database, reads never block the kernels' writes in WAL
mode); the manager calls it from a worker thread.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..store.history import ACTIVE_STATUSES, ORPHAN_ERROR, STATUSES, History, default_path, orphaned
from ..store.sqlite import existing_files
from .errors import BadRequest

__all__ = ["ACTIVE_STATUSES", "MAX_LIMIT", "RunQuery", "RunStore", "parse_query"]

#: Largest page ``GET runs`` serves.
MAX_LIMIT = 500
_MAX_OFFSET = 1_000_000
_MAX_TEXT = 500
_TAILS = ("stdout_tail", "stderr_tail")
_WATCHED = 100  # newest runs whose changes the events feed reports (plus every active run)
_IGNORED = ("token", "_xsrf")  # Jupyter's own query parameters


@dataclass(frozen=True)
class RunQuery:
    """A validated ``GET runs`` query."""

    status: tuple[str, ...] | None = None
    mesh: str | None = None
    q: str | None = None
    offset: int = 0
    limit: int = 50
    user: str | None = None


def _int(name: str, raw: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name}={raw[:40]!r} is not an integer") from None
    if not low <= value <= high:
        raise BadRequest(f"{name}={value} is out of range: {low}..{high}")
    return value


def parse_query(params: Mapping[str, str]) -> RunQuery:
    """Validate ``status``, ``mesh``, ``q``, ``user``, ``offset`` and ``limit`` (BadRequest on any error).

    ``status`` is one status or several separated by commas; empty values mean
    "no filter".
    """
    # Ignored: Jupyter's own parameters, and the bare timestamp JupyterLab's
    # ServerConnection appends as a cache-buster (``?1700000000000``).
    unknown = sorted(
        k
        for k in set(params) - {"status", "mesh", "q", "user", "offset", "limit", *_IGNORED}
        if not (k.isdigit() and not params[k])
    )
    if unknown:
        raise BadRequest(
            f"unknown query parameter(s) {', '.join(unknown)}; known: status, mesh, q, user, offset, limit"
        )
    for name in ("mesh", "q", "user"):
        if len(params.get(name) or "") > _MAX_TEXT:
            raise BadRequest(f"{name} is longer than {_MAX_TEXT} characters")
    status = None
    if params.get("status"):
        status = tuple(s.strip() for s in params["status"].split(",") if s.strip())
        wrong = [s for s in status if s not in STATUSES]
        if wrong:
            raise BadRequest(f"unknown status {wrong[0][:40]!r}; expected one of {', '.join(STATUSES)}")
    return RunQuery(
        status=status or None,
        mesh=params.get("mesh") or None,
        q=params.get("q") or None,
        offset=_int("offset", params["offset"], 0, _MAX_OFFSET) if params.get("offset") else 0,
        limit=_int("limit", params["limit"], 1, MAX_LIMIT) if params.get("limit") else 50,
        user=params.get("user") or None,
    )


def _settled(row: dict[str, Any]) -> dict[str, Any]:
    """A run its kernel left in flight reads as lost (the server never writes the history;
    the next kernel that opens it records the same)."""
    if orphaned(row):
        return {**row, "status": "lost", "error": row.get("error") or ORPHAN_ERROR}
    return row


def _listed(row: dict[str, Any]) -> dict[str, Any]:
    """A row as listings show it: without the output tails or a batch's per-item outcomes
    (``summary.items``, one row per item: the detail has them, ``summary.batch`` counts
    them), with ``progress`` (0..1, or None) from the task counts the kernel's dashboard
    writes into ``summary.progress``."""
    out = {k: v for k, v in _settled(row).items() if k not in _TAILS}
    summary = row.get("summary") if isinstance(row.get("summary"), dict) else None
    if summary and "items" in summary:
        out["summary"] = {k: v for k, v in summary.items() if k != "items"}
    prog = (summary or {}).get("progress")
    total = int((prog or {}).get("total") or 0)
    out["progress"] = min(1.0, int(prog.get("done") or 0) / total) if prog and total else None
    return out


def _fingerprint(row: Mapping[str, Any]) -> str:
    keys = ("status", "name", "started", "finished", "error", "summary", "targets")
    return json.dumps([row.get(k) for k in keys], sort_keys=True, default=str)


class RunStore:
    """The run-history databases the server reads.

    ``extra_paths`` returns the ``history_path`` values of the registry now;
    ``default`` (default: :func:`~mesh_magics.store.history.default_path`) gives the
    default database.
    """

    def __init__(
        self,
        extra_paths: Callable[[], Iterable[str | None]] = tuple,
        default: Callable[[], Path] = default_path,
    ) -> None:
        self._extra_paths = extra_paths
        self._default = default
        self._lock = threading.Lock()
        self._open: dict[tuple[int, int], History] = {}

    def paths(self) -> list[Path]:
        """The existing databases, each once (the same file under two names counts once)."""
        return [path for path, _ in existing_files([self._default(), *self._extra_paths()])]

    def histories(self) -> list[History]:
        """The existing databases, open (for the metrics page)."""
        return self._histories()

    def _histories(self) -> list[History]:
        out = []
        with self._lock:
            for path in self.paths():
                st = path.stat()
                key = (st.st_dev, st.st_ino)
                if key not in self._open:
                    self._open[key] = History(path, timeout=2.0)
                out.append(self._open[key])
        return out

    def page(self, query: RunQuery) -> dict[str, Any]:
        """``{"runs", "total", "offset", "limit", "users"}``: newest first, tails left out;
        ``users`` is everyone with runs in the databases (the panel's user filter)."""
        status, grep, mesh, user = query.status, query.q, query.mesh, query.user
        histories = self._histories()
        if len(histories) == 1:
            h = histories[0]
            rows = h.query(query.limit, offset=query.offset, status=status, grep=grep, mesh=mesh, user=user)
            total = h.count(status=status, grep=grep, mesh=mesh, user=user)
        else:
            total, merged = 0, []
            for h in histories:
                total += h.count(status=status, grep=grep, mesh=mesh, user=user)
                merged.extend(
                    h.query(query.offset + query.limit, status=status, grep=grep, mesh=mesh, user=user)
                )
            merged.sort(key=lambda r: r["submitted"] or 0.0, reverse=True)
            seen: set[str] = set()
            unique = []
            for r in merged:  # the same run in two databases (a copy): list it once
                if r["id"] not in seen:
                    seen.add(r["id"])
                    unique.append(r)
            rows = unique[query.offset : query.offset + query.limit]
        return {
            "runs": [_listed(r) for r in rows],
            "total": total,
            "offset": query.offset,
            "limit": query.limit,
            "users": sorted({u for h in histories for u in h.users()}),
        }

    def get(self, run_id: str) -> dict[str, Any] | None:
        """The full row of ``run_id`` (tails and summary included), or None."""
        for h in self._histories():
            row = h.get(run_id)
            if row is not None:
                return _settled(row)
        return None

    def signature(self) -> tuple[tuple[str, int, int], ...]:
        """Sizes and mtimes of the databases and their WAL files: changes when a kernel commits."""
        sig = []
        for path in self.paths():
            for name in (str(path), f"{path}-wal"):
                try:
                    st = os.stat(name)
                except OSError:
                    continue
                sig.append((name, st.st_mtime_ns, st.st_size))
        return tuple(sig)

    def watched(self) -> dict[str, dict[str, Any]]:
        """The runs the events feed watches: the newest ones and every active one, by id."""
        rows: dict[str, dict[str, Any]] = {}
        for h in self._histories():
            for row in [*h.query(_WATCHED), *h.query(None, status=ACTIVE_STATUSES)]:
                rows.setdefault(row["id"], _listed(row))
        return rows

    def changes(self, before: Mapping[str, str]) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """Rows new or changed since the fingerprints ``before``; and the fingerprints now."""
        rows = self.watched()
        for run_id, fp in before.items():  # an old run that ended has left both watched sets
            if run_id not in rows and json.loads(fp)[0] in ACTIVE_STATUSES:
                row = self.get(run_id)
                if row is not None:
                    rows[run_id] = _listed(row)
        now = {run_id: _fingerprint(row) for run_id, row in rows.items()}
        changed = [rows[run_id] for run_id, fp in now.items() if before.get(run_id) != fp]
        changed.sort(key=lambda r: r["submitted"] or 0.0, reverse=True)
        return changed, now

    def close(self) -> None:
        """Close every database connection."""
        with self._lock:
            for h in self._open.values():
                h.close()
            self._open.clear()

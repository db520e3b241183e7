"""Aggregates of a run history for the metrics page: :func:`run_stats`.

Counted in SQL (one pass per query, whatever the history's size), per mesh with its
address redacted (:func:`mesh_magics.store.audit.redact_address`): runs by status (a run
its kernel left in flight counts as ``lost``, as everywhere else), and the durations of
the runs that ended, as cumulative histogram buckets with their sum.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .audit import redact_address
from .history import ACTIVE_STATUSES, orphaned

if TYPE_CHECKING:  # pragma: no cover
    from .history import History

__all__ = ["DURATION_BUCKETS", "MeshRunStats", "merge", "run_stats"]

#: upper bounds (seconds) of the run-duration histogram's buckets (+Inf is added)
DURATION_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0, 3600.0, 14400.0)


@dataclass
class MeshRunStats:
    """The runs of one mesh: ``by_status`` counts, ``buckets`` (cumulative counts of ended
    runs at most as long as each bound of :data:`DURATION_BUCKETS`), ``count`` and ``total``
    (seconds) of ended runs."""

    by_status: dict[str, int] = field(default_factory=dict)
    buckets: list[int] = field(default_factory=lambda: [0] * len(DURATION_BUCKETS))
    count: int = 0
    total: float = 0.0

    def add(self, other: MeshRunStats) -> None:
        for status, n in other.by_status.items():
            self.by_status[status] = self.by_status.get(status, 0) + n
        self.buckets = [a + b for a, b in zip(self.buckets, other.buckets)]
        self.count += other.count
        self.total += other.total


def run_stats(history: History) -> dict[str, MeshRunStats]:
    """Per mesh (redacted address): the runs of ``history`` by status and their durations."""
    read = history.read_sql
    out: dict[str, MeshRunStats] = {}

    def slot(mesh: object) -> MeshRunStats:
        return out.setdefault(redact_address(mesh) or "", MeshRunStats())

    marks = ", ".join("?" * len(ACTIVE_STATUSES))
    for row in read(f"SELECT mesh, status, COUNT(*) AS n FROM runs WHERE status NOT IN ({marks}) GROUP BY mesh, status", list(ACTIVE_STATUSES)):  # fmt: skip
        s = slot(row["mesh"])
        s.by_status[row["status"]] = s.by_status.get(row["status"], 0) + int(row["n"])
    for row in read(f"SELECT mesh, status, pid, host FROM runs WHERE status IN ({marks})", list(ACTIVE_STATUSES)):  # fmt: skip
        status = "lost" if orphaned(row) else str(row["status"])
        s = slot(row["mesh"])
        s.by_status[status] = s.by_status.get(status, 0) + 1
    cases = ", ".join(f"SUM(CASE WHEN finished - started <= {float(b)!r} THEN 1 ELSE 0 END) AS b{i}" for i, b in enumerate(DURATION_BUCKETS))  # fmt: skip
    sql = (
        f"SELECT mesh, COUNT(*) AS n, SUM(finished - started) AS total, {cases} FROM runs "
        f"WHERE started IS NOT NULL AND finished IS NOT NULL AND status NOT IN ({marks}) GROUP BY mesh"
    )
    for row in read(sql, list(ACTIVE_STATUSES)):
        s = slot(row["mesh"])
        s.count += int(row["n"])
        s.total += float(row["total"] or 0.0)
        s.buckets = [a + int(row[f"b{i}"] or 0) for i, a in enumerate(s.buckets)]
    return out


def merge(parts: Sequence[dict[str, MeshRunStats]]) -> dict[str, MeshRunStats]:
    """Several histories' :func:`run_stats`, added up per mesh."""
    out: dict[str, MeshRunStats] = {}
    for part in parts:
        for mesh, stats in part.items():
            out.setdefault(mesh, MeshRunStats()).add(stats)
    return out

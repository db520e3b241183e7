"""Prometheus metrics of the meshes and runs: ``GET <base_url>mesh/api/metrics``.

Rendered by prometheus-client (its own registry, not the server's global one, so the
Jupyter server's ``/metrics`` is unchanged) from what the server already reads, at scrape
time: the run histories (:mod:`mesh_magics.store.stats`), the audit trails
(:mod:`mesh_magics.store.audit`) and the registry with each mesh's probed state. The
route is authenticated like every other (a scraper sends ``Authorization: token …``).

=========================================  =====================================================
``mesh_magics_meshes{state}``              meshes of the registry by state (connected, ...)
``mesh_magics_mesh_info{...}``             1 per mesh: id, scheduler, kind, state, and
                                           ``scheduler_metrics``, the Dask scheduler's own
                                           ``/metrics`` through the authenticated proxy
``mesh_magics_runs_total{mesh,status}``    runs that ended, by status
``mesh_magics_runs_in_flight{mesh}``       runs queued or running now
``mesh_magics_run_duration_seconds``       histogram of ended runs' durations, per mesh
``mesh_magics_cancellations_total{mesh}``  runs that ended cancelled
``mesh_magics_run_output_bytes_total``     stdout + stderr bytes of ended runs (audit trail)
``mesh_magics_reconnects_total{mesh}``     reconnections of a kernel to its mesh (audit trail)
``mesh_magics_cancel_requests_total``      cancels asked through this server, by result
=========================================  =====================================================

Mesh labels are scheduler addresses without credentials or query strings.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..store.audit import AuditLog, merged_totals
from ..store.audit import default_path as default_audit_path
from ..store.history import ACTIVE_STATUSES
from ..store.sqlite import existing_files
from ..store.stats import DURATION_BUCKETS, MeshRunStats, merge, run_stats

__all__ = ["CONTENT_TYPE", "MeshMetrics", "Snapshot"]

#: the exposition format's content type, as prometheus-client writes it
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class Snapshot:
    """What one scrape reports (see the module docstring)."""

    meshes: list[dict[str, Any]] = field(default_factory=list)
    runs: dict[str, MeshRunStats] = field(default_factory=dict)
    audit: dict[str, dict[str, float]] = field(default_factory=dict)


class AuditFiles:
    """The audit trails the server reads: the default one and each registry entry's
    ``audit_path``, only those that exist (the server never creates one), each once."""

    def __init__(self, extra_paths: Callable[[], Iterable[str | None]] = tuple) -> None:
        self._extra = extra_paths
        self._lock = threading.Lock()
        self._open: dict[tuple[int, int], AuditLog] = {}

    def logs(self) -> list[AuditLog]:
        out = []
        with self._lock:
            for path, key in existing_files([default_audit_path(), *self._extra()]):
                if key not in self._open:
                    self._open[key] = AuditLog(path, timeout=2.0)
                if self._open[key] not in out:
                    out.append(self._open[key])
        return out

    def close(self) -> None:
        with self._lock:
            for log in self._open.values():
                log.close()
            self._open.clear()


def read_snapshot(histories: Iterable[Any], audits: AuditFiles, meshes: list[dict[str, Any]]) -> Snapshot:
    """The databases' side of a scrape (synchronous SQLite: call it in a worker thread)."""
    return Snapshot(
        meshes=meshes,
        runs=merge([run_stats(h) for h in histories]),
        audit=merged_totals(audits.logs()),
    )


class _Collector:
    """A prometheus-client collector of the current :class:`Snapshot`."""

    def __init__(self) -> None:
        self.snapshot = Snapshot()

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        snap = self.snapshot
        states = GaugeMetricFamily("mesh_magics_meshes", "Meshes in the registry, by state", labels=["state"])
        counts: dict[str, int] = {"connected": 0, "unreachable": 0, "gone": 0}
        for m in snap.meshes:
            counts[str(m.get("state"))] = counts.get(str(m.get("state")), 0) + 1
        for state, n in sorted(counts.items()):
            states.add_metric([state], n)
        yield states
        info = GaugeMetricFamily(
            "mesh_magics_mesh_info",
            "One per registered mesh; scheduler_metrics is the scheduler's own /metrics through the server",
            labels=["mesh_id", "scheduler", "kind", "state", "scheduler_metrics"],
        )
        for m in snap.meshes:
            info.add_metric(
                [str(m.get(k) or "") for k in ("id", "scheduler_address", "kind", "state", "metrics_link")], 1
            )
        yield info

        ended = CounterMetricFamily(
            "mesh_magics_runs", "Runs that ended, by status", labels=["mesh", "status"]
        )
        flight = GaugeMetricFamily("mesh_magics_runs_in_flight", "Runs queued or running", labels=["mesh"])
        cancelled = CounterMetricFamily(
            "mesh_magics_cancellations", "Runs that ended cancelled", labels=["mesh"]
        )
        hist = HistogramMetricFamily(
            "mesh_magics_run_duration_seconds", "Durations of runs that ended", labels=["mesh"], unit=""
        )
        for mesh, s in sorted(snap.runs.items()):
            for status, n in sorted(s.by_status.items()):
                if status not in ACTIVE_STATUSES:
                    ended.add_metric([mesh, status], n)
            flight.add_metric([mesh], sum(s.by_status.get(a, 0) for a in ACTIVE_STATUSES))
            cancelled.add_metric([mesh], s.by_status.get("cancelled", 0))
            bounds = [(repr(float(b)), n) for b, n in zip(DURATION_BUCKETS, s.buckets)]
            hist.add_metric([mesh], [*bounds, ("+Inf", s.count)], sum_value=s.total)
        yield from (ended, flight, cancelled, hist)

        out_bytes = CounterMetricFamily(
            "mesh_magics_run_output_bytes", "stdout and stderr bytes of runs that ended", labels=["mesh"]
        )
        reconnects = CounterMetricFamily(
            "mesh_magics_reconnects", "Reconnections of kernels to their mesh", labels=["mesh"]
        )
        for mesh, totals in sorted(snap.audit.items()):
            out_bytes.add_metric([mesh], totals.get("output_bytes", 0.0))
            reconnects.add_metric([mesh], totals.get("reconnected", 0.0))
        yield from (out_bytes, reconnects)


class MeshMetrics:
    """The server's metrics: one prometheus-client registry with the scrape-time collector and
    the counters of what this server does itself."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter

        self.registry = CollectorRegistry(auto_describe=False)
        self._collector = _Collector()
        self.registry.register(self._collector)
        self.cancel_requests = Counter(
            "mesh_magics_cancel_requests",
            "Cancels asked through this Jupyter server, by result",
            ["result"],
            registry=self.registry,
        )

    def render(self, snapshot: Snapshot) -> bytes:
        """The exposition text of ``snapshot`` plus this server's counters."""
        from prometheus_client import generate_latest

        self._collector.snapshot = snapshot
        return generate_latest(self.registry)

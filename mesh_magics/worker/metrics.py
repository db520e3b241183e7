"""The one reading of a worker's scheduler record: :class:`WorkerInfo`.

``Client.scheduler_info()["workers"][address]``, the scheduler's ``identity()`` reply and
``WorkerState.identity()`` (inside the scheduler plugin) all give the same record: name,
host, threads, memory limit, resources, the heartbeat's ``metrics`` (CPU, memory, task
counts, spilled bytes, NVML's GPU utilisation and memory) and the worker's static extras
(``gpu``: model name and total memory). :func:`worker_info` is the only place that knows
those keys; ``%mesh status``, the in-cell node map and the side panel's node listing all
read :class:`WorkerInfo`.

Standard library only: the scheduler plugin imports it on the scheduler.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ACTIVE_TASK_STATES", "WorkerInfo", "describe_workers", "worker_info"]

#: worker task states that count as a worker's "tasks"
ACTIVE_TASK_STATES = ("executing", "long-running", "ready", "constrained", "waiting")


@dataclass(frozen=True)
class WorkerInfo:
    """One worker as every view shows it."""

    address: str
    name: str
    host: str
    threads: int
    memory_limit: int
    memory: int
    tasks: int
    cpu: float = 0.0
    spilled: int = 0
    processing: int = 0
    gpu_name: str | None = None
    gpu_memory_total: int | None = None
    gpu_memory_used: int | None = None
    gpu_utilization: float | None = None
    resources: dict[str, float] | None = None


def worker_info(address: str, record: Mapping[str, Any], *, processing: int | None = None) -> WorkerInfo:
    """:class:`WorkerInfo` of one worker record (see the module doc).

    ``processing`` is the number of tasks the scheduler has assigned to the worker right
    now, where the caller knows it (the scheduler plugin); otherwise the heartbeat's
    executing count stands in.
    """
    metrics = record.get("metrics") or {}
    counts = metrics.get("task_counts") or {}
    gpu_now = metrics.get("gpu") or {}
    gpu = record.get("gpu") or {}
    spilled = (metrics.get("spilled_bytes") or {}).get("disk") or 0
    return WorkerInfo(
        address=address,
        name=str(record.get("name", address)),
        host=str(record.get("host", "")),
        threads=int(record.get("nthreads") or 0),
        memory_limit=int(record.get("memory_limit") or 0),
        memory=int(metrics.get("memory") or 0),
        tasks=sum(int(counts.get(k, 0)) for k in ACTIVE_TASK_STATES),
        cpu=float(metrics.get("cpu") or 0.0),
        spilled=int(spilled),
        processing=int(counts.get("executing", 0)) if processing is None else int(processing),
        gpu_name=gpu.get("name"),
        gpu_memory_total=gpu.get("memory-total"),
        gpu_memory_used=gpu_now.get("memory-used"),
        gpu_utilization=gpu_now.get("utilization"),
        resources=dict(record.get("resources") or {}) or None,
    )


def describe_workers(info: Mapping[str, Any]) -> list[WorkerInfo]:
    """Every worker of a ``scheduler_info()`` / ``identity()`` reply, sorted by name."""
    workers: Mapping[str, Mapping[str, Any]] = info.get("workers") or {}
    rows = [worker_info(address, w) for address, w in workers.items()]
    return sorted(rows, key=lambda w: w.name)

"""Starting the embedded mesh and describing any mesh.

``%mesh up`` starts a dask-cuda ``LocalCUDACluster`` (one worker per GPU) when
GPUs are detected *safely* — dask_cuda importable and an NVML device count
above zero, asked through ``distributed.diagnostics.nvml`` which answers 0
instead of raising when there is no driver — and a ``LocalCluster`` of worker
processes otherwise. ``describe`` turns ``Client.scheduler_info()`` into the
rows ``%mesh status`` and the reprs show.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from typing import Any

from . import config
from .errors import GPUUnavailableError, MeshConfigError

_PRELOAD = "mesh_magics._worker_setup"

__all__ = ["GpuProbe", "WorkerInfo", "describe_workers", "gpu_probe", "start_local"]


@dataclass(frozen=True)
class GpuProbe:
    """What the GPU detection found, and why not when it found nothing."""

    count: int
    dask_cuda: bool
    reason: str

    @property
    def usable(self) -> bool:
        return self.count > 0 and self.dask_cuda


def gpu_probe() -> GpuProbe:
    """Count NVIDIA GPUs without ever raising (no driver, no pynvml, no dask-cuda)."""
    has_dask_cuda = importlib.util.find_spec("dask_cuda") is not None
    try:
        from distributed.diagnostics import nvml

        count = int(nvml.device_get_count())
    except Exception as e:  # a broken driver must not break `%mesh up`
        return GpuProbe(0, has_dask_cuda, f"NVML query failed: {e}")
    if count == 0:
        return GpuProbe(0, has_dask_cuda, "no NVIDIA GPU visible through NVML")
    if not has_dask_cuda:
        return GpuProbe(count, False, "dask-cuda is not installed (pip install 'mesh-magics[gpu]')")
    return GpuProbe(count, True, f"{count} NVIDIA GPU(s)")


def start_local(
    *,
    kind: str = "auto",
    n_workers: int | None = None,
    threads_per_worker: int | None = None,
    memory_limit: str | int | None = None,
) -> tuple[Any, str]:
    """Start the embedded mesh; return ``(cluster, kind)``, kind ``local-gpu`` or ``local-cpu``."""
    if kind not in ("auto", "cpu", "gpu"):
        raise MeshConfigError(f"mesh.cluster.kind must be auto, cpu or gpu, not {kind!r}")
    if n_workers is not None and n_workers < 1:
        raise MeshConfigError(f"--workers must be at least 1, not {n_workers}")
    if threads_per_worker is not None and threads_per_worker < 1:
        raise MeshConfigError(f"--threads must be at least 1, not {threads_per_worker}")
    memory_limit = memory_limit if memory_limit is not None else config.get("cluster.memory-limit")
    dashboard = config.get("cluster.dashboard-address")
    probe = gpu_probe() if kind in ("auto", "gpu") else None
    if kind == "gpu" and not (probe and probe.usable):
        raise GPUUnavailableError(
            f"--gpu asked for a GPU mesh, but {probe.reason if probe else 'no probe ran'}. "
            "Use `%mesh up --cpu` (or plain `%mesh up`) for a CPU mesh, or run where "
            "NVIDIA GPUs and mesh-magics[gpu] are installed."
        )
    if probe is not None and probe.usable:
        from dask_cuda import LocalCUDACluster

        kwargs: dict[str, Any] = {
            "dashboard_address": dashboard,
            "silence_logs": logging.ERROR,
            "preload": [_PRELOAD],
        }
        if n_workers is not None:
            if n_workers > probe.count:
                raise MeshConfigError(
                    f"--workers {n_workers} asks for more GPU workers than the "
                    f"{probe.count} GPU(s) visible; a GPU mesh runs one worker per GPU."
                )
            kwargs["n_workers"] = n_workers
        if threads_per_worker is not None:
            kwargs["threads_per_worker"] = threads_per_worker
        if memory_limit is not None:
            kwargs["memory_limit"] = memory_limit
        return LocalCUDACluster(**kwargs), "local-gpu"

    from distributed import LocalCluster

    if n_workers is None:
        n_workers = config.get("cluster.n-workers") or min(4, os.cpu_count() or 1)
    if threads_per_worker is None:
        threads_per_worker = config.get("cluster.threads-per-worker") or max(
            1, (os.cpu_count() or 1) // n_workers
        )
    cluster = LocalCluster(
        n_workers=n_workers,
        threads_per_worker=threads_per_worker,
        processes=True,
        memory_limit=memory_limit,
        dashboard_address=dashboard,
        # worker processes share the kernel's stderr: their log lines would land
        # in whatever cell runs. Keep them to errors; the logs view reads the rest.
        silence_logs=logging.ERROR,
        preload=[_PRELOAD],  # workers ignore the SIGINT of a kernel interrupt
    )
    return cluster, "local-cpu"


#: worker task states that count as "tasks" in ``%mesh status``
_ACTIVE = ("executing", "long-running", "ready", "constrained", "waiting")


@dataclass(frozen=True)
class WorkerInfo:
    """One row of ``%mesh status``."""

    address: str
    name: str
    host: str
    threads: int
    memory_limit: int
    memory: int
    tasks: int
    gpu_name: str | None = None
    gpu_memory_total: int | None = None
    gpu_memory_used: int | None = None
    gpu_utilization: float | None = None
    resources: dict[str, float] | None = None


def describe_workers(info: dict[str, Any]) -> list[WorkerInfo]:
    """Rows from ``Client.scheduler_info()`` (GPU fields from NVML heartbeats)."""
    rows = []
    for addr, w in sorted(info.get("workers", {}).items(), key=lambda kv: str(kv[1].get("name"))):
        metrics = w.get("metrics", {}) or {}
        gpu_rt = metrics.get("gpu") or {}
        gpu_static = w.get("gpu") or {}
        rows.append(
            WorkerInfo(
                address=addr,
                name=str(w.get("name", addr)),
                host=str(w.get("host", "")),
                threads=int(w.get("nthreads", 0)),
                memory_limit=int(w.get("memory_limit") or 0),
                memory=int(metrics.get("memory", 0) or 0),
                tasks=sum(int((metrics.get("task_counts") or {}).get(k, 0)) for k in _ACTIVE),
                gpu_name=gpu_static.get("name"),
                gpu_memory_total=gpu_static.get("memory-total"),
                gpu_memory_used=gpu_rt.get("memory-used"),
                gpu_utilization=gpu_rt.get("utilization"),
                resources=dict(w.get("resources") or {}) or None,
            )
        )
    return rows

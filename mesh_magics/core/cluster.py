"""Starting the embedded mesh.

``mesh_magics.up()`` (``%mesh up``) starts a dask-cuda ``LocalCUDACluster`` (one worker per GPU) when
GPUs are detected *safely* — dask_cuda importable and an NVML device count
above zero, asked through ``distributed.diagnostics.nvml`` which answers 0
instead of raising when there is no driver — and a ``LocalCluster`` of worker
processes otherwise.

Both start their workers with ``MALLOC_MMAP_THRESHOLD_`` set to
``mesh.cluster.malloc-mmap-threshold`` (32 MiB) beside distributed's own
``MALLOC_TRIM_THRESHOLD_=65536``. Setting a trim threshold turns off glibc's
dynamic mmap threshold, so every allocation of 128 KiB or more (each numpy or
Arrow buffer of a partition) became a fresh ``mmap``, page-faulted in and
unmapped when freed. The columnar kernels of the whale suite ran ~1.5x slower
for it than in a plain process. 32 MiB is the ceiling glibc's dynamic threshold
grows to by itself; the trim threshold still returns freed memory. Measured in
BENCHMARKS.md ("The workers' allocator"). A value the user set in
``distributed.nanny.pre-spawn-environ`` wins, and nothing is added where that
config has no trim threshold (glibc's dynamic threshold then still works).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from .. import config
from ..errors import GPUUnavailableError, MeshConfigError, named

_PRELOAD = "mesh_magics.worker.preload"

__all__ = ["GpuProbe", "gpu_probe", "start_local", "worker_environ"]

_PRE_SPAWN = "distributed.nanny.pre-spawn-environ"
_MMAP = "MALLOC_MMAP_THRESHOLD_"
_ours: str | None = None  # the value of _MMAP this module last had nannies write into os.environ


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


def worker_environ() -> dict[str, Any]:
    """The environment the embedded mesh's nannies set before they spawn a worker:
    distributed's ``pre-spawn-environ`` with the malloc mmap threshold added (see above)."""
    import dask
    import distributed  # noqa: F401  (its config defaults)

    env = dict(dask.config.get(_PRE_SPAWN, default={}) or {})
    threshold = config.get("cluster.malloc-mmap-threshold")
    exported = os.environ.get(_MMAP)  # distributed lets an exported variable win over its config
    users = _MMAP in env or (exported is not None and exported != _ours)
    if threshold is not None and "MALLOC_TRIM_THRESHOLD_" in env and not users:
        env[_MMAP] = int(dask.utils.parse_bytes(threshold))
    return env


@contextmanager
def _worker_environ() -> Iterator[None]:
    """Nannies made in this block spawn with :func:`worker_environ`; they keep it for their
    restarts. Like distributed's own variables it stays in this process's ``os.environ``
    (a nanny writes it there, and later nannies read an exported value before their config),
    so a value this module had written is taken out first: the next mesh reads its setting."""
    global _ours
    import dask

    if _ours is not None and os.environ.get(_MMAP) == _ours:
        del os.environ[_MMAP]
    env = worker_environ()
    ours = _MMAP in env and env[_MMAP] != dask.config.get(_PRE_SPAWN, default={}).get(_MMAP)
    with dask.config.set({_PRE_SPAWN: env}):
        yield
    if ours:
        _ours = str(env[_MMAP])


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
        raise MeshConfigError(named("{workers} must be at least 1, not {n}", n=n_workers))
    if threads_per_worker is not None and threads_per_worker < 1:
        raise MeshConfigError(named("{threads} must be at least 1, not {n}", n=threads_per_worker))
    memory_limit = memory_limit if memory_limit is not None else config.get("cluster.memory-limit")
    try:
        config.check("cluster.memory-limit", memory_limit)
    except MeshConfigError:
        raise MeshConfigError(
            named(
                "{memory_limit} {value!r} is not a memory size: give 4GiB, 500MB, a number of "
                "bytes, 0 for no limit, or auto",
                value=memory_limit,
            )
        ) from None
    dashboard = config.get("cluster.dashboard-address")
    probe = gpu_probe() if kind in ("auto", "gpu") else None
    if kind == "gpu" and not (probe and probe.usable):
        raise GPUUnavailableError(
            named(
                "{kind='gpu'} asked for a GPU mesh, but {reason}. Use {kind='cpu'} (or the "
                "default, auto) for a CPU mesh, or run where NVIDIA GPUs and mesh-magics[gpu] "
                "are installed.",
                reason=probe.reason if probe else "no probe ran",
            )
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
                    named(
                        "{workers} {n} asks for more GPU workers than the {count} GPU(s) "
                        "visible; a GPU mesh runs one worker per GPU.",
                        n=n_workers,
                        count=probe.count,
                    )
                )
            kwargs["n_workers"] = n_workers
        if threads_per_worker is not None:
            kwargs["threads_per_worker"] = threads_per_worker
        if memory_limit is not None:
            kwargs["memory_limit"] = memory_limit
        with _worker_environ():
            return LocalCUDACluster(**kwargs), "local-gpu"

    from distributed import LocalCluster

    if n_workers is None:
        n_workers = config.get("cluster.n-workers") or min(4, os.cpu_count() or 1)
    if threads_per_worker is None:
        threads_per_worker = config.get("cluster.threads-per-worker") or max(
            1, (os.cpu_count() or 1) // n_workers
        )
    with _worker_environ():
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

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

They also set ``ARROW_DEFAULT_MEMORY_POOL`` to ``mesh.cluster.arrow-memory-pool``
(jemalloc). Arrow's default pool, mimalloc, returned the pages of freed buffers to
the system so soon that a fresh worker faulted in every partition it read anew:
reading Parquet and dictionary-encoding took ~1.5-2x the CPU they take with
jemalloc (BENCHMARKS.md, "Stop 31"). A pool this pyarrow was built without is not
asked for (jemalloc is missing from some builds, e.g. on Windows; asking imports
pyarrow, ~35 ms of ``%mesh up``), and a value the user set or exported wins, as for
the mmap threshold.
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
_POOL = "ARROW_DEFAULT_MEMORY_POOL"
_ours: dict[str, str] = {}  # the values of _MMAP and _POOL this module last had nannies write into os.environ


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
    distributed's ``pre-spawn-environ`` with the malloc mmap threshold and Arrow's
    memory pool added (see above)."""
    import dask
    import distributed  # noqa: F401  (its config defaults)

    env = dict(dask.config.get(_PRE_SPAWN, default={}) or {})
    threshold = config.get("cluster.malloc-mmap-threshold")
    if threshold is not None and "MALLOC_TRIM_THRESHOLD_" in env and not _users(env, _MMAP):
        env[_MMAP] = int(dask.utils.parse_bytes(threshold))
    pool = config.get("cluster.arrow-memory-pool")
    if pool is not None and not _users(env, _POOL) and _pool_built(pool):
        env[_POOL] = pool
    return env


def _users(env: dict[str, Any], name: str) -> bool:
    """Whether the user set ``name`` for the workers: in ``pre-spawn-environ``, or exported
    (distributed lets an exported variable win over its config) other than as this module left it."""
    exported = os.environ.get(name)
    return name in env or (exported is not None and exported != _ours.get(name))


def _pool_built(pool: str) -> bool:
    """Whether this pyarrow has the memory pool ``pool`` (``jemalloc_memory_pool`` raises where not)."""
    import pyarrow as pa

    try:
        getattr(pa, f"{pool}_memory_pool")()
    except NotImplementedError:
        return False
    return True


@contextmanager
def _worker_environ() -> Iterator[None]:
    """Nannies made in this block spawn with :func:`worker_environ`; they keep it for their
    restarts. Like distributed's own variables it stays in this process's ``os.environ``
    (a nanny writes it there, and later nannies read an exported value before their config),
    so a value this module had written is taken out first: the next mesh reads its setting."""
    import dask

    for name, value in list(_ours.items()):
        if os.environ.get(name) == value:
            del os.environ[name]
    env = worker_environ()
    users = dask.config.get(_PRE_SPAWN, default={}) or {}
    added = {name: str(env[name]) for name in (_MMAP, _POOL) if name in env and env[name] != users.get(name)}
    with dask.config.set({_PRE_SPAWN: env}):
        yield
    _ours.update(added)


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

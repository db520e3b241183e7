"""The embedded mesh's workers allocate like a plain process: glibc's mmap threshold.

distributed starts every worker with ``MALLOC_TRIM_THRESHOLD_=65536``, which turns off
glibc's dynamic mmap threshold: each buffer of 128 KiB or more became an ``mmap`` of its
own, faulted in page by page and unmapped when freed. ``%mesh up`` adds
``MALLOC_MMAP_THRESHOLD_`` (``mesh.cluster.malloc-mmap-threshold``) so such buffers come
from the heap again. The worker test reads glibc's own count of mmapped blocks.
"""

from __future__ import annotations

import ctypes
import ctypes.util

import dask
import distributed  # noqa: F401  (its config defaults: the pre-spawn environment)
import pytest
from _mesh import isolated_mesh

from mesh_magics.core.cluster import worker_environ

_PRE = "distributed.nanny.pre-spawn-environ"


def test_the_threshold_is_added_beside_distributeds_trim_threshold():
    env = worker_environ()
    assert env["MALLOC_TRIM_THRESHOLD_"] == 65536  # distributed's own, kept
    assert env["MALLOC_MMAP_THRESHOLD_"] == 32 * 2**20
    with dask.config.set({"mesh.cluster.malloc-mmap-threshold": "8MiB"}):
        assert worker_environ()["MALLOC_MMAP_THRESHOLD_"] == 8 * 2**20


def test_a_users_own_environment_wins_and_null_adds_nothing():
    with dask.config.set({f"{_PRE}.MALLOC_MMAP_THRESHOLD_": 1234}):
        assert worker_environ()["MALLOC_MMAP_THRESHOLD_"] == 1234
    with dask.config.set({"mesh.cluster.malloc-mmap-threshold": None}):
        assert "MALLOC_MMAP_THRESHOLD_" not in worker_environ()
    # no trim threshold: glibc's dynamic threshold still works, so none is fixed
    without_trim = {k: v for k, v in dask.config.get(_PRE).items() if k != "MALLOC_TRIM_THRESHOLD_"}
    with dask.config.set({_PRE: without_trim}):
        assert "MALLOC_MMAP_THRESHOLD_" not in worker_environ()


def test_a_bad_threshold_is_refused_when_set():
    from mesh_magics import config
    from mesh_magics.errors import MeshConfigError

    with pytest.raises(MeshConfigError, match="malloc-mmap-threshold"):
        config.set_value("cluster.malloc-mmap-threshold", "lots")


def _mmapped_blocks_around_a_4mib_buffer() -> tuple[int, int, str]:
    """(glibc's mmapped blocks before, while a 4 MiB buffer lives, the env var) in this process."""
    import ctypes
    import ctypes.util
    import os

    import numpy as np

    class Mallinfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in
                    ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                     "uordblks", "fordblks", "keepcost")]  # fmt: skip

    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.mallinfo2.restype = Mallinfo2
    before = libc.mallinfo2().hblks
    buf = np.ones(4 * 2**20, dtype=np.uint8)
    during = libc.mallinfo2().hblks
    del buf
    return before, during, os.environ.get("MALLOC_MMAP_THRESHOLD_", "")


def _has_mallinfo2() -> bool:
    name = ctypes.util.find_library("c")
    return bool(name) and hasattr(ctypes.CDLL(name), "mallinfo2")


@pytest.mark.skipif(not _has_mallinfo2(), reason="glibc's mallinfo2 (glibc >= 2.33) is needed to count mmaps")
def test_a_workers_4mib_buffer_comes_from_the_heap_not_its_own_mmap(tmp_path):
    with isolated_mesh(tmp_path) as m:
        answers = m.client.run(_mmapped_blocks_around_a_4mib_buffer)
    assert len(answers) == 2
    for before, during, env in answers.values():
        assert env == str(32 * 2**20)
        assert during == before, "the buffer was mmapped on its own: the threshold did not apply"


@pytest.mark.skipif(not _has_mallinfo2(), reason="glibc's mallinfo2 (glibc >= 2.33) is needed to count mmaps")
def test_the_next_mesh_reads_its_own_setting_and_a_small_threshold_mmaps_the_buffer(tmp_path):
    # the control (the count can see an mmap, so the test before could fail), and a later
    # mesh in the same process is not stuck with the value an earlier one left in os.environ
    with isolated_mesh(tmp_path / "a"):
        pass
    with isolated_mesh(tmp_path / "b", cluster__malloc_mmap_threshold=131072) as m:
        answers = m.client.run(_mmapped_blocks_around_a_4mib_buffer)
    for before, during, env_value in answers.values():
        assert env_value == "131072"
        assert during == before + 1


# --------------------------------------------------------------------------- Arrow's memory pool


def _jemalloc_built() -> bool:
    import pyarrow as pa

    try:
        pa.jemalloc_memory_pool()
    except NotImplementedError:
        return False
    return True


needs_jemalloc = pytest.mark.skipif(not _jemalloc_built(), reason="this pyarrow was built without jemalloc")


@needs_jemalloc
def test_arrows_pool_is_added_and_follows_its_setting():
    assert worker_environ()["ARROW_DEFAULT_MEMORY_POOL"] == "jemalloc"
    with dask.config.set({"mesh.cluster.arrow-memory-pool": "system"}):
        assert worker_environ()["ARROW_DEFAULT_MEMORY_POOL"] == "system"
    with dask.config.set({"mesh.cluster.arrow-memory-pool": None}):
        assert "ARROW_DEFAULT_MEMORY_POOL" not in worker_environ()
    with dask.config.set({f"{_PRE}.ARROW_DEFAULT_MEMORY_POOL": "mimalloc"}):
        assert worker_environ()["ARROW_DEFAULT_MEMORY_POOL"] == "mimalloc"  # the user's own wins


def test_a_pool_this_pyarrow_lacks_is_not_asked_for(monkeypatch):
    import pyarrow as pa

    def missing() -> None:
        raise NotImplementedError("built without jemalloc")

    monkeypatch.setattr(pa, "jemalloc_memory_pool", missing)  # what a build without jemalloc answers
    with dask.config.set({"mesh.cluster.arrow-memory-pool": "jemalloc"}):
        assert "ARROW_DEFAULT_MEMORY_POOL" not in worker_environ()


def test_a_bad_pool_is_refused_when_set():
    from mesh_magics import config
    from mesh_magics.errors import MeshConfigError

    with pytest.raises(MeshConfigError, match="arrow-memory-pool"):
        config.set_value("cluster.arrow-memory-pool", "tcmalloc")


def _arrow_pool() -> tuple[str, str]:
    import os

    import pyarrow as pa

    return pa.default_memory_pool().backend_name, os.environ.get("ARROW_DEFAULT_MEMORY_POOL", "")


@needs_jemalloc
def test_the_workers_allocate_arrow_buffers_with_the_pool_set(tmp_path):
    with isolated_mesh(tmp_path / "a") as m:
        first = m.client.run(_arrow_pool)
    with isolated_mesh(tmp_path / "b", cluster__arrow_memory_pool="system") as m:
        second = m.client.run(_arrow_pool)  # not stuck with what the first mesh left in os.environ
    assert len(first) == len(second) == 2
    assert set(first.values()) == {("jemalloc", "jemalloc")}
    assert set(second.values()) == {("system", "system")}

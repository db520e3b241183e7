"""Test scaffolding for a real embedded mesh: one with its own history and registry, and
the wait for a session's actor (the direct path)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["isolated_mesh", "ready"]


@contextmanager
def isolated_mesh(directory: Path, **settings: Any) -> Iterator[Any]:
    """``mesh_magics.up(workers=2, threads=1, kind="cpu")`` with its history and registry in
    ``directory`` and any other ``mesh.*`` settings given (``run__session_actors=True`` for
    ``mesh.run.session-actors``); down when the block ends."""
    import dask

    import mesh_magics

    cfg = {
        "mesh.history.path": str(directory / "history.sqlite3"),
        "mesh.registry.path": str(directory / "registry"),
    }
    cfg.update({"mesh." + k.replace("__", ".").replace("_", "-"): v for k, v in settings.items()})
    with dask.config.set(cfg):
        m = mesh_magics.up(workers=2, threads=1, kind="cpu")
        try:
            yield m
        finally:
            m.down()


def ready(mesh: Any, address: str | None = None, timeout: float = 30) -> str:
    """Until the session's actor on ``address`` (the session's worker) is ready; its address."""
    mesh.run("pass", on=[address] if address else "any")
    address = address or mesh._dispatch.home
    deadline = time.time() + timeout
    while mesh._dispatch.actors.ready(mesh.client, address) is None:
        assert time.time() < deadline, f"no actor on {address} in time"
        time.sleep(0.05)
    return address

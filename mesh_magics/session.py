"""This process's mesh: :func:`up`, :func:`connect`, :func:`current`.

The composition root: it builds a :class:`~mesh_magics.core.mesh.Mesh` from a Client
(:mod:`mesh_magics.core.connection`), wires in the views every run gets (the in-cell
dashboard, :mod:`mesh_magics.dashboard.controller`, whenever the run's renderer can show
it) and the Jupyter kernel the process is, and keeps the one current mesh. The magics
and plain Python both come through here.
"""

from __future__ import annotations

import os
from typing import Any

from .core.connection import Opened, local_client, remote_client
from .core.interfaces import RunObserver
from .core.mesh import Mesh
from .core.run import MeshRun
from .errors import MeshUsageError, NoMeshError, named

__all__ = ["connect", "current", "up"]

_current: Mesh | None = None


def current() -> Mesh:
    """The mesh of this session; :class:`NoMeshError` if there is none."""
    if _current is None or _current.state == "closed":
        raise NoMeshError()
    return _current


def live() -> Mesh | None:
    """The mesh of this session if one is up, else None (never raises)."""
    return _current if _current is not None and _current.state != "closed" else None


def up(
    *,
    workers: int | None = None,
    threads: int | None = None,
    memory_limit: str | int | None = None,
    kind: str | None = None,
) -> Mesh:
    """Start the embedded mesh (GPU if detected, else CPU processes), or return the live one."""
    global _current
    mesh = live()
    if mesh is not None:
        return mesh
    _current = _mesh(local_client(workers=workers, threads=threads, memory_limit=memory_limit, kind=kind))
    return _current


def connect(
    target: Any,
    *,
    tls_ca: str | None = None,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    timeout: float = 10,
) -> Mesh:
    """Join an existing mesh: a scheduler address, a ``Cluster`` or a ``Client``."""
    global _current
    mesh = live()
    if mesh is not None:
        raise MeshUsageError(named("already on mesh {address}; {mesh.down()} first", address=mesh.address))
    _current = _mesh(
        remote_client(target, tls_ca=tls_ca, tls_cert=tls_cert, tls_key=tls_key, timeout=timeout)
    )
    return _current


def _mesh(opened: Opened) -> Mesh:
    mesh: Mesh | None = None

    def dashboard(run: MeshRun) -> RunObserver | None:
        """The in-cell dashboard, for renderers that show widgets or progress lines."""
        renderer = run.renderer
        if run.telemetry is None or not (
            callable(getattr(renderer, "widget", None)) or callable(getattr(renderer, "progress_line", None))
        ):
            return None
        from .dashboard.controller import RunDashboard

        return RunDashboard(run, dashboard_link=(mesh.dashboard_link if mesh is not None else None) or "")

    try:
        mesh = Mesh(opened, views=[dashboard], kernel_id=_kernel_id(), preloads=_preloads())
    except Exception:
        if opened.owns_client:
            opened.client.close()
        if opened.owns_cluster and opened.cluster is not None:
            opened.cluster.close()
        raise
    mesh.on_down(_forget)
    return mesh


def _forget(mesh: Mesh) -> None:
    global _current
    if _current is mesh:
        _current = None


def _preloads() -> list[str]:
    """The worker setup modules plugins registered (:mod:`mesh_magics.plugins`)."""
    from . import plugins

    return [module for _, module in plugins.load().preloads]


def _kernel_id() -> str | None:
    """The id of the Jupyter kernel this process is, if it is one (its connection file's name)."""
    try:
        from ipykernel.connect import get_connection_file

        name = os.path.basename(get_connection_file())
        return name.removeprefix("kernel-").removesuffix(".json") or None
    except Exception:
        return None

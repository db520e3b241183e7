"""mesh-magics: run notebook cells on a Dask mesh, with live output and history.

In a notebook::

    %load_ext mesh_magics
    %mesh up

From Python, the same core the magics use::

    import mesh_magics
    mesh = mesh_magics.up()          # or mesh_magics.connect("tls://...")
    run = mesh.run("print('hi'); x = 1")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from . import chain, errors, runes
    from .core.mesh import Mesh
    from .core.run import MeshRun
    from .session import connect, current, up

#: public name -> the module that defines it (None: the name is a sub-module)
_LAZY = {
    "Mesh": "core.mesh",
    "up": "session",
    "connect": "session",
    "current": "session",
    "MeshRun": "core.run",
    "errors": None,
    "runes": None,
    "chain": None,
}

__all__ = [
    "Mesh",
    "MeshRun",
    "__version__",
    "chain",
    "connect",
    "current",
    "errors",
    "load_ipython_extension",
    "runes",
    "unload_ipython_extension",
    "up",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'mesh_magics' has no attribute {name!r}")
    mod = _LAZY[name]
    if mod is None:
        value = importlib.import_module(f".{name}", __name__)
    else:
        value = getattr(importlib.import_module(f".{mod}", __name__), name)
    globals()[name] = value
    return value


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext mesh_magics``: register ``%mesh`` and ``%%mesh``."""
    from .ipython.magics import load

    load(ipython)


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """The Jupyter server extension behind the side panel (``mesh_magics.server``)."""
    return [{"module": "mesh_magics.server"}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """The prebuilt JupyterLab extension shipped in the wheel."""
    return [{"src": "labextension", "dest": "mesh-magics"}]


def unload_ipython_extension(ipython: Any) -> None:
    from .ipython.magics import unload

    unload(ipython)

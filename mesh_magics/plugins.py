"""Plugins: packages that extend mesh-magics through the ``mesh_magics.plugins`` entry point.

A plugin package declares, in its ``pyproject.toml``::

    [project.entry-points."mesh_magics.plugins"]
    my-team = "my_team_mesh:register"

and ``register`` receives a :class:`PluginAPI`::

    def register(api):
        api.templates("templates")                 # a directory of template files, beside the module
        api.template("/abs/path/report.py")        # or one file, or a templates.Template
        api.preload("my_team_mesh.worker_setup")   # a module run on every worker (its dask_setup(worker))
        api.tile("queue", lambda mesh: "<b>...</b>")  # shown by %mesh dashboard: mesh -> displayable
        api.loader("my-format", read_my_format)    # plugins.loader("my-format")(path, ...)

Plugins are loaded once per process (:func:`load`), when the IPython extension loads,
when the Jupyter server extension loads and when templates are listed. A plugin that
cannot be imported, whose ``register`` raises, or that registers something malformed is
recorded in :attr:`Loaded.problems` with its package, what failed and the fix; everything
it registered is dropped and every other plugin, and mesh-magics itself, carries on.
``mesh.plugins.enabled: false`` turns them all off.

Import rule (``tests/test_layers.py``): the standard library, ``config``, ``errors`` and the
templates; the worker side of preloads is :mod:`mesh_magics.worker.preload`.
"""

from __future__ import annotations

import importlib
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from . import config
from .errors import PluginError

__all__ = ["GROUP", "Loaded", "PluginAPI", "load", "loader", "loaders", "tiles"]

#: the entry-point group plugins register under
GROUP = "mesh_magics.plugins"


@dataclass
class Loaded:
    """What the plugins registered, in load order, and the ``problems`` of those that failed."""

    names: list[str] = field(default_factory=list)
    templates: list[tuple[str, Any]] = field(default_factory=list)
    preloads: list[tuple[str, str]] = field(default_factory=list)
    tiles: list[tuple[str, str, Callable[[Any], Any]]] = field(default_factory=list)
    loaders: dict[str, tuple[str, Callable[..., Any]]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


class PluginAPI:
    """What a plugin's ``register(api)`` may call; ``name`` is its entry point's name,
    ``root`` the directory of the module that holds ``register``."""

    def __init__(self, name: str, root: Path | None) -> None:
        self.name, self.root = name, root
        self.registered = Loaded()

    def _path(self, path: str | os.PathLike[str]) -> Path:
        p = Path(os.fspath(path)).expanduser()
        return p if p.is_absolute() or self.root is None else self.root / p

    def template(self, template: Any) -> None:
        """One template: a file (``.py``/``.ipynb``, relative to the plugin's module) or a
        :class:`mesh_magics.templates.Template`."""
        from .templates import Template

        if not isinstance(template, Template):
            template = self._path(template)
            if not template.is_file():
                raise PluginError(f"template file {template} does not exist")
        self.registered.templates.append((self.name, template))

    def templates(self, directory: str | os.PathLike[str]) -> None:
        """Every ``.py``/``.ipynb`` template of ``directory`` (relative to the plugin's module)."""
        d = self._path(directory)
        if not d.is_dir():
            raise PluginError(f"template directory {d} does not exist")
        for p in sorted([*d.glob("*.py"), *d.glob("*.ipynb")]):
            if not p.name.startswith(("_", ".")):
                self.registered.templates.append((self.name, p))

    def preload(self, module: str) -> None:
        """A module every worker of a mesh imports (calling its ``dask_setup(worker)`` if it has
        one), like a Dask preload: on the embedded mesh and on meshes connected to."""
        if not all(part.isidentifier() for part in str(module).split(".")):
            raise PluginError(f"preload {module!r} is not a module name (a.b.c)")
        self.registered.preloads.append((self.name, module))

    def tile(self, title: str, render: Callable[[Any], Any]) -> None:
        """A dashboard tile: ``render(mesh)`` returns anything IPython displays; ``%mesh dashboard``
        shows it under ``title``."""
        if not callable(render):
            raise PluginError(f"tile {title!r}: render must be callable (mesh -> displayable)")
        self.registered.tiles.append((self.name, str(title), render))

    def loader(self, name: str, fn: Callable[..., Any]) -> None:
        """A loader, found again with :func:`loader` ``(name)``."""
        if not callable(fn):
            raise PluginError(f"loader {name!r} must be callable")
        self.registered.loaders[str(name)] = (self.name, fn)


_loaded: Loaded | None = None


def _entry_points() -> list[metadata.EntryPoint]:
    return sorted(metadata.entry_points(group=GROUP), key=lambda ep: ep.name)


def _package(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return getattr(dist, "name", None) or ep.value.split(":")[0].split(".")[0]


def load(reload: bool = False) -> Loaded:
    """Every plugin's registrations (cached; ``reload=True`` loads them again). Never raises:
    a plugin that fails is one line of :attr:`Loaded.problems`."""
    global _loaded
    if _loaded is not None and not reload:
        return _loaded
    out = Loaded()
    if not config.get("plugins.enabled"):
        _loaded = out
        return out
    for ep in _entry_points():
        package = _package(ep)
        fix = (
            f"Fix: upgrade or uninstall the package {package} (`pip uninstall {package}`), or set "
            "mesh.plugins.enabled to false"
        )
        try:
            register = ep.load()
            if not callable(register):
                raise PluginError(f"{ep.value} is not callable; it must be register(api)")
            module = importlib.import_module(ep.value.split(":")[0])
            file = getattr(module, "__file__", None)
            root = Path(file).parent if file else None
            api = PluginAPI(ep.name, root)
            register(api)
        except Exception as e:
            where = traceback.extract_tb(e.__traceback__)[-1] if e.__traceback__ else None
            at = f" at {Path(where.filename).name}:{where.lineno}" if where else ""
            out.problems.append(
                f"plugin {ep.name!r} ({ep.value}, package {package}) failed to load{at}: "
                f"{type(e).__name__}: {e}. {fix}"
            )
            continue
        got = api.registered
        out.names.append(ep.name)
        out.templates += got.templates
        out.preloads += got.preloads
        out.tiles += got.tiles
        for key, value in got.loaders.items():
            if key in out.loaders:
                out.problems.append(f"plugin {ep.name!r}: loader {key!r} is already registered by {out.loaders[key][0]}; ignored")  # fmt: skip
            else:
                out.loaders[key] = value
    _loaded = out
    return out


def loaders() -> dict[str, str]:
    """Every registered loader's name and the plugin that registered it."""
    return {name: plugin for name, (plugin, _) in load().loaders.items()}


def loader(name: str) -> Callable[..., Any]:
    """The loader a plugin registered as ``name``; PluginError naming the known ones."""
    found = load().loaders.get(name)
    if found is None:
        known = ", ".join(sorted(load().loaders)) or "none (no plugin registers one)"
        raise PluginError(
            f"no loader {name!r}; registered loaders: {known}. Install the plugin that provides it"
        )
    return found[1]


def tiles() -> list[tuple[str, str, Callable[[Any], Any]]]:
    """``(plugin, title, render)`` of every registered dashboard tile."""
    return list(load().tiles)

"""Registry of live meshes: one small JSON file per kernel.

Each kernel that brings up or connects to a mesh writes
``<registry dir>/mesh-<id>.json`` (``id`` is the kernel id when known, else
``pid-<pid>``). The JupyterLab side panel (a Jupyter server extension) finds
meshes by reading these files, so nothing is ever injected into a kernel.

The directory is ``mesh.registry.path`` (``DASK_MESH__REGISTRY__PATH``), by
default ``<jupyter runtime dir>/mesh-magics``, created with mode 0700; files
have mode 0600. Files are written atomically (temporary file + ``os.replace``),
so a reader sees the old entry or the new one, never half of one. A kernel
removes its file when it exits normally (:func:`install_exit_cleanup`); a file
left behind by a killed kernel is *stale* (its pid is gone) and :func:`prune`
removes it.

An entry, as :func:`entries` returns it::

    {"id": "5b1f...", "scheduler_address": "tcp://127.0.0.1:8786",
     "dashboard_link": "http://127.0.0.1:8787/status", "kernel_id": "5b1f...",
     "kind": "local-cpu", "pid": 4242, "host": "laptop",
     "created": "2026-01-01T12:00:00+00:00", "version": "0.1.0",
     "session_id": None, "history_path": None,          # optional
     "path": "/run/user/1000/jupyter/mesh-magics/mesh-5b1f....json",
     "stale": False}
"""

from __future__ import annotations

import atexit
import datetime as _dt
import json
import os
import re
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any

import psutil

from .. import config
from .._version import __version__
from ..errors import RegistryError

__all__ = [
    "KINDS",
    "REQUIRED_KEYS",
    "configured_dir",
    "entries",
    "entry_path",
    "install_exit_cleanup",
    "is_stale",
    "prune",
    "register",
    "registry_dir",
    "unregister",
]

#: What kind of mesh an entry describes.
KINDS = ("local-cpu", "local-gpu", "connected")
#: Keys :func:`register` requires; ``dashboard_link`` and ``kernel_id`` default to None.
REQUIRED_KEYS = ("id", "scheduler_address", "kind", "pid")

_PREFIX, _SUFFIX = "mesh-", ".json"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_FIX = "set mesh.registry.path (or DASK_MESH__REGISTRY__PATH) to a writable directory"


def configured_dir() -> Path:
    """Where the registry directory is (``mesh.registry.path`` or the default), not created."""
    configured = config.get("registry.path")
    if configured:
        return Path(os.path.expanduser(str(configured)))
    from jupyter_core.paths import jupyter_runtime_dir

    return Path(jupyter_runtime_dir()) / "mesh-magics"


def registry_dir() -> Path:
    """The registry directory, created (mode 0700) if missing."""
    path = configured_dir()
    if not path.is_dir():
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(path, 0o700)  # mkdir's mode is subject to the umask
        except OSError as exc:
            msg = f"cannot create the mesh registry {path}: {exc}. Fix: {_FIX}."
            raise RegistryError(msg) from exc
    return path


def entry_path(entry_id: str) -> Path:
    """The file of ``entry_id``: ``mesh-<id>.json``, the id reduced to ``[A-Za-z0-9_.-]``."""
    return registry_dir() / f"{_PREFIX}{_UNSAFE.sub('_', str(entry_id))}{_SUFFIX}"


def register(entry: dict[str, Any]) -> Path:
    """Write (or replace) the registry file of ``entry["id"]``; return its path.

    ``host``, ``created`` (ISO-8601 UTC) and ``version`` are filled in,
    ``dashboard_link`` and ``kernel_id`` default to None. Extra keys (e.g.
    ``session_id``, ``history_path``) are kept; values must be JSON-serialisable.
    """
    missing = [key for key in REQUIRED_KEYS if entry.get(key) in (None, "")]
    if missing:
        raise RegistryError(
            f"mesh registry entry is missing {', '.join(repr(k) for k in missing)} "
            f"(required: {', '.join(REQUIRED_KEYS)})"
        )
    if entry["kind"] not in KINDS:
        kinds = ", ".join(KINDS)
        raise RegistryError(f"unknown mesh kind {entry['kind']!r}; expected one of {kinds}")
    if not isinstance(entry["pid"], int) or entry["pid"] <= 0:
        raise RegistryError(f"mesh registry 'pid' must be a positive int, not {entry['pid']!r}")
    record = {"dashboard_link": None, "kernel_id": None, **entry}
    record.setdefault("host", socket.gethostname())
    record.setdefault("created", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    record["version"] = __version__
    for derived in ("path", "stale", "error"):  # what entries() adds; never stored
        record.pop(derived, None)
    try:
        text = json.dumps(record, indent=1, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise RegistryError(f"mesh registry entry is not JSON-serialisable: {exc}") from exc

    path = entry_path(record["id"])
    try:
        _write_atomic(path, text + "\n")
    except OSError as exc:
        msg = f"cannot write the mesh registry file {path}: {exc}. Fix: {_FIX}."
        raise RegistryError(msg) from exc
    return path


def _write_atomic(path: Path, text: str) -> None:
    # mkstemp creates the file with mode 0600 in the same directory, so
    # os.replace is an atomic rename on the same file system.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def unregister(entry_id: str) -> bool:
    """Remove the file of ``entry_id``; True if one was removed (a missing one is fine)."""
    path = entry_path(entry_id)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise RegistryError(f"cannot remove the mesh registry file {path}: {exc}") from exc
    return True


def _read(path: Path) -> dict[str, Any] | None:
    """The entry in ``path`` with ``path`` and ``stale``; None if the file vanished."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, found {type(data).__name__}")
        missing = [key for key in REQUIRED_KEYS if key not in data]
        if missing:
            raise ValueError(f"missing {', '.join(missing)}")
    except FileNotFoundError:
        return None  # unregistered while we were listing
    except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        entry_id = path.name[len(_PREFIX) : -len(_SUFFIX)]
        error = f"unreadable registry file: {exc}"
        return {"id": entry_id, "path": str(path), "error": error, "stale": True}
    data["path"] = str(path)
    data["stale"] = is_stale(data)
    return data


def entries(include_stale: bool = True) -> list[dict[str, Any]]:
    """Every registered mesh, oldest first; unreadable files are entries with ``error``."""
    found = [_read(path) for path in sorted(registry_dir().glob(f"{_PREFIX}*{_SUFFIX}"))]
    result = [e for e in found if e is not None and (include_stale or not e["stale"])]
    result.sort(key=lambda e: (str(e.get("created") or ""), e["path"]))
    return result


def is_stale(entry: dict[str, Any]) -> bool:
    """True if the entry is unreadable or its process is gone from this host.

    An entry written on another host (a shared runtime directory) is never
    judged stale here: its pid means nothing on this machine.
    """
    if entry.get("error"):
        return True
    host = entry.get("host")
    if host and host != socket.gethostname():
        return False
    pid = entry.get("pid")
    if not isinstance(pid, int):
        return True
    return pid <= 0 or not psutil.pid_exists(pid)


def prune() -> int:
    """Remove the files of stale entries; return how many were removed."""
    removed = 0
    for entry in entries():
        if entry["stale"]:
            try:
                os.unlink(entry["path"])
                removed += 1
            except FileNotFoundError:
                pass  # pruned concurrently
            except OSError as exc:
                msg = f"cannot remove the stale registry file {entry['path']}: {exc}"
                raise RegistryError(msg) from exc
    return removed


_exit_lock = threading.Lock()
_exit_path: Path | None = None
_exit_pid: int | None = None
_exit_hooked = False


def _exit_cleanup() -> None:
    """The atexit hook: remove this process's entry, if it is still ours."""
    path, pid = _exit_path, _exit_pid
    if path is None or pid != os.getpid():  # a forked child must not remove its parent's
        return
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        # After a kernel restart a new process may already own this id: leave its file.
        if isinstance(data, dict) and data.get("pid") not in (None, pid):
            return
        path.unlink()
    except (OSError, ValueError):
        pass  # exiting: nothing useful to do about it


def install_exit_cleanup(entry_id: str) -> None:
    """Unregister ``entry_id`` when this process exits normally.

    The hook is registered once per process; calling again with another id
    makes the hook remove that id instead. A kernel killed with SIGKILL leaves
    its file behind, reported as stale by :func:`entries`.
    """
    global _exit_path, _exit_pid, _exit_hooked
    path = entry_path(entry_id)  # resolved now: the file is where register() wrote it
    with _exit_lock:
        _exit_path, _exit_pid = path, os.getpid()
        if not _exit_hooked:
            atexit.register(_exit_cleanup)
            _exit_hooked = True

"""One configuration path: ``dask.config`` under ``mesh.*``.

The defaults ship in ``mesh.yaml`` beside this module and are merged into dask's
defaults on import, the way dask-labextension and dask-cuda do it, so YAML files
in dask's config directories and ``DASK_MESH__*`` environment variables apply
without any code of ours.

Every key has a schema (:data:`SCHEMA`: its type, range or choices). :func:`set_value`
(``%mesh config``) checks a value when it is set; a value that came in through
``dask.config.set``, YAML or the environment is checked when it is first read, and a
bad one is a :class:`~mesh_magics.errors.MeshConfigError` naming the key, what it
accepts and how to fix it, never a bare ``ValueError`` deep in a run.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dask.config
import yaml

from .errors import MeshConfigError

__all__ = ["SCHEMA", "Setting", "check", "defaults", "flat", "get", "known", "set_value", "valid"]

_HERE = os.path.dirname(__file__)
with open(os.path.join(_HERE, "mesh.yaml"), encoding="utf-8") as _f:
    _DEFAULTS: dict[str, Any] = yaml.safe_load(_f)

dask.config.update_defaults(_DEFAULTS)


def defaults() -> dict[str, Any]:
    """The shipped defaults (a copy), as nested dicts under ``mesh``."""
    import copy

    return copy.deepcopy(_DEFAULTS["mesh"])


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict):
            out.update(_flatten(v, key))
        else:
            out[key] = v
    return out


_KNOWN = _flatten(_DEFAULTS["mesh"])


@dataclass(frozen=True)
class Setting:
    """What a key accepts: ``kind`` (bool, int, float, str, size, choice), ``low`` (the
    least number, inclusive unless ``above``), ``choices``, and whether null is allowed."""

    kind: str
    low: float | None = None
    above: bool = False
    choices: tuple[str, ...] = ()
    null: bool = False

    def describe(self) -> str:
        if self.kind == "choice":
            text = "one of " + ", ".join(self.choices)
        elif self.kind == "size":
            text = "a size (4GiB, 500MB, a number of bytes) or auto"
        elif self.kind == "bytes":
            text = "a size (256MiB, 500MB, a number of bytes)"
        elif self.kind in ("int", "float") and self.low is not None:
            rel = ">" if self.above else ">="
            text = f"{'an integer' if self.kind == 'int' else 'a number'} {rel} {self.low:g}"
        else:
            text = {"bool": "true or false", "int": "an integer", "float": "a number", "str": "text"}[
                self.kind
            ]
        return text + (" or null" if self.null else "")


def _s(kind: str, **kw: Any) -> Setting:
    return Setting(kind, **kw)


#: every key (without ``mesh.``) and what it accepts
SCHEMA: dict[str, Setting] = {
    "cluster.kind": _s("choice", choices=("auto", "cpu", "gpu")),
    "cluster.n-workers": _s("int", low=1, null=True),
    "cluster.threads-per-worker": _s("int", low=1, null=True),
    "cluster.memory-limit": _s("size", null=True),
    "cluster.dashboard-address": _s("str", null=True),
    "cluster.malloc-mmap-threshold": _s("bytes", null=True),
    "cluster.arrow-memory-pool": _s("choice", choices=("jemalloc", "mimalloc", "system"), null=True),
    "reconnect.enabled": _s("bool"),
    "reconnect.initial-delay": _s("float", low=0, above=True),
    "reconnect.max-delay": _s("float", low=0, above=True),
    "reconnect.max-attempts": _s("int", low=0),
    "run.timeout": _s("float", low=0, above=True, null=True),
    "run.retries": _s("int", low=0),
    "run.retry-wait": _s("float", low=0),
    "run.max-tracebacks": _s("int", low=1),
    "run.output-grace": _s("float", low=0),
    "run.session-actors": _s("bool"),
    "batch.show-output": _s("int", low=0),
    "stream.flush-interval": _s("float", low=0, above=True),
    "stream.max-chunk": _s("int", low=1),
    "stream.max-display-chars": _s("int", low=1),
    "history.enabled": _s("bool"),
    "history.path": _s("str", null=True),
    "history.tail-bytes": _s("int", low=0, null=True),
    "registry.path": _s("str", null=True),
    "audit.enabled": _s("bool"),
    "audit.path": _s("str", null=True),
    "templates.path": _s("str", null=True),
    "plugins.enabled": _s("bool"),
    "server.allow-remote-dashboards": _s("bool"),
    "progress.after": _s("float", low=0),
    "dashboard.enabled": _s("bool"),
    "dashboard.interval": _s("float", low=0, above=True),
    "dashboard.max-log-lines": _s("int", low=1),
    "dashboard.log-level": _s("choice", choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")),
    "cache.max-entries": _s("int", low=0),
    "cache.max-bytes": _s("bytes"),
}


def _size(value: Any) -> bool:
    if value == "auto":
        return True
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return math.isfinite(value) and value >= 0
    if isinstance(value, str):
        from dask.utils import parse_bytes

        try:
            return parse_bytes(value) >= 0
        except (ValueError, TypeError):
            return False
    return False


_CHECKS: dict[str, Callable[[Any, Setting], bool]] = {
    "bool": lambda v, s: isinstance(v, bool),
    "int": lambda v, s: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v, s: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v),
    "str": lambda v, s: isinstance(v, str),
    "size": lambda v, s: _size(v),
    "bytes": lambda v, s: v != "auto" and not isinstance(v, bool) and _size(v),
    "choice": lambda v, s: v in s.choices,
}


def check(key: str, value: Any) -> Any:
    """``value`` if ``mesh.<key>`` accepts it (see :data:`SCHEMA`), else MeshConfigError."""
    setting = SCHEMA.get(key)
    if setting is None or (value is None and setting.null):
        return value
    ok = _CHECKS[setting.kind](value, setting)
    if ok and setting.low is not None:
        ok = value > setting.low if setting.above else value >= setting.low
    if not ok:
        raise MeshConfigError(
            f"mesh.{key} = {value!r} is not valid: it takes {setting.describe()}. "
            f"Fix: `%mesh config {key}=VALUE` (or dask.config.set / DASK_MESH__{key.upper().replace('.', '__').replace('-', '_')})"
        )
    return value


_checked: dict[str, tuple[type, str]] = {}  # key -> the value last found valid (True and 1 differ)


def get(key: str, default: Any = None) -> Any:
    """``dask.config.get("mesh." + key)``; env and YAML overrides included, checked
    against the key's schema (once per value).

    Falls back to the shipped default: a ``dask.config.set`` block entered
    before this module was imported removes the whole ``mesh`` section when it
    exits, and a missing default must not turn into ``None``.
    """
    value = dask.config.get(f"mesh.{key}", default=_KNOWN.get(key, default))
    seen = (type(value), repr(value))
    if key in SCHEMA and _checked.get(key) != seen:
        check(key, value)
        _checked[key] = seen
    return value


def flat() -> dict[str, Any]:
    """Every known ``mesh.*`` key (dotted, without the prefix) with its value now."""
    return {k: get(k) for k in sorted(_KNOWN)}


def known(key: str) -> str:
    """``key`` without ``mesh.`` (``_`` read as ``-``) if it is a setting, else MeshConfigError
    with the close ones: a typo never silently creates a setting nothing reads."""
    key = key.removeprefix("mesh.").replace("_", "-")
    if key not in _KNOWN:
        import difflib

        close = difflib.get_close_matches(key, list(_KNOWN), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise MeshConfigError(f"unknown setting mesh.{key}.{hint} `%mesh config` lists every key.")
    return key


def valid(key: str, value: Any) -> bool:
    """Whether ``mesh.<key>`` accepts ``value``."""
    try:
        check(key, value)
    except MeshConfigError:
        return False
    return True


def set_value(key: str, raw: str | Any) -> Any:
    """Set ``mesh.<key>`` for this process; strings are parsed as YAML scalars.

    Unknown keys are refused with the list of close ones, so a typo does not
    silently create a setting nothing reads.
    """
    key = known(key)
    try:
        value = yaml.safe_load(raw) if isinstance(raw, str) else raw
    except yaml.YAMLError as e:
        raise MeshConfigError(f"mesh.{key} = {raw!r} does not parse: {str(e).splitlines()[0]}") from None
    check(key, value)
    dask.config.set({f"mesh.{key}": value})
    return value

"""One configuration path: ``dask.config`` under ``mesh.*``.

The defaults ship in ``mesh.yaml`` beside this module and are merged into dask's
defaults on import, the way dask-labextension and dask-cuda do it, so YAML files
in dask's config directories and ``DASK_MESH__*`` environment variables apply
without any code of ours.
"""

from __future__ import annotations

import os
from typing import Any

import dask.config
import yaml

from .errors import MeshConfigError

__all__ = ["get", "set_value", "flat", "defaults"]

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


def get(key: str, default: Any = None) -> Any:
    """``dask.config.get("mesh." + key)``; env and YAML overrides included.

    Falls back to the shipped default: a ``dask.config.set`` block entered
    before this module was imported removes the whole ``mesh`` section when it
    exits, and a missing default must not turn into ``None``.
    """
    return dask.config.get(f"mesh.{key}", default=_KNOWN.get(key, default))


def flat() -> dict[str, Any]:
    """Every known ``mesh.*`` key (dotted, without the prefix) with its value now."""
    return {k: get(k) for k in sorted(_KNOWN)}


def set_value(key: str, raw: str | Any) -> Any:
    """Set ``mesh.<key>`` for this process; strings are parsed as YAML scalars.

    Unknown keys are refused with the list of close ones, so a typo does not
    silently create a setting nothing reads.
    """
    key = key.removeprefix("mesh.").replace("_", "-")
    if key not in _KNOWN:
        import difflib

        close = difflib.get_close_matches(key, list(_KNOWN), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise MeshConfigError(f"unknown setting mesh.{key}.{hint} `%mesh config` lists every key.")
    value = yaml.safe_load(raw) if isinstance(raw, str) else raw
    dask.config.set({f"mesh.{key}": value})
    return value

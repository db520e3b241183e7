"""What a run is asked to do: :class:`RunSpec`, built and checked once.

Everything ``Mesh.run`` (and ``%%mesh``) accepts besides the notebook namespace and the
renderer lives here, validated when the spec is built, so a bad option fails before
anything is submitted and the dispatcher never re-parses options. Messages name the
parameters (:func:`~mesh_magics.errors.named`); the magic spells them as its flags.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Union

from .. import config
from ..errors import MeshUsageError, named

__all__ = ["On", "RunSpec", "parse_resources"]

#: where a run goes: ``"any"`` (the session's worker), ``"all"`` (every worker), or
#: these workers (names or addresses)
On = Union[str, tuple[str, ...]]


def parse_resources(resources: Mapping[str, float] | str | None) -> tuple[tuple[str, float], ...]:
    """``GPU=1,MEM=2`` (or a mapping) as sorted ``(name, quantity)`` pairs; ``()`` for none."""
    if resources is None or resources == "":
        return ()
    if isinstance(resources, Mapping):
        return tuple(sorted((str(k), float(v)) for k, v in resources.items()))
    out: dict[str, float] = {}
    for part in str(resources).split(","):
        name, sep, qty = part.partition("=")
        try:
            out[name.strip()] = float(qty) if sep else 1.0
        except ValueError:
            raise MeshUsageError(
                named(
                    "{resources} {value!r}: {part!r} is not NAME=QUANTITY (e.g. GPU=1)",
                    value=resources,
                    part=part,
                )
            ) from None
    return tuple(sorted(out.items()))


def _on(on: Any) -> On:
    if on is None or on == "any":
        return "any"
    if on == "all":
        return "all"
    names = on.split(",") if isinstance(on, str) else list(on)
    out = tuple(str(s).strip() for s in names if str(s).strip())
    if not out:
        raise MeshUsageError(named("{on} names no worker; give any, all or worker names", value=on))
    return out


@dataclass(frozen=True)
class RunSpec:
    """One run's options, immutable once built (:meth:`build` checks them)."""

    code: str
    on: On = "any"
    name: str | None = None
    push: tuple[str, ...] = ()
    pull: tuple[str, ...] = ()
    resources: tuple[tuple[str, float], ...] = ()
    timeout: float | None = None
    retries: int = 0
    priority: int = 0
    cache: bool = False  # serve it from the result cache when it can (see .cache)

    @classmethod
    def build(
        cls,
        code: str,
        *,
        on: Any = "any",
        name: str | None = None,
        push: Iterable[str] = (),
        pull: Iterable[str] = (),
        resources: Mapping[str, float] | str | None = None,
        timeout: float | None = None,
        retries: int | None = None,
        priority: int = 0,
        cache: bool = False,
    ) -> RunSpec:
        """The spec of ``Mesh.run``'s arguments; ``timeout``/``retries`` default to
        ``mesh.run.timeout`` / ``mesh.run.retries``."""
        if timeout is None:
            timeout = config.get("run.timeout")
        if retries is None:
            retries = int(config.get("run.retries") or 0)
        if timeout is not None and not (math.isfinite(float(timeout)) and float(timeout) > 0):
            raise MeshUsageError(
                named("{timeout} must be a positive number of seconds, not {value}", value=timeout)
            )
        if retries < 0:
            raise MeshUsageError(named("{retries} must be 0 or more, not {value}", value=retries))
        push = tuple(push)
        if not isinstance(cache, bool):
            raise MeshUsageError(named("{cache} must be True or False, not {value!r}", value=cache))
        if cache:
            from .cache import cache_names

            cache_names(code, push)  # a cell the cache cannot follow fails before anything runs
        return cls(
            code=code,
            on=_on(on),
            name=name,
            push=push,
            pull=tuple(pull),
            resources=parse_resources(resources),
            timeout=None if timeout is None else float(timeout),
            retries=int(retries),
            priority=int(priority),
            cache=cache,
        )

    @property
    def fan_out(self) -> bool:
        """Whether the run goes to several named workers or all (one value per worker)."""
        return self.on != "any"

    @property
    def movable(self) -> bool:
        """Whether a retry may run elsewhere: only the session's worker has a replacement."""
        return self.on == "any"

    @property
    def resource_map(self) -> dict[str, float] | None:
        """The resources as Dask takes them (None for none)."""
        return dict(self.resources) or None

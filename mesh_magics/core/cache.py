"""The result cache of ``%%mesh --cache`` and ``Mesh.run(code, cache=True)``: :class:`ResultCache`.

A cell runs in its session's namespace on each worker, so its result depends on more than
its code and the values the kernel pushes: it reads names earlier cells left there, and it
leaves names there that later cells read. A hit must account for both, so an entry holds

* the **key** (:func:`primary_key`): the code, where it runs (``on``, the resources, the
  target workers' addresses), what it pushes and pulls by name;
* the **inputs** per worker: the Dask token of every name the cell may read from the
  namespace or the kernel (:func:`~.cellnames.cache_names`), as the cell saw it: the kernel's token for a pushed value, the
  worker's token of its namespace's value for the others (:data:`ABSENT` when missing);
* the **outputs** per worker: the worker's token, after the cell ran, of every name it
  binds, deletes or loads (a mutated value changes its token).

A later run with the same key is served from an entry only if, on every target worker, each
input has the same token now (the kernel's token for what it would push, the namespace's for
the rest) *and* each output is still in the namespace with the token the cell left. So a hit
leaves the namespaces exactly as running the cell again would (for a cell whose result
depends on nothing else: files, clocks, randomness and other services are not seen), and a
cell that changes what it reads (``x += 1``, ``rows.append(...)``) is never served twice.
Cells whose reads cannot be seen statically (``globals()``, ``exec``, ``eval``, ``vars()``,
``locals()``, ``from m import *``) are refused with a :class:`MeshUsageError`.

Entries live in the kernel's memory, per mesh: values pickled (each hit gets a fresh copy),
output text, the original run's id, name and time. They are bounded by
``mesh.cache.max-entries`` and ``mesh.cache.max-bytes`` (least recently used first out),
cleared by :meth:`ResultCache.clear` (``%mesh cache clear``) and by ``%mesh down``; nothing
survives a kernel restart. This module holds no Dask or IPython code: the lookup and the
replay are in :mod:`.cached`.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import config
from ..worker.tokens import ABSENT, tokens
from .cellnames import CacheNames, cache_names

__all__ = ["ABSENT", "CacheEntry", "CacheNames", "ResultCache", "cache_names", "cache_payload", "primary_key"]

#: per worker address, ``{name: token}``
Tokens = dict[str, dict[str, "str | None"]]


def cache_payload(names: CacheNames, pushes: Mapping[str, Any]) -> dict[str, Any]:
    """What a worker needs for a cached run (``payload["cache"]``): the reads it tokenises
    itself, the binds, and the kernel's tokens of the pushed values."""
    return {
        "reads": [n for n in names.reads if n not in pushes],
        "binds": list(names.binds),
        "pushed": tokens(pushes, sorted(pushes)),
    }


def primary_key(spec: Any, addresses: Iterable[str]) -> str:
    """The token of what an entry must share with a run besides its inputs (see the module doc)."""
    from dask.base import tokenize

    return str(
        tokenize(
            "mesh-cache-1",
            spec.code,
            spec.on,
            spec.resources,
            sorted(spec.push),
            sorted(spec.pull),
            sorted(addresses),
        )
    )


@dataclass(eq=False)
class CacheEntry:
    """One cached run: its key, inputs and outputs per worker (see the module doc), the
    pickled results (``blob``), its output text per ``(worker, stream)``, and the original run."""

    key: str
    run_id: str
    name: str
    when: float
    targets: tuple[str, ...]
    inputs: Tokens
    outputs: Tokens
    blob: bytes = field(repr=False)
    output: tuple[tuple[tuple[str, str], str], ...] = field(repr=False)
    source: str = field(repr=False, default="")
    hits: int = 0

    @property
    def nbytes(self) -> int:
        return len(self.blob) + sum(len(text) for _, text in self.output) + len(self.source)

    def mismatch(self, pushed: Tokens, current: Tokens, label: Any = str) -> str | None:
        """Why this entry cannot serve a run that would push ``pushed`` and finds ``current``
        in the namespaces (per address), or None when it can."""
        for address in self.targets:
            now, push = current.get(address, {}), pushed.get(address, {})
            for name, token in self.inputs.get(address, {}).items():
                seen = push[name] if name in push else now.get(name)
                if token is None or seen != token:
                    return f"`{name}` is not what run {self.name} read"
            for name, token in self.outputs.get(address, {}).items():
                if token is None or now.get(name) != token:
                    where = f" on {label(address)}" if len(self.targets) > 1 else ""
                    return f"`{name}`{where} is no longer what run {self.name} left in the namespace"
        return None

    def describe(self) -> dict[str, Any]:
        """A row of ``%mesh cache``."""
        lines = self.source.strip().splitlines()
        return {
            "run": self.name,
            "id": self.run_id[:8],
            "cached": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.when)),
            "targets": len(self.targets),
            "hits": self.hits,
            "bytes": self.nbytes,
            "source": lines[0][:60] if lines else "",
        }


class ResultCache:
    """The entries of one mesh, bounded and least-recently-used first out; thread-safe
    (a ``--noblock`` run is stored from its pump thread)."""

    def __init__(self) -> None:
        self._entries: collections.OrderedDict[int, CacheEntry] = collections.OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(e.nbytes for e in self._entries.values())

    def entries(self) -> list[CacheEntry]:
        """Every entry, least recently used first."""
        with self._lock:
            return list(self._entries.values())

    def candidates(self, key: str) -> list[CacheEntry]:
        """The entries of ``key``, most recently used first."""
        with self._lock:
            return [e for e in reversed(self._entries.values()) if e.key == key]

    def hit(self, entry: CacheEntry) -> None:
        """``entry`` served a run: count it and keep it longest."""
        with self._lock:
            entry.hits += 1
            if id(entry) in self._entries:
                self._entries.move_to_end(id(entry))

    def drop(self, entry: CacheEntry) -> None:
        """Forget ``entry`` (its result no longer reads back)."""
        with self._lock:
            self._entries.pop(id(entry), None)

    def put(self, entry: CacheEntry) -> str | None:
        """Keep ``entry``, dropping the least recently used over the bounds; a reason when it is
        not kept (over ``mesh.cache.max-bytes`` alone, or the cache is off)."""
        max_entries, max_bytes = limits()
        if max_entries == 0:
            return "mesh.cache.max-entries is 0"
        if entry.nbytes > max_bytes:
            return f"its result and output take {entry.nbytes} bytes, over mesh.cache.max-bytes ({max_bytes})"
        with self._lock:
            for old in [e for e in self._entries.values() if e.key == entry.key and e.inputs == entry.inputs]:
                del self._entries[id(old)]  # the same inputs again (a rerun after a miss on outputs)
            self._entries[id(entry)] = entry
            self._evict(max_entries, max_bytes)
        return None

    def _evict(self, max_entries: int, max_bytes: int) -> None:
        total = sum(e.nbytes for e in self._entries.values())
        while self._entries and (len(self._entries) > max_entries or total > max_bytes):
            _, old = self._entries.popitem(last=False)
            total -= old.nbytes

    def clear(self) -> int:
        """Forget every entry; return how many there were."""
        with self._lock:
            n = len(self._entries)
            self._entries.clear()
            return n

    def describe(self) -> list[dict[str, Any]]:
        """One row per entry (``%mesh cache``), most recently used first."""
        return [e.describe() for e in reversed(self.entries())]

    def __repr__(self) -> str:
        n = len(self)
        return f"<ResultCache {n} entr{'y' if n == 1 else 'ies'}, {self.nbytes} bytes>"


def limits() -> tuple[int, int]:
    """``mesh.cache.max-entries`` and ``mesh.cache.max-bytes`` (in bytes), checked."""
    from dask.utils import parse_bytes

    size = config.get("cache.max-bytes")
    return int(config.get("cache.max-entries")), int(parse_bytes(size) if isinstance(size, str) else size)

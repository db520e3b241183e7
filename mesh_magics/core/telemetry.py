"""A run's telemetry: progress of its Dask work, the node map, its logs and what it cost.

Fed by the scheduler plugin's events (progress per task group, node state, see
:mod:`mesh_magics.worker.plugin`) and by the run's own streams (stdout, stderr,
forwarded log records) through :class:`RunTelemetry`, an observer the dispatcher
attaches to every run while the plugin is registered. Views (the in-cell dashboard,
plain-text progress lines, ``%mesh dashboard``) draw it; the history recorder writes its
progress and :class:`Summary`. Everything here is plain Python, testable without a
kernel or a browser and with synthetic states (a 256-worker mesh).
"""

from __future__ import annotations

import collections
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dask.utils import format_bytes

from .interfaces import RunObserver

if TYPE_CHECKING:  # pragma: no cover
    from .run import MeshRun

__all__ = ["LEVELS", "LogBuffer", "NodeMap", "RunProgress", "RunTelemetry", "Summary", "bytes_text"]

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_TOKEN = re.compile(r"-[0-9a-f]{32}$")


class RunProgress:
    """Per task group: ``[done, processing, waiting, erred]``; overall percent and ETA."""

    def __init__(self) -> None:
        self.groups: dict[str, list[int]] = {}
        self.workers: list[str] = []
        self._samples: collections.deque[tuple[float, int]] = collections.deque(maxlen=64)

    def update(
        self, groups: dict[str, list[int]], workers: list[str] | None = None, t: float | None = None
    ) -> None:
        self.groups.update({g: [int(x) for x in c] for g, c in groups.items()})
        if workers is not None:
            self.workers = list(workers)
        self._samples.append((t if t is not None else time.time(), self.done))

    @property
    def total(self) -> int:
        return sum(sum(c) for c in self.groups.values())

    @property
    def done(self) -> int:
        return sum(c[0] for c in self.groups.values())

    @property
    def erred(self) -> int:
        return sum(c[3] for c in self.groups.values())

    @property
    def percent(self) -> float:
        total = self.total
        return 100.0 * (self.done + self.erred) / total if total else 0.0

    def eta(self) -> float | None:
        """Seconds left at the rate of the last samples; None until it can be told."""
        if len(self._samples) < 2:
            return None
        (t0, d0), (t1, d1) = self._samples[0], self._samples[-1]
        left = self.total - self.done - self.erred
        if left <= 0:
            return 0.0
        if d1 <= d0 or t1 <= t0:
            return None
        return left / ((d1 - d0) / (t1 - t0))

    def rows(self) -> list[dict[str, Any]]:
        """One row per task group, named like Dask's dashboard names them (no token)."""
        return [
            {
                "group": _TOKEN.sub("", g),
                "key": g,
                "done": c[0],
                "processing": c[1],
                "waiting": c[2],
                "erred": c[3],
                "total": sum(c),
            }
            for g, c in sorted(self.groups.items())
        ]


class NodeMap:
    """Workers grouped by host (and GPU), each a tile with its state for one run."""

    FULL_TILES_UP_TO = 64  # beyond this the view draws compact tiles

    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}
        self.links: list[list[Any]] = []
        self.peak_memory = 0
        self.peak_gpu_memory = 0
        self.peak_gpu_util = 0.0
        self.spilled_at_start: int | None = None

    def update(self, nodes: list[dict[str, Any]], links: list[list[Any]] | None = None) -> None:
        self.nodes = {n["address"]: n for n in nodes}
        self.links = list(links or [])
        self.peak_memory = max(self.peak_memory, sum(n.get("memory", 0) for n in nodes))
        self.peak_gpu_memory = max(self.peak_gpu_memory, sum(n.get("gpu_memory") or 0 for n in nodes))
        utils = [float(n["gpu_util"]) for n in nodes if n.get("gpu_util") is not None]
        if utils:
            self.peak_gpu_util = max(self.peak_gpu_util, max(utils))
        if self.spilled_at_start is None:
            self.spilled_at_start = self.spilled

    @property
    def spilled(self) -> int:
        return sum(n.get("spilled", 0) for n in self.nodes.values())

    def tiles(self, busy_for_run: set[str] | frozenset[str] = frozenset()) -> list[dict[str, Any]]:
        """One tile per worker, sorted by host, GPU and name; ``state`` idle/busy/run."""
        out = []
        for n in self.nodes.values():
            state = "run" if n["address"] in busy_for_run else ("busy" if n.get("processing") else "idle")
            limit = n.get("memory_limit") or 0
            out.append(
                {
                    "address": n["address"],
                    "name": str(n.get("name", n["address"])),
                    "host": n.get("host", ""),
                    "gpu": n.get("gpu_name"),
                    "state": state,
                    "cpu": round(float(n.get("cpu", 0.0)), 1),
                    "memory": int(n.get("memory", 0)),
                    "memory_limit": int(limit),
                    "processing": int(n.get("processing", 0)),
                    "spilled": int(n.get("spilled", 0)),
                    "gpu_util": n.get("gpu_util"),
                    "gpu_memory": n.get("gpu_memory"),
                    "gpu_memory_total": n.get("gpu_memory_total"),
                }
            )
        return sorted(out, key=lambda t: (t["host"], t["gpu"] or "", _natural(t["name"])))

    def groups(self, busy_for_run: set[str] | frozenset[str] = frozenset()) -> list[dict[str, Any]]:
        """Tiles grouped by (host, GPU model): the node map's rows."""
        rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for t in self.tiles(busy_for_run):
            rows.setdefault((t["host"], t["gpu"] or ""), []).append(t)
        return [{"host": h, "gpu": g or None, "tiles": ts} for (h, g), ts in rows.items()]

    @property
    def compact(self) -> bool:
        return len(self.nodes) > self.FULL_TILES_UP_TO


def _natural(name: str) -> tuple[Any, ...]:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


@dataclass
class LogBuffer:
    """The run's lines (stdout, stderr, log records), bounded; counts what it dropped."""

    max_lines: int = 2000
    lines: collections.deque[tuple[float, str, str, str]] = field(default_factory=collections.deque)
    dropped: int = 0
    _partial: dict[tuple[str, str], str] = field(default_factory=dict)

    def add(self, worker: str, stream: str, text: str) -> None:
        """Add a chunk of ``stream`` (stdout, stderr or log) from ``worker``; splits lines."""
        key = (worker, stream)
        text = self._partial.pop(key, "") + text
        parts = text.split("\n")
        if parts[-1]:
            self._partial[key] = parts[-1]
        now = time.time()
        for line in parts[:-1]:
            line = line.rsplit("\r", 1)[-1]
            if stream == "log":
                level, _, rest = line.partition("\t")
                self._push((now, level if level in LEVELS else "INFO", worker, rest))
            else:
                self._push((now, "ERROR" if stream == "stderr" else "INFO", worker, f"[{stream}] {line}"))

    def _push(self, item: tuple[float, str, str, str]) -> None:
        self.lines.append(item)
        while len(self.lines) > self.max_lines:
            self.lines.popleft()
            self.dropped += 1

    def view(self, level: str = "DEBUG", search: str | None = None) -> list[tuple[float, str, str, str]]:
        floor = LEVELS.index(level) if level in LEVELS else 0
        s = (search or "").lower()
        return [
            ln
            for ln in self.lines
            if LEVELS.index(ln[1]) >= floor and (not s or s in ln[3].lower() or s in ln[2].lower())
        ]


def bytes_text(transferred: int, spilled: int, peak_memory: int) -> str:
    """The summary's sizes as text: ``43.90 MiB transferred, 0 B spilled, peak memory 1.05 GiB``."""
    return (
        f"{format_bytes(transferred)} transferred, {format_bytes(spilled)} spilled, "
        f"peak memory {format_bytes(peak_memory)}"
    )


@dataclass
class Summary:
    """What a run cost, written to its history row (``summary``) and shown at the end."""

    duration: float | None
    tasks: int
    erred: int
    bytes_transferred: int
    bytes_spilled: int
    peak_memory: int
    peak_gpu_memory: int | None = None
    peak_gpu_util: float | None = None

    @classmethod
    def of(cls, duration: float | None, progress: RunProgress, nodes: NodeMap, transferred: int) -> Summary:
        gpu = any(n.get("gpu_name") for n in nodes.nodes.values())
        return cls(
            duration=duration,
            tasks=progress.total,
            erred=progress.erred,
            bytes_transferred=transferred,
            bytes_spilled=max(0, nodes.spilled - (nodes.spilled_at_start or 0)),
            peak_memory=nodes.peak_memory,
            peak_gpu_memory=nodes.peak_gpu_memory if gpu else None,
            peak_gpu_util=nodes.peak_gpu_util if gpu else None,
        )

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class RunTelemetry(RunObserver):
    """One run's :class:`RunProgress`, :class:`NodeMap`, :class:`LogBuffer` and :class:`Summary`.

    ``interval`` is the plugin's publishing interval: after every target returned, the
    run waits at most one more interval for the final counts (:meth:`settled`).
    """

    def __init__(self, *, interval: float, max_log_lines: int) -> None:
        self.interval = interval
        self.progress = RunProgress()
        self.nodes = NodeMap()
        self.logs = LogBuffer(max_lines=max_log_lines)
        self.transferred = 0
        self.summary: Summary | None = None
        self._rx = 0.0
        self._nodes_t = 0.0

    def on_chunk(self, run: MeshRun, worker: str, stream: str, text: str) -> None:
        self.logs.add(worker, stream, text)

    def on_progress(self, run: MeshRun, msg: dict[str, Any]) -> None:
        self.progress.update(msg["groups"], msg.get("workers", []), msg.get("t", time.time()))
        self.transferred = max(self.transferred, int(msg.get("bytes", 0)))
        self._rx = time.time()

    def on_nodes(self, run: MeshRun, msg: dict[str, Any]) -> None:
        if msg.get("t", 0) > self._nodes_t:
            self._nodes_t = msg["t"]
            self.nodes.update(msg["nodes"], msg.get("links"))

    def settled(self, run: MeshRun, since: float) -> bool:
        """Whether the plugin's counts are final. They are when nothing is left
        processing or waiting (the plugin publishes that moment at once); otherwise
        one more tick after ``since`` (all targets returned) carries them. Waits at
        most one interval."""
        if self.progress.total == 0 or self._rx >= since + 0.05:
            return True
        if all(c[1] == 0 and c[2] == 0 for c in self.progress.groups.values()):
            return True  # the plugin published the end of the work the moment it ended
        return time.time() > since + self.interval + 0.3

    def on_end(self, run: MeshRun) -> None:
        self.summary = Summary.of(run.duration, self.progress, self.nodes, self.transferred)

    def busy(self, run: MeshRun) -> set[str]:
        """Workers busy with this run now: its Dask work's and its cells' that run."""
        if run.done():
            return set()
        return set(self.progress.workers) | set(run.pending_workers())

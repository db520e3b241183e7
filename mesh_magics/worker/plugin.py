"""A scheduler plugin that pushes run progress and node state to the notebooks.

Registered once per mesh (``Client.register_plugin``); no code is sent to the
scheduler in a polling loop. It watches task transitions, attributes each task
to its run through the Dask span every ``%%mesh`` run opens (the span is
inherited by the work a cell launches with ``get_client()``), and every
``interval`` seconds publishes what changed on the ``mesh-dashboard`` topic:

* ``{"kind": "progress", "runs": {run_id: {group: [done, processing, waiting, erred]},
  ...}, "workers": {run_id: [addresses busy with it]}, "t": now}`` for runs that
  changed since the last tick;
* ``{"kind": "nodes", "nodes": [...], "links": [[from, to, bytes], ...]}`` while
  any run is in flight or a notebook watches (``%mesh dashboard`` sends a
  ``watch`` event every few seconds through ``Client.log_event``).

A cell sent straight to its worker's session actor (:mod:`.actor`) has no task: its worker
tells the plugin on :data:`CELLS_TOPIC` when it starts and ends, and it counts like a cell
task (nodes stay live meanwhile, its worker's tile counts it as processing).

Links are the dependency fetches the scheduler *asks for* since the last tick: a task starts
processing on W while a dependency sits in memory on V only; the scheduler does
not see transfers themselves.

:class:`MeshWorkersPlugin` publishes the workers that join and leave on the
``mesh-workers`` topic (``{"action": "add-worker" | "remove-worker", "worker": address}``).
The mesh used to read them from the scheduler's ``all`` topic, but some of the events the
scheduler logs there do not serialize (``replicate``, which ``Client.scatter(...,
broadcast=True)`` and ``Client.replicate`` call, logs its ``WorkerState`` objects), and
one such event closes the scheduler's stream to every client subscribed to it.

This module is imported on the scheduler, so it keeps the rule of
:mod:`mesh_magics.worker`: the standard library and distributed (and tornado, which
distributed runs on). The kernel's side of it is :mod:`mesh_magics.core.telemetry` and
:mod:`mesh_magics.dashboard`.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin

from .keys import is_cell_key
from .metrics import WorkerInfo, worker_info

__all__ = [
    "CELLS_TOPIC",
    "TOPIC",
    "WATCH_TOPIC",
    "WORKERS_TOPIC",
    "MeshDashboardPlugin",
    "MeshWorkersPlugin",
    "node",
    "run_of",
]

TOPIC = "mesh-dashboard"
WORKERS_TOPIC = "mesh-workers"
WATCH_TOPIC = "mesh-dashboard-watch"
#: cells run by session actors: ``{"run": id, "state": "running" | "done"}`` (workers log them)
CELLS_TOPIC = "mesh-cells"
_PREFIX = "mesh-run:"
#: task state -> column of the progress counts
_COLUMN = {
    "memory": 0,
    "released": 0,
    "forgotten": 0,
    "processing": 1,
    "queued": 2,
    "waiting": 2,
    "no-worker": 2,
    "erred": 3,
}


def run_of(annotations: dict[str, Any] | None) -> str | None:
    """The run id in a task's span annotation, if any."""
    span = (annotations or {}).get("span") or {}
    for tag in span.get("name") or ():
        if isinstance(tag, str) and tag.startswith(_PREFIX):
            return tag[len(_PREFIX) :]
    return None


class MeshWorkersPlugin(SchedulerPlugin):
    """Workers joining and leaving, on :data:`WORKERS_TOPIC` (see the module doc)."""

    name = "mesh-magics-workers"
    idempotent = True

    async def start(self, scheduler: Any) -> None:
        self.scheduler = scheduler

    def add_worker(self, scheduler: Any, worker: str) -> None:
        scheduler.log_event(WORKERS_TOPIC, {"action": "add-worker", "worker": worker})

    def remove_worker(self, scheduler: Any, worker: str, **kwargs: Any) -> None:
        scheduler.log_event(WORKERS_TOPIC, {"action": "remove-worker", "worker": worker})


class MeshDashboardPlugin(SchedulerPlugin):
    name = "mesh-magics-dashboard"
    idempotent = True

    def __init__(self, interval: float = 0.5, watch_ttl: float = 10.0) -> None:
        self.interval = interval
        self.watch_ttl = watch_ttl

    async def start(self, scheduler: Any) -> None:
        from tornado.ioloop import IOLoop, PeriodicCallback

        self.scheduler = scheduler
        self.counts: dict[str, dict[str, list[int]]] = defaultdict(dict)
        self.state: dict[Any, tuple[str, int]] = {}  # key -> (run, column)
        self.processing: dict[str, dict[Any, str]] = defaultdict(dict)  # run -> key -> worker
        self.dirty: set[str] = set()
        self.bytes: dict[str, int] = defaultdict(int)  # run -> bytes its tasks had fetched
        self.last_seen: dict[str, float] = {}
        self.cells: set[Any] = set()  # cell tasks running now
        self.direct: set[tuple[str, str]] = set()  # (run, worker) of the actors' cells running now
        self.active: dict[str, int] = defaultdict(int)  # run -> tasks processing or waiting
        self._soon = False
        self._loop = IOLoop.current()
        self.pairs: dict[tuple[str, str], int] = {}  # (from, to) -> bytes fetched since the last tick
        self.active_until = 0.0
        self.watch_until = 0.0
        self._pc = PeriodicCallback(self._tick, self.interval * 1000)
        self._pc.start()

    async def close(self) -> None:
        self._pc.stop()

    def log_event(self, topic: str, msg: Any) -> None:
        if topic == WATCH_TOPIC:
            self.watch_until = time.time() + self.watch_ttl
        elif topic == CELLS_TOPIC and isinstance(msg, dict):
            cell = (str(msg.get("run")), str(msg.get("worker")))
            if msg.get("state") == "running":
                self.direct.add(cell)
                self.active_until = max(self.active_until, time.time() + 2 * self.interval)
            else:
                self.direct.discard(cell)

    def remove_worker(self, scheduler: Any, worker: str, **kwargs: Any) -> None:
        self.direct = {c for c in self.direct if c[1] != worker}

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        prev = self.state.get(key)
        ts = self.scheduler.tasks.get(key)
        if ts is None:  # forgotten: its count stays where it ended
            if prev is not None:
                del self.state[key]
                self.processing[prev[0]].pop(key, None)
            return
        if is_cell_key(key):  # a cell's own task: the header shows it; nodes are live meanwhile
            self.active_until = max(self.active_until, time.time() + 2 * self.interval)
            if finish == "processing":
                self.cells.add(key)
            else:
                self.cells.discard(key)
            return
        run = prev[0] if prev else run_of(ts.annotations)
        col = _COLUMN.get(finish)
        if run is None or col is None:
            return  # not a run's work
        counts = self.counts[run].setdefault(ts.group.name, [0, 0, 0, 0])
        if prev is not None:
            counts[prev[1]] -= 1
            if prev[1] in (1, 2):
                self.active[run] -= 1
        counts[col] += 1
        if col in (1, 2):
            self.active[run] += 1
        self.state[key] = (run, col)
        self.dirty.add(run)
        self.active_until = time.time() + 2 * self.interval
        if finish == "processing" and ts.processing_on is not None:
            ws = ts.processing_on
            self.processing[run][key] = ws.address
            for dep in ts.dependencies:
                who = dep.who_has
                if who and ws not in who:  # the worker will fetch it: a transfer link
                    n = dep.nbytes or 0
                    pair = (next(iter(who)).address, ws.address)
                    self.pairs[pair] = self.pairs.get(pair, 0) + n
                    self.bytes[run] += n
        else:
            self.processing[run].pop(key, None)
            if not self.active[run] and not self._soon:
                # the run's work just ended: publish its final counts now, not at the next tick
                self._soon = True
                self._loop.add_callback(self._tick)

    def _tick(self) -> None:
        self._soon = False
        now = time.time()
        if self.dirty:
            runs = {r: {g: list(c) for g, c in self.counts[r].items()} for r in self.dirty}
            workers = {r: sorted(set(self.processing[r].values())) for r in self.dirty}
            nbytes = {r: self.bytes.get(r, 0) for r in self.dirty}
            self.scheduler.log_event(
                TOPIC, {"kind": "progress", "runs": runs, "workers": workers, "bytes": nbytes, "t": now}
            )
            for r in self.dirty:
                self.last_seen[r] = now
            self.dirty.clear()
            self._forget_old(now)
        if self.cells or self.direct:
            self.active_until = now + 2 * self.interval
        if now < max(self.active_until, self.watch_until):
            self.scheduler.log_event(
                TOPIC, {"kind": "nodes", "nodes": self._nodes(), "links": self._links(), "t": now}
            )
            self.pairs = {}  # links show the fetches of the last tick only

    def _links(self, most: int = 200) -> list[list[Any]]:
        """Fetches since the last tick, summed per (from, to) worker pair, largest first."""
        top = sorted(self.pairs.items(), key=lambda kv: -kv[1])[:most]
        return [[a, b, n] for (a, b), n in top]

    def _forget_old(self, now: float, ttl: float = 600.0) -> None:
        """Drop counts of runs idle for ``ttl`` seconds (nothing of theirs is left)."""
        for r, seen in list(self.last_seen.items()):
            if now - seen > ttl and not self.processing.get(r):
                for d in (self.counts, self.processing, self.bytes, self.last_seen, self.active):
                    d.pop(r, None)

    def _nodes(self) -> list[dict[str, Any]]:
        direct: dict[str, int] = defaultdict(int)
        for _, worker in self.direct:
            direct[worker] += 1
        return [
            node(worker_info(addr, ws.identity(), processing=len(ws.processing) + direct[addr]))
            for addr, ws in self.scheduler.workers.items()
        ]


def node(w: WorkerInfo) -> dict[str, Any]:
    """A worker as the ``nodes`` message carries it (the dashboard view's tile fields)."""
    return {
        "address": w.address,
        "name": w.name,
        "host": w.host,
        "threads": w.threads,
        "cpu": w.cpu,
        "memory": w.memory,
        "memory_limit": w.memory_limit,
        "processing": w.processing,
        "spilled": w.spilled,
        "gpu_name": w.gpu_name,
        "gpu_util": w.gpu_utilization,
        "gpu_memory": w.gpu_memory_used,
        "gpu_memory_total": w.gpu_memory_total,
    }

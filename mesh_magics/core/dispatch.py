"""The runs of one mesh: :class:`Dispatcher`.

It places runs (:mod:`.targets`: the session's home worker, ``all``, named workers),
builds what each worker receives (the cell, the variables to push), submits one Dask
task per target inside the run's span, routes the mesh's events to the runs in flight,
and implements what a run asks of the mesh (:class:`~.run.Control`): labels, retries
(:mod:`.retry`), cancels, the end. Runs in flight and the last 100 ended are kept here.

An attempt goes to the session's actor on its worker when one is ready and nothing asks for
the scheduler (:mod:`.direct`: one request and its reply), else it is a Dask task.
"""

from __future__ import annotations

import collections
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Optional

from dask.sizeof import sizeof

from .. import config
from ..errors import MeshUsageError
from ..worker import cell
from ..worker.keys import run_key
from .cache import cache_names, cache_payload
from .direct import DirectCall, SessionActors
from .events import EventEmitter
from .interfaces import RunObserver
from .push import select_pushes
from .recorder import RunRecorder
from .render import Renderer
from .retry import plan_retry, retry_wait
from .run import MeshRun
from .spec import RunSpec
from .target import Target
from .targets import Placement, place
from .telemetry import RunTelemetry
from .workers import WorkerTable

__all__ = ["SCATTER_FROM", "Dispatcher", "View", "span_tags"]

#: pushed values at least this large (bytes, dask's sizeof) go to their worker directly
SCATTER_FROM = 8 * 2**20

#: a view factory: given a new run, an observer to attach (or None)
View = Callable[[MeshRun], Optional[RunObserver]]

_EVENT_OF_STATUS = {
    "finished": "run_finished",
    "cancelled": "run_cancelled",
    "failed": "run_failed",
    "timeout": "run_failed",
    "lost": "run_failed",
}


def span_tags(name: str, run_id: str) -> tuple[str, str]:
    """The Dask span of a run's cell (and of the work it launches): the plugin keys on the second."""
    return (f"mesh:{name}", f"mesh-run:{run_id}")


class Dispatcher:
    """Submits and follows the runs of one mesh session (see the module doc).

    ``client`` returns the mesh's current Client (it changes on reconnection),
    ``connected`` whether the mesh is connected now.
    """

    def __init__(
        self,
        *,
        client: Callable[[], Any],
        connected: Callable[[], bool],
        workers: WorkerTable,
        recorder: RunRecorder,
        events: EventEmitter,
        session: str,
        topic: str,
        views: Sequence[View] = (),
    ) -> None:
        self._client, self._connected = client, connected
        self.workers, self.recorder, self.events = workers, recorder, events
        self.session, self.topic = session, topic
        self.views = list(views)
        self.home: str | None = None
        self.nodes: dict[str, Any] | None = None  # the plugin's last node state
        self._runs: dict[str, MeshRun] = {}
        self._recent: collections.deque[MeshRun] = collections.deque(maxlen=100)
        self._remote_names: dict[str, set[str]] = {}
        self._user_ns: dict[str, Mapping[str, Any] | None] = {}  # a retry elsewhere pushes again
        self._scattered: dict[str, list[Any]] = {}  # run id -> futures of its large pushes
        self.actors = SessionActors(session)

    # -- runs ----------------------------------------------------------------------
    def in_flight(self) -> list[MeshRun]:
        return list(self._runs.values())

    def runs(self) -> list[MeshRun]:
        """The last ended runs (oldest first), then those in flight."""
        return list(self._recent) + list(self._runs.values())

    def submit(
        self, spec: RunSpec, *, user_ns: Mapping[str, Any] | None = None, renderer: Renderer | None = None
    ) -> MeshRun:
        """Place, record and submit a run; nobody pumps it until ``run.wait()`` or
        ``run.pump_in_background()``."""
        placement = self._place(spec)
        run_id = uuid.uuid4().hex
        # every payload first: a variable that cannot be sent fails before anything runs
        targets = [Target(a, self._payload(run_id, spec, a, user_ns)) for a in placement.targets]
        telemetry = None
        if config.get("dashboard.enabled"):
            telemetry = RunTelemetry(
                interval=float(config.get("dashboard.interval")),
                max_log_lines=int(config.get("dashboard.max-log-lines")),
            )
        run = MeshRun(run_id, spec, self, targets, renderer=renderer, telemetry=telemetry)
        run.attach(self.recorder)
        for view in self.views:
            observer = view(run)
            if observer is not None:
                run.attach(observer)
        if self.nodes is not None:
            run.notify("nodes", self.nodes)
        self._runs[run_id] = run
        self._user_ns[run_id] = user_ns
        if placement.notice:
            run.renderer.message(placement.notice)
        self.recorder.queued(run)
        for t in targets:
            self._start(run, t)
        return run

    def _place(self, spec: RunSpec) -> Placement:
        cached = spec.on == "any" and self.home in self.workers.addresses() and not spec.resources
        records = self.workers.records() if cached else self._some_workers(spec)
        placement = place(records, spec.on, spec.resources, self.home)
        self.home = placement.home
        return placement

    def preview(self, spec: RunSpec) -> list[str]:
        """The addresses a run of ``spec`` would go to now (the result cache's lookup)."""
        return list(self._place(spec).targets)

    def pushes(self, spec: RunSpec, address: str, user_ns: Mapping[str, Any] | None) -> dict[str, Any]:
        """What a run of ``spec`` would push to ``address`` now (checked picklable)."""
        return select_pushes(spec.code, user_ns, self._remote_names.get(address, set()), spec.push)

    def _some_workers(self, spec: RunSpec) -> dict[str, dict[str, Any]]:
        """The workers now; when there are none (they are all restarting, or the cluster is
        scaling up), wait for one up to ``mesh.run.retry-wait`` seconds (within the run's
        timeout) before the placement says the mesh has none."""
        return self.workers.some(self._client(), retry_wait(spec.timeout))

    def _payload(
        self, run_id: str, spec: RunSpec, address: str, user_ns: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        pushes = self.pushes(spec, address, user_ns)
        cached = cache_payload(cache_names(spec.code, spec.push), pushes) if spec.cache else None
        big = {n: v for n, v in pushes.items() if sizeof(v) >= SCATTER_FROM}
        if big:  # straight to the worker, not through the scheduler inside the task
            futures = self._client().scatter(big, workers=[address], direct=True, hash=False)
            self._scattered.setdefault(run_id, []).extend(futures.values())
            pushes.update(futures)
        name = spec.name or f"run-{run_id[:8]}"
        return {
            "session": self.session,
            "run_id": run_id,
            "code": spec.code,
            "filename": f"<mesh cell {name}>",
            "span": span_tags(name, run_id),
            "push": pushes,
            "pull": list(spec.pull),
            "topic": self.topic,
            "flush_interval": float(config.get("stream.flush-interval")),
            "max_chunk": int(config.get("stream.max-chunk")),
            "log_level": str(config.get("dashboard.log-level")),
            "cache": cached,
        }

    def _start(self, run: MeshRun, t: Target) -> None:
        t.release()  # the attempt before, if still waiting for a worker that is gone
        attempt = t.attempt()
        client = self._client()
        actor = self._actor(client, run, t)
        if actor is not None:  # straight to the worker (see the module doc)

            def done(call: DirectCall) -> None:
                if call.actor_gone and t.future is call and not run.done():
                    # released as its worker retires (or a new process there): this attempt
                    # runs as the task it would have been without actors
                    self.actors.drop(t.address)
                    self._submit_task(run, t, attempt)
                    return
                run.notify("future", (t, call))

            t.future = self.actors.call(client, actor, t.address, t.payload, done)
            return
        self._submit_task(run, t, attempt)

    def _submit_task(self, run: MeshRun, t: Target, attempt: int) -> None:
        from distributed import span

        client = self._client()
        key = run_key(run.id, attempt, self.label(t.address))
        with span(*t.payload["span"]):  # the dashboard plugin keys on this
            t.future = client.submit(
                cell.run_cell,
                t.payload,
                key=key,
                workers=[t.address],
                allow_other_workers=False,
                pure=False,
                priority=run.spec.priority,
                resources=run.spec.resource_map,
            )
        t.future.add_done_callback(lambda f, t=t: run.notify("future", (t, f)))

    def _actor(self, client: Any, run: MeshRun, t: Target) -> Any:
        """The session's actor on ``t``'s worker if this attempt may go to it (else None)."""
        spec = run.spec
        if spec.resources or spec.priority or not config.get("run.session-actors"):
            return None  # the scheduler's resources and priorities apply to tasks only
        from distributed import Future

        if any(isinstance(v, Future) for v in (t.payload.get("push") or {}).values()):
            return None  # a scattered value: a task gets it from the worker's memory
        return self.actors.ready(client, t.address)

    def remember(self, run: MeshRun) -> None:
        """Keep ``run`` among the ended runs though it never went through here (a cache hit)."""
        self._recent.append(run)

    def cancel_all(self, reason: str) -> None:
        for run in list(self._runs.values()):
            run.cancel(reason)

    # -- events from the mesh (Dask's event-loop thread) --------------------------------
    def route(self, msg: Mapping[str, Any]) -> None:
        """An event a cell task sent (output chunks, "started")."""
        run = self._runs.get(str(msg.get("run")))
        if run is not None:
            run.notify(str(msg.get("kind", "stream")), msg)

    def plugin_event(self, msg: Mapping[str, Any]) -> None:
        """The dashboard plugin's ``progress`` and ``nodes`` messages."""
        if msg.get("kind") == "nodes":
            self.nodes = dict(msg)
            for run in list(self._runs.values()):
                run.notify("nodes", self.nodes)
            return
        for run_id, groups in (msg.get("runs") or {}).items():
            target = self._runs.get(run_id)
            if target is not None:
                progress = {
                    "groups": groups,
                    "workers": msg["workers"].get(run_id, []),
                    "bytes": (msg.get("bytes") or {}).get(run_id, 0),
                    "t": msg["t"],
                }
                target.notify("progress", progress)

    def worker_left(self, address: str) -> None:
        self.actors.drop(address)
        for run in list(self._runs.values()):
            run.notify("worker_left", address)

    # -- Control: what a run asks ------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._connected()

    def label(self, address: str) -> str:
        return self.workers.label(address)

    def retry(self, run: MeshRun, target: Target, why: str, *, worker_left: bool = False) -> bool:
        live = self.workers.refresh(self._client())
        plan = plan_retry(run.spec, target, live, worker_left=worker_left)
        if plan is None:
            return False
        if plan == "elsewhere" and not self._move(run, target, live):
            target.wait(time.monotonic() + retry_wait(run.time_left()))
            return True
        self._start(run, target)
        return True

    def resume(self, run: MeshRun, target: Target) -> bool:
        if not self._move(run, target, self.workers.refresh(self._client())):
            return False
        self._start(run, target)
        return True

    def _move(self, run: MeshRun, target: Target, live: Mapping[str, Mapping[str, Any]]) -> bool:
        """Point ``target`` at a live worker other than its own; False if none fits now."""
        others = {a: w for a, w in live.items() if a != target.address}
        try:
            placement = place(others, "any", run.spec.resources, self.home)
        except MeshUsageError:  # no worker (that fits) right now
            return False
        self.home = placement.home
        target.address = placement.targets[0]
        target.payload = self._payload(run.id, run.spec, target.address, self._user_ns.get(run.id))
        return True

    def cancel(self, run: MeshRun, targets: Sequence[Target]) -> None:
        futures = [
            t.future for t in targets if t.future is not None and not getattr(t.future, "direct", False)
        ]
        addresses = sorted({t.address for t in targets})
        client = self._client()

        def stop() -> None:
            try:  # interrupt the cell's code first, then drop its futures
                client.run(cell.interrupt, run.id, workers=addresses)
                if futures:
                    client.cancel(futures, force=True)
            except Exception:  # the mesh may be gone; the run has ended as cancelled anyway
                pass

        threading.Thread(target=stop, daemon=True, name=f"mesh-cancel-{run.name}").start()

    def ended(self, run: MeshRun) -> None:
        self._runs.pop(run.id, None)
        self._user_ns.pop(run.id, None)
        for future in self._scattered.pop(run.id, ()):
            future.release()
        self._recent.append(run)
        for address, result in run.results_by_address().items():
            self._remote_names[address] = set(result.get("names", ()))
        err = run.error
        self.events.emit(
            _EVENT_OF_STATUS[run.status],
            run=run.id,
            name=run.name,
            status=run.status,
            error=str(err) if err else None,
        )

    def started(self, run: MeshRun) -> None:
        self.events.emit("run_started", run=run.id, name=run.name, targets=run.targets)

"""The mesh: a Dask client (and maybe the cluster we started) plus what a notebook needs.

A :class:`Mesh` is composed of

* a :class:`~.connection.Connection` — the Client, watched and reconnected;
* a :class:`~.workers.WorkerTable` — the workers, from the scheduler's answers and its
  ``add-worker`` / ``remove-worker`` events;
* a :class:`~.dispatch.Dispatcher` — the runs: placement, submission, retries, cancels;
* a :class:`~.recorder.RunRecorder` — the run history;
* a :class:`~.audit.MeshAuditor` — the audit trail (who ran what where), a view of every run;
* an :class:`~.events.EventEmitter` (``mesh.on(event, callback)``) and the registry entry
  the side panel finds the mesh by.

It keeps one session id per process, so cells of a notebook share a namespace per
worker. What it sets up on the scheduler and hears from it (its stream topic, workers
joining and leaving, the dashboard plugin's progress) is the
:class:`~.mesh_wiring.SchedulerWiring` it holds.
Build one with :func:`mesh_magics.up` or :func:`mesh_magics.connect`.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import MeshConnectionError, MeshUsageError, NoMeshError, named
from ..worker import cell, plugin
from ..worker.metrics import WorkerInfo
from .audit import MeshAuditor
from .batch import BatchRun
from .cache import ResultCache
from .cached import RunCache
from .connection import Connection, Opened
from .dispatch import Dispatcher, View
from .events import EventEmitter, Subscription
from .mesh_wiring import SchedulerWiring
from .recorder import RunRecorder, SessionRecord
from .render import Renderer
from .run import MeshRun
from .spec import RunSpec
from .status import MeshStatus
from .workers import WorkerTable

if TYPE_CHECKING:  # pragma: no cover
    from ..store.audit import AuditLog
    from ..store.history import History

__all__ = ["SESSION", "Mesh"]

#: one per process: a kernel keeps its namespaces across meshes
SESSION = uuid.uuid4().hex


class Mesh:
    """A live mesh. Use :func:`mesh_magics.up` / :func:`mesh_magics.connect` rather than
    the constructor; ``views`` are attached to every run (the in-cell dashboard),
    ``kernel_id`` names the Jupyter kernel the mesh belongs to, if any."""

    def __init__(
        self,
        opened: Opened,
        *,
        views: Sequence[View] = (),
        kernel_id: str | None = None,
        preloads: Sequence[str] = (),
    ) -> None:
        self.cluster = (
            opened.cluster if opened.cluster is not None else getattr(opened.client, "cluster", None)
        )
        self.kind = opened.kind
        self._owns_cluster = opened.owns_cluster
        self.session = SESSION
        self.topic = f"mesh-magics-{self.session}-{uuid.uuid4().hex[:6]}"
        self.events = EventEmitter()
        self.created = time.time()
        self.kernel_id = kernel_id
        self.preloads = list(preloads)  # modules of plugins every worker runs (worker/preload)
        self._warnings: list[str] = []
        self._workers = WorkerTable()
        self._registry_id = self.kernel_id or f"pid-{os.getpid()}"
        address = opened.client.scheduler.address
        self._recorder = RunRecorder(mesh=address, kernel_id=self.kernel_id, session=self.session)
        self._auditor = MeshAuditor(mesh=address, kernel_id=self.kernel_id)
        self._closed = False
        self._batches: dict[str, BatchRun] = {}  # batches in flight (%%mesh map)
        self._on_down: list[Callable[[Mesh], Any]] = []
        self._dispatch = Dispatcher(
            client=lambda: self._conn.client,
            connected=lambda: self.state == "connected",
            workers=self._workers,
            recorder=self._recorder,
            events=self.events,
            session=self.session,
            topic=self.topic,
            views=[*views, self._auditor.observe],
        )
        self._wiring = SchedulerWiring(
            topic=self.topic,
            events=self.events,
            workers=self._workers,
            dispatch=self._dispatch,
            preloads=self.preloads,
            warnings=self._warnings,
            cluster=lambda: self.cluster if self._owns_cluster else None,
            client=lambda: self._conn.client,
        )
        self._conn = Connection(
            opened, events=self.events, on_connect=self._wiring.subscribe, keep=self._wiring.keep
        )
        self._cache = RunCache(
            ResultCache(), self._dispatch, client=lambda: self._conn.client, audit=self._auditor.observe
        )
        self._wiring.check_workers()
        self._register()
        self._auditor.append("connected", detail=self.kind)
        for event in ("connected", "disconnected"):
            self.events.on(event, self._auditor.connection)

    # -- public --------------------------------------------------------------------
    @property
    def client(self) -> Any:
        return self._conn.client

    @property
    def address(self) -> str:
        return self._conn.address

    @property
    def state(self) -> str:
        """``connected``, ``reconnecting``, ``lost`` or ``closed``."""
        return "closed" if self._closed else self._conn.state

    @property
    def reconnect_attempts(self) -> int:
        return self._conn.attempts

    @property
    def last_error(self) -> str | None:
        return self._conn.last_error

    @property
    def warnings(self) -> list[str]:
        """What the mesh could not do (plugin, registry, history, versions), for the user."""
        return self._warnings + self._recorder.warnings + self._auditor.warnings

    @property
    def audit(self) -> AuditLog | None:
        """The audit trail (:class:`mesh_magics.store.audit.AuditLog`), or None if disabled/broken."""
        return self._auditor.log

    @property
    def dashboard_link(self) -> str | None:
        try:
            return str(self.client.dashboard_link)
        except Exception:
            return None

    @property
    def cache(self) -> ResultCache:
        """The results of ``cache=True`` runs (``%%mesh --cache``): ``entries()``, ``clear()``."""
        return self._cache.cache

    @property
    def history(self) -> History | None:
        """The run history (:class:`mesh_magics.store.history.History`), or None if disabled/broken."""
        return self._recorder.history

    def record_session(self, name: str, source: str) -> SessionRecord:
        """A history row for a session of this kernel that is not a ``%%mesh`` cell (``%mesh follow``):
        :class:`~.recorder.SessionRecord`, ``running`` until its ``end``."""
        return self._recorder.open_session(name=name, source=source)

    @property
    def nodes(self) -> dict[str, Any] | None:
        """The dashboard plugin's last node state (``{"nodes", "links", "t"}``), if any."""
        return self._dispatch.nodes

    def on_down(self, callback: Callable[[Mesh], Any]) -> None:
        """Call ``callback(mesh)`` once the mesh is down."""
        self._on_down.append(callback)

    def on(self, event: str, callback: Any) -> Subscription:
        """Call ``callback(payload: dict)`` on ``event`` (see :data:`mesh_magics.core.events.EVENTS`)."""
        return self.events.on(event, callback)

    def run(
        self,
        code: str,
        *,
        on: Any = "any",
        name: str | None = None,
        push: Iterable[str] = (),
        pull: Iterable[str] = (),
        user_ns: Mapping[str, Any] | None = None,
        resources: Any = None,
        timeout: float | None = None,
        retries: int | None = None,
        priority: int = 0,
        block: bool = True,
        renderer: Renderer | None = None,
        cache: bool = False,
    ) -> MeshRun:
        """Run ``code`` on the mesh; see ``%%mesh`` for the meaning of each option.

        Blocking: returns the ended run (``run.result()`` raises its error); a
        KeyboardInterrupt cancels the run and raises :class:`RunCancelledError`.
        ``block=False``: returns at once; a daemon thread pumps and renders. ``cache=True``:
        served from :attr:`cache` when an identical earlier run still holds (a
        :class:`~.cached.CachedRun`, ended), else run and stored (see :mod:`.cache`).
        """
        run = self.submit(
            code, on=on, name=name, push=push, pull=pull, user_ns=user_ns, resources=resources,
            timeout=timeout, retries=retries, priority=priority, renderer=renderer, cache=cache,
        )  # fmt: skip
        if block:
            run.wait_or_cancel()
        else:
            run.pump_in_background()
        return run

    def submit(
        self,
        code: str,
        *,
        on: Any = "any",
        name: str | None = None,
        push: Iterable[str] = (),
        pull: Iterable[str] = (),
        user_ns: Mapping[str, Any] | None = None,
        resources: Any = None,
        timeout: float | None = None,
        retries: int | None = None,
        priority: int = 0,
        renderer: Renderer | None = None,
        cache: bool = False,
    ) -> MeshRun:
        """Submit and return the run without waiting; nobody pumps it until
        ``run.wait()`` or ``run.pump_in_background()``."""
        self._ensure_usable()
        spec = RunSpec.build(
            code, on=on, name=name, push=push, pull=pull, resources=resources,
            timeout=timeout, retries=retries, priority=priority, cache=cache,
        )  # fmt: skip
        if spec.cache:  # served from the cache, or submitted and stored when it finishes
            return self._cache.submit(spec, user_ns, renderer)
        return self._dispatch.submit(spec, user_ns=user_ns, renderer=renderer)

    def map(self, code_or_fn: str | Callable[[Any], Any], items: Any, *, block: bool | None = True,
            **options: Any) -> BatchRun:  # fmt: skip
        """Run ``code_or_fn`` once per item of ``items`` across the mesh (``%%mesh map``): a str is
        a cell whose item is bound as ``as_name`` (default ``item``) and whose last expression is
        the item's value; a function is called with the item. Options as :meth:`run` (``name``,
        ``on``, ``push``, ``user_ns``, ``resources``, ``timeout``, ``retries``, ``priority``,
        ``renderer``) plus ``as_name``. Blocking: returns the ended batch (``batch.result()``: the
        values in item order, or raises); ``block=False`` returns at once (a thread pumps it), ``None``
        at once and unpumped (``batch.wait()`` or ``batch.pump_in_background()`` drive it)."""
        from .batch_view import attach_progress
        from .batching import BatchEngine

        self._ensure_usable()
        engine = BatchEngine(client=lambda: self._conn.client, connected=lambda: self.state == "connected",
                             workers=self._workers, recorder=self._recorder, events=self.events,
                             session=self.session, topic=self.topic)  # fmt: skip
        batch = engine.start(code_or_fn, items, **options)
        attach_progress(batch)
        self._auditor.observe_batch(batch)
        self._batches[batch.id] = batch
        batch.add_done_callback(lambda b: self._batches.pop(b.id, None))
        if block:
            batch.wait_or_cancel()
        elif block is not None:
            batch.pump_in_background()
        return batch

    def runs(self) -> list[MeshRun]:
        """The last 100 ended runs (oldest first), then those in flight."""
        return self._dispatch.runs()

    def runs_in_flight(self) -> list[MeshRun]:
        return self._dispatch.in_flight()

    def get_run(self, run_id: str) -> MeshRun | BatchRun:
        """A run of this session, or a batch in flight, by id, id prefix or name."""
        found: list[MeshRun | BatchRun] = [*self.runs(), *self._batches.values()]
        for r in found:
            if r.id == run_id or r.id.startswith(run_id) or r.name == run_id:
                return r
        raise MeshUsageError(named("no run {run!r} in this session; {mesh.history} lists them", run=run_id))

    def workers(self) -> list[WorkerInfo]:
        """The workers, read from the scheduler now."""
        self._ensure_usable()
        return self._workers.describe(self._workers.refresh(self.client))

    def worker_addresses(self) -> list[str]:
        """The addresses of the workers the mesh knows of (no scheduler round trip)."""
        return self._workers.addresses()

    def status(self) -> MeshStatus:
        rows = self.workers() if self.state == "connected" else []
        return MeshStatus(self, rows)

    def down(self) -> None:
        """Leave the mesh: namespaces dropped, registry entry removed, our cluster closed."""
        if self._closed:
            return
        self._conn.stop_watching()
        self._dispatch.cancel_all("cancelled: its mesh went down")
        for batch in list(self._batches.values()):
            batch.cancel("cancelled: its mesh went down")
        self._dispatch.actors.close()
        self.cache.clear()  # the namespaces go: no entry could be served again
        try:
            if self._conn.state == "connected":
                self.client.run(cell.drop_session, self.session)
        except Exception:
            pass
        self._unregister()
        try:
            for topic in (self.topic, "all", plugin.TOPIC, plugin.WORKERS_TOPIC):
                self.client.unsubscribe_topic(topic)
        except Exception:
            pass
        try:
            self._conn.close()
        finally:
            if self._owns_cluster and self.cluster is not None:
                self.cluster.close()
            self._closed = True
            self._recorder.close()
            self._auditor.append("down")
            self._auditor.close()
            for callback in self._on_down:
                callback(self)

    # -- plumbing ------------------------------------------------------------------
    def _ensure_usable(self) -> None:
        if self._closed:
            raise NoMeshError(named("this mesh is down; {mesh_magics.up()} or {mesh_magics.connect()} again"))
        if self.state != "connected":
            raise MeshConnectionError(
                named(
                    "mesh {address} is {state} (attempt {attempt}); wait for it to reconnect "
                    "({mesh.status()}) or {mesh.down()} and connect again",
                    address=self.address,
                    state=self.state,
                    attempt=self.reconnect_attempts,
                )
            )

    def _register(self) -> None:
        try:
            from ..store import registry

            history = self.history
            registry.register(
                {
                    "id": self._registry_id,
                    "scheduler_address": self.address,
                    "dashboard_link": self.dashboard_link,
                    "kernel_id": self.kernel_id,
                    "kind": self.kind,
                    "pid": os.getpid(),
                    "session_id": self.session,
                    "history_path": str(history.path) if history is not None else None,
                    "audit_path": str(self.audit.path) if self.audit is not None else None,
                }
            )
            registry.install_exit_cleanup(self._registry_id)
        except Exception as e:
            self._warnings.append(f"could not write the mesh registry entry: {e}")

    def _unregister(self) -> None:
        try:
            from ..store import registry

            registry.unregister(self._registry_id)
        except Exception:
            pass

    # -- display -------------------------------------------------------------------
    def __repr__(self) -> str:
        n = len(self._workers)
        return f"<Mesh {self.kind} {self.address} {self.state}, {n} worker{'s' * (n != 1)}>"

    def _repr_html_(self) -> str:
        return self.status()._repr_html_()

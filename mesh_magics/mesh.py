"""The mesh: a Dask client (and maybe the cluster we started) plus what a notebook needs.

``up()`` starts the embedded mesh, ``connect()`` joins any existing Dask
cluster; both return a :class:`Mesh`. The IPython magics only translate their
options into these calls. A mesh

* keeps one session id, so cells of this notebook share a namespace per worker;
* subscribes to its stream topic (workers' output, see ``_remote``) and to the
  scheduler's ``all`` topic (workers joining and leaving);
* watches its connection and reconnects with bounded exponential backoff
  (``mesh.reconnect.*``), visible as ``state`` and in ``status()``;
* writes a registry file for the side panel and a history row per run.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
import uuid
from typing import Any

from . import _remote, config
from ._cluster import WorkerInfo, describe_workers, start_local
from ._runs import RunsMixin
from ._status import MeshStatus
from .errors import MeshConnectionError, MeshUsageError, NoMeshError
from .events import EventEmitter, Subscription

__all__ = ["Mesh", "connect", "current", "up"]

logger = logging.getLogger("mesh_magics")
_current: Mesh | None = None
_SESSION = uuid.uuid4().hex  # one per process: a kernel keeps its namespaces across meshes


def current() -> Mesh:
    """The mesh of this session; :class:`NoMeshError` if there is none."""
    if _current is None or _current.state == "closed":
        raise NoMeshError()
    return _current


def up(
    *,
    workers: int | None = None,
    threads: int | None = None,
    memory_limit: str | int | None = None,
    kind: str | None = None,
) -> Mesh:
    """Start the embedded mesh (GPU if detected, else CPU processes), or return the live one."""
    global _current
    if _current is not None and _current.state != "closed":
        return _current
    cluster, kind_ = start_local(
        kind=kind or config.get("cluster.kind"),
        n_workers=workers,
        threads_per_worker=threads,
        memory_limit=memory_limit,
    )
    from distributed import Client

    try:
        client = Client(cluster, set_as_default=True)
    except Exception:
        cluster.close()
        raise
    _current = Mesh(client, cluster=cluster, kind=kind_, owns_cluster=True)
    return _current


def connect(
    target: Any,
    *,
    tls_ca: str | None = None,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    timeout: float = 10,
) -> Mesh:
    """Join an existing mesh: a scheduler address, a ``Cluster`` or a ``Client``."""
    global _current
    import dask.config
    from distributed import Client

    if _current is not None and _current.state != "closed":
        raise MeshUsageError(f"already on mesh {_current.address}; `%mesh down` first")
    security = None
    if isinstance(target, str):
        if any((tls_ca, tls_cert, tls_key)):
            if not target.startswith("tls://"):
                raise MeshUsageError(f"TLS files given but {target!r} is not a tls:// address")
            for flag, path in (("--tls-ca", tls_ca), ("--tls-cert", tls_cert), ("--tls-key", tls_key)):
                if path is None or not os.path.isfile(path):
                    raise MeshUsageError(f"{flag} {path!r}: no such file (TLS needs CA, cert and key)")
            from distributed.security import Security

            security = Security(
                tls_ca_file=tls_ca, tls_client_cert=tls_cert, tls_client_key=tls_key, require_encryption=True
            )
        elif target.startswith("tls://") and not dask.config.get("distributed.comm.tls.ca-file", None):
            raise MeshUsageError(
                f"{target} is a TLS scheduler: give --tls-ca, --tls-cert and --tls-key "
                "(or set distributed.comm.tls.* in dask's config)"
            )
        try:
            client = Client(target, security=security, timeout=timeout, set_as_default=True)
        except (OSError, TimeoutError) as e:
            raise MeshConnectionError(
                f"cannot reach the scheduler at {target}: {e}. Check the address and that the "
                "scheduler runs (and TLS files for tls://)."
            ) from e
        owned = True
    elif type(target).__name__ == "Client" or hasattr(target, "submit"):
        client, owned = target, False
    elif hasattr(target, "scheduler_address"):
        client, owned = Client(target, set_as_default=True), True
    else:
        raise MeshUsageError(
            f"cannot connect to {type(target).__name__}: give a scheduler address "
            "(tcp://host:8786, tls://...), a dask Cluster or a distributed Client"
        )
    _current = Mesh(client, kind="connected", security=security, owns_client=owned)
    return _current


class Mesh(RunsMixin):
    """A live mesh. Use :func:`up` / :func:`connect` rather than the constructor."""

    def __init__(
        self,
        client: Any,
        *,
        cluster: Any = None,
        kind: str = "connected",
        owns_cluster: bool = False,
        owns_client: bool = True,
        security: Any = None,
    ) -> None:
        self._client = client
        self.cluster = cluster if cluster is not None else getattr(client, "cluster", None)
        self.kind = kind
        self._owns_cluster, self._owns_client = owns_cluster, owns_client
        self._security = security
        self.address: str = client.scheduler.address
        self.session = _SESSION
        self.topic = f"mesh-magics-{self.session}-{uuid.uuid4().hex[:6]}"
        self.state = "connected"
        self.events = EventEmitter()
        self.reconnect_attempts = 0
        self.last_error: str | None = None
        self.created = time.time()
        self._runs: dict[str, Any] = {}
        self._recent: collections.deque[Any] = collections.deque(maxlen=100)
        self._remote_names: dict[str, set[str]] = {}
        self._workers: dict[str, dict[str, Any]] = {}
        self._home: str | None = None
        self._notice: str | None = None
        self._closing = threading.Event()
        self._history: Any = None
        self._history_error: str | None = None
        self.kernel_id = _kernel_id()
        self.warnings: list[str] = []
        self._nodes_msg: dict[str, Any] | None = None
        self._subscribe()
        self._refresh_workers()
        self._check_workers()
        self._register()
        self._watcher = threading.Thread(target=self._watch, daemon=True, name="mesh-watch")
        self._watcher.start()

    # -- public -------------------------------------------------------------------
    @property
    def client(self) -> Any:
        return self._client

    @property
    def dashboard_link(self) -> str | None:
        try:
            return self._client.dashboard_link
        except Exception:
            return None

    def on(self, event: str, callback: Any) -> Subscription:
        """Call ``callback(payload: dict)`` on ``event`` (see :data:`mesh_magics.events.EVENTS`)."""
        return self.events.on(event, callback)

    @property
    def history(self) -> Any:
        """The run history (:class:`mesh_magics.history.History`), or None if disabled/broken."""
        if self._history is None and self._history_error is None and config.get("history.enabled"):
            try:
                from .history import History

                self._history = History()
            except Exception as e:
                self._history_failed(e)
        return self._history

    def _history_failed(self, e: Exception) -> None:
        if self._history_error is None:
            self._history_error = str(e)
            msg = f"run history disabled for this mesh: {e}"
            self.warnings.append(msg)
            logger.warning(msg)

    def runs(self) -> list[Any]:
        """Runs in flight, then the last 100 ended ones (newest last)."""
        return list(self._recent) + list(self._runs.values())

    def get_run(self, run_id: str) -> Any:
        for r in self.runs():
            if r.id == run_id or r.id.startswith(run_id) or r.name == run_id:
                return r
        raise MeshUsageError(f"no run {run_id!r} in this session; `%mesh history` lists them")

    def workers(self) -> list[WorkerInfo]:
        self._ensure_usable()
        return describe_workers({"workers": self._refresh_workers()})

    def status(self) -> MeshStatus:
        rows = self.workers() if self.state == "connected" else []
        return MeshStatus(self, rows)

    def down(self) -> None:
        """Leave the mesh: namespaces dropped, registry entry removed, our cluster closed."""
        global _current
        if self.state == "closed":
            return
        self._closing.set()
        for run in list(self._runs.values()):
            run.cancel("cancelled by %mesh down")
        try:
            if self.state == "connected":
                self._client.run(_remote.drop_session, self.session)
        except Exception:
            pass
        self._unregister()
        try:
            for topic in (self.topic, "all", "mesh-dashboard"):
                self._client.unsubscribe_topic(topic)
        except Exception:
            pass
        try:
            if self._owns_client:
                self._client.close()
        finally:
            if self._owns_cluster and self.cluster is not None:
                self.cluster.close()
            self.state = "closed"
            if _current is self:
                _current = None
            if self._history is not None:
                self._history.close()

    # -- plumbing ---------------------------------------------------------------------
    def _ensure_usable(self) -> None:
        if self.state == "closed":
            raise NoMeshError("this mesh is down; `%mesh up` or `%mesh connect` again")
        if self.state != "connected":
            raise MeshConnectionError(
                f"mesh {self.address} is {self.state} (attempt {self.reconnect_attempts}); "
                "wait for it to reconnect (`%mesh status`) or `%mesh down` and connect again"
            )

    def _subscribe(self) -> None:
        self._client.subscribe_topic(self.topic, self._on_topic)
        self._client.subscribe_topic("all", self._on_scheduler_event)
        if config.get("dashboard.enabled"):
            from .dashboard import _plugin

            try:
                self._client.register_plugin(
                    _plugin.MeshDashboardPlugin(interval=float(config.get("dashboard.interval")))
                )
                self._client.subscribe_topic(_plugin.TOPIC, self._on_dashboard_event)
            except Exception as e:  # e.g. mesh-magics missing on a remote scheduler
                self.warnings.append(
                    f"no live progress: the scheduler could not load the dashboard plugin "
                    f"({type(e).__name__}: {e}); install mesh-magics where the scheduler runs"
                )

    def _on_dashboard_event(self, event: tuple[float, dict[str, Any]]) -> None:
        msg = event[1]
        if msg.get("kind") == "nodes":
            self._nodes_msg = msg
            return
        for run_id, groups in (msg.get("runs") or {}).items():
            run = self._runs.get(run_id)
            if run is not None:
                run._post(
                    "progress",
                    {
                        "groups": groups,
                        "workers": msg["workers"].get(run_id, []),
                        "bytes": (msg.get("bytes") or {}).get(run_id, 0),
                        "t": msg["t"],
                    },
                )

    def _on_topic(self, event: tuple[float, dict[str, Any]]) -> None:
        msg = event[1]
        run = self._runs.get(msg.get("run"))
        if run is not None:
            run._post(msg.get("kind", "stream"), msg)

    def _on_scheduler_event(self, event: tuple[float, dict[str, Any]]) -> None:
        msg = event[1]
        action, addr = msg.get("action"), msg.get("worker")
        if action == "add-worker" and addr:
            self._workers.setdefault(addr, {})
            self.events.emit("worker_joined", worker=addr)
        elif action == "remove-worker" and addr:
            self._workers.pop(addr, None)
            self.events.emit("worker_left", worker=addr)
            for run in list(self._runs.values()):
                run._post("worker_left", addr)

    def _refresh_workers(self) -> dict[str, dict[str, Any]]:
        """Worker info from the scheduler (never call on Dask's event-loop thread)."""
        try:
            self._workers = dict(self._client.scheduler_info(n_workers=-1).get("workers", {}))
        except Exception as e:
            logger.debug("scheduler_info failed: %s", e)
        return self._workers

    def _check_workers(self) -> None:
        if not self._workers:
            return
        try:
            versions = self._client.run(_remote.version)
        except Exception as e:
            self.warnings.append(
                f"mesh-magics is not importable on every worker ({type(e).__name__}: {e}); "
                "install mesh-magics in the workers' environment so %%mesh cells can run there"
            )
            return
        from ._version import __version__

        odd = {w: v for w, v in versions.items() if v != __version__}
        if odd:
            self.warnings.append(f"workers run other mesh-magics versions than {__version__}: {odd}")

    def _watch(self) -> None:
        while not self._closing.wait(0.25):
            status = getattr(self._client, "status", "running")
            if status == "running":
                if self.state != "connected":
                    self._reconnected()
            elif status == "connecting":
                if self.state == "connected":
                    self.state = "reconnecting"
                    self.events.emit("disconnected", address=self.address, final=False)
                    self.events.emit("reconnecting", address=self.address, attempt=0)
            elif status in ("closed", "closing", "failed") and not self._closing.is_set():
                if self.state == "connected":
                    self.events.emit("disconnected", address=self.address, final=False)
                self._reconnect()

    def _reconnect(self) -> None:
        from distributed import Client

        if not config.get("reconnect.enabled"):
            self.state = "lost"
            return
        delay = float(config.get("reconnect.initial-delay"))
        cap = float(config.get("reconnect.max-delay"))
        for attempt in range(1, int(config.get("reconnect.max-attempts")) + 1):
            self.state, self.reconnect_attempts = "reconnecting", attempt
            self.events.emit("reconnecting", address=self.address, attempt=attempt, delay=delay)
            if self._closing.wait(delay):
                return
            try:
                self._client = Client(
                    self.address, security=self._security, timeout=max(2.0, delay), set_as_default=True
                )
            except Exception as e:
                self.last_error = f"{type(e).__name__}: {e}"
                delay = min(cap, delay * 2)
                continue
            self._owns_client = True
            self._reconnected()
            return
        self.state = "lost"
        self.events.emit("disconnected", address=self.address, final=True, error=self.last_error)

    def _reconnected(self) -> None:
        self._subscribe()  # topic subscriptions do not survive a reconnection
        self.state = "connected"
        self._refresh_workers()
        self.events.emit("connected", address=self.address, attempts=self.reconnect_attempts)
        self.reconnect_attempts = 0

    def _register(self) -> None:
        try:
            from . import registry

            self._registry_id = self.kernel_id or f"pid-{os.getpid()}"
            registry.register(
                {
                    "id": self._registry_id,
                    "scheduler_address": self.address,
                    "dashboard_link": self.dashboard_link,
                    "kernel_id": self.kernel_id,
                    "kind": self.kind,
                    "pid": os.getpid(),
                    "session_id": self.session,
                    "history_path": str(self.history.path) if self.history is not None else None,
                }
            )
            registry.install_exit_cleanup(self._registry_id)
        except Exception as e:
            self.warnings.append(f"could not write the mesh registry entry: {e}")

    def _unregister(self) -> None:
        try:
            from . import registry

            registry.unregister(self._registry_id)
        except Exception:
            pass

    # -- display -------------------------------------------------------------------------
    def __repr__(self) -> str:
        n = len(self._workers)
        return f"<Mesh {self.kind} {self.address} {self.state}, {n} worker{'s' * (n != 1)}>"

    def _repr_html_(self) -> str:
        return self.status()._repr_html_()


def _kernel_id() -> str | None:
    try:
        from ipykernel.connect import get_connection_file

        name = os.path.basename(get_connection_file())
        return name.removeprefix("kernel-").removesuffix(".json") or None
    except Exception:
        return None

"""The mesh's wiring to its scheduler: :class:`SchedulerWiring`, which each :class:`~.mesh.Mesh` holds.

On each connection (and again after each reconnection) the mesh subscribes to its stream
topic (workers' output, routed to the dispatcher), to the workers plugin's topic (workers
joining and leaving; distributed's ``all`` topic where the plugin cannot be loaded), to the
dashboard plugin's topic (progress and node states), and registers the scheduler plugins
and the plugins' worker preloads. Every few seconds it refreshes the worker table and keeps
the embedded mesh at its size. At start it checks that the workers run its version.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import config
from ..worker import cell, plugin
from .events import EventEmitter
from .workers import WorkerTable

if TYPE_CHECKING:  # pragma: no cover
    from .dispatch import Dispatcher

__all__ = ["SchedulerWiring"]

logger = logging.getLogger("mesh_magics")


class SchedulerWiring:
    """What a mesh sets up on its scheduler and hears from it. It is given the mesh's parts it
    works with: the ``topic`` its cells stream on, its ``events``, its worker table and
    dispatcher, the plugins' ``preloads``, the list its ``warnings`` go to, and the
    ``cluster`` when the mesh owns it (None for a mesh it connected to)."""

    def __init__(
        self,
        *,
        topic: str,
        events: EventEmitter,
        workers: WorkerTable,
        dispatch: Dispatcher,
        preloads: list[str],
        warnings: list[str],
        cluster: Callable[[], Any],
        client: Callable[[], Any],
    ) -> None:
        self.topic, self.events, self.preloads = topic, events, preloads
        self._workers, self._dispatch, self._warnings = workers, dispatch, warnings
        self._cluster, self._client = cluster, client

    def subscribe(self, client: Any) -> None:
        """Subscriptions and the scheduler plugins; again after each reconnection.

        Worker membership comes from the workers plugin's topic. Only where the plugin cannot
        be loaded does the mesh fall back to distributed's ``all`` topic, which some of
        distributed's own events can break (see :mod:`mesh_magics.worker.plugin`); the
        table is reconciled with the scheduler every few seconds either way."""
        client.subscribe_topic(self.topic, self._on_topic)
        try:  # workers joining and leaving (not the scheduler's "all" topic: see worker/plugin.py)
            client.register_plugin(plugin.MeshWorkersPlugin())
            client.subscribe_topic(plugin.WORKERS_TOPIC, self._on_scheduler_event)
        except Exception:  # mesh-magics missing on a remote scheduler: the scheduler's own events
            client.subscribe_topic("all", self._on_scheduler_event)
        self._dispatch.actors.register(client)  # the plugin that lets their workers retire
        if config.get("dashboard.enabled"):
            try:
                client.register_plugin(
                    plugin.MeshDashboardPlugin(interval=float(config.get("dashboard.interval")))
                )
                client.subscribe_topic(plugin.TOPIC, self._on_dashboard_event)
            except Exception as e:  # e.g. mesh-magics missing on a remote scheduler
                self._warnings.append(
                    f"no live progress: the scheduler could not load the dashboard plugin "
                    f"({type(e).__name__}: {e}); install mesh-magics where the scheduler runs"
                )
        if self.preloads:
            from ..worker.preload import PluginPreloads

            try:
                client.register_plugin(PluginPreloads(self.preloads))
            except Exception as e:
                self._warnings.append(f"the plugins' worker setup ({', '.join(self.preloads)}) failed: {e}")
        self._workers.refresh(client)

    def keep(self, client: Any) -> None:
        """Every few seconds: the worker table from the scheduler (events can be missed, a
        restarted worker has a new address), and the embedded mesh kept at its size."""
        self._workers.refresh(client)
        cluster = self._cluster()
        spec, live = getattr(cluster, "worker_spec", None), getattr(cluster, "workers", None)
        if cluster is not None and spec is not None and live is not None and len(live) < len(spec):
            # distributed closes a local worker for good when it is away longer than
            # distributed.deploy.lost-worker-timeout (a worker killed again while restarting):
            # scaling to the same size starts it again.
            logger.info("the embedded mesh lost %d worker(s); starting them again", len(spec) - len(live))
            cluster.scale(len(spec))

    def _on_topic(self, event: tuple[float, dict[str, Any]]) -> None:
        self._dispatch.route(event[1])

    def _on_dashboard_event(self, event: tuple[float, dict[str, Any]]) -> None:
        self._dispatch.plugin_event(event[1])

    def _on_scheduler_event(self, event: tuple[float, dict[str, Any]]) -> None:
        msg = event[1]
        action, addr = msg.get("action"), msg.get("worker")
        if action == "add-worker" and addr:
            self._workers.joined(addr)
            self.events.emit("worker_joined", worker=addr)
        elif action == "remove-worker" and addr:
            self._workers.left(addr)
            self.events.emit("worker_left", worker=addr)
            self._dispatch.worker_left(addr)

    def check_workers(self) -> None:
        if not len(self._workers):
            return
        try:
            versions = self._client().run(cell.version)
        except Exception as e:
            self._warnings.append(
                f"mesh-magics is not importable on every worker ({type(e).__name__}: {e}); "
                "install mesh-magics in the workers' environment so mesh cells can run there"
            )
            return
        from .._version import __version__

        odd = {w: v for w, v in versions.items() if v != __version__}
        if odd:
            self._warnings.append(f"workers run other mesh-magics versions than {__version__}: {odd}")

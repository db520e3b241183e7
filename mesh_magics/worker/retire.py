"""Workers holding session actors may retire: the scheduler plugin :class:`MeshActorsPlugin`.

distributed refuses to retire a worker that holds an actor (an actor cannot be moved: the
``RetireWorker`` policy of its active memory manager gives up on such a worker at once, and
``Client.retire_workers`` answers ``{}``). A session actor (:mod:`.actor`) holds no state of its
own, only the way in to the session's namespace on its worker, so it may go whenever its worker
does. ``Scheduler.retire_workers`` (which ``Client.retire_workers``, adaptive scaling and a
worker's own ``close_gracefully`` call) first marks the worker ``closing_gracefully`` and logs
that on the worker's topic, then runs the policy; every scheduler plugin sees the event
(``SchedulerPlugin.log_event``) before the policy runs. On it, this plugin releases the session
actors the worker holds (no actor of anyone else: distributed's rule stays for them):

* one in memory errs for its clients ("Worker holding Actor was lost", distributed's own
  word for an actor whose worker left) and is freed on the worker; a cell already running
  in it goes on until the worker closes, then its call fails as lost, as a cell task's
  worker would be;
* one still being created goes back to waiting: its only worker is no longer running, so it
  waits (``no-worker``) until the kernel drops it when the worker leaves, or is created again
  there if the retirement is called off.

Retirement then proceeds. The kernel (:mod:`mesh_magics.core.direct`) sees its actor's future
err and sends the session's cells as tasks until an actor on a remaining worker is ready.

This module is imported on the scheduler: the standard library and distributed.
"""

from __future__ import annotations

import logging
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin

from .keys import is_actor_key

__all__ = ["MeshActorsPlugin", "release_session_actors"]

logger = logging.getLogger(__name__)


def release_session_actors(scheduler: Any, address: str, stimulus_id: str) -> list[Any]:
    """Release the session actors the worker at ``address`` holds (see the module doc); their keys."""
    ws = scheduler.workers.get(address)
    if ws is None:
        return []
    recommendations: dict[Any, str] = {}
    for ts in list(ws.actors):
        if not is_actor_key(ts.key):
            continue
        # processing -> released leaves the task in ws.actors (only memory -> released and
        # processing -> erred take it out), and RetireWorker reads ws.actors: out it goes here
        ws.actors.discard(ts)
        if ts.state in ("memory", "processing"):
            recommendations[ts.key] = "released"
    if recommendations:
        if ws.status.name != "running":
            # the scheduler takes a worker that is no longer running out of its running set
            # just after logging the change, which is when this runs: do it first, or an actor
            # being created would be scheduled right back onto its only (retiring) worker
            scheduler.running.discard(ws)
        logger.info(
            "releasing session actors %s of retiring worker %s", sorted(map(str, recommendations)), address
        )
        scheduler.transitions(recommendations, stimulus_id)
    return list(recommendations)


class MeshActorsPlugin(SchedulerPlugin):
    """Releases the session actors of a worker as it starts retiring (see the module doc)."""

    name = "mesh-magics-actors"
    idempotent = True

    async def start(self, scheduler: Any) -> None:
        self.scheduler = scheduler

    def log_event(self, topic: str, msg: Any) -> None:
        if not (isinstance(msg, dict) and msg.get("action") == "worker-status-change"):
            return
        if msg.get("status") != "closing_gracefully":
            return
        stimulus_id = f"mesh-release-actors-{msg.get('stimulus_id')}"
        release_session_actors(self.scheduler, topic, stimulus_id)

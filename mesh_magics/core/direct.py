"""Cells sent straight to their worker: the session's actors (:class:`SessionActors`) and the
calls made to them (:class:`DirectCall`).

A cell task costs the scheduler's whole task path: the client's batched send (up to 10 ms),
the transitions, the worker's and the scheduler's batched streams back, then a gather of the
result through the scheduler. A Dask actor call is one request and its reply. So the
dispatcher (:mod:`.dispatch`) keeps one :class:`~mesh_magics.worker.actor.SessionActor` per
worker of the session, created in the background the first time a cell goes to that worker
(that cell, and any cell while the actor is not ready, takes the task path), and sends a
cell to it when nothing asks for the scheduler: no ``resources``, priority 0, no pushed
value scattered as a future, ``mesh.run.session-actors`` on.

A :class:`DirectCall` stands for one attempt the way a Dask future does for a task, so the
run (:mod:`.run`) reads both alike: ``status`` (``pending``, ``finished``, ``error``, or
``lost`` when the worker, or the scheduler the call goes through, could not be reached, or
when the worker no longer holds the actor: ``actor_gone``, its worker retiring or a new worker
process there, and the dispatcher runs that attempt as a task instead), ``result()``,
``exception()``, ``release()``. Cancels interrupt the cell's thread (:func:`cell.interrupt`),
which also tells the kernel, so a direct attempt ends at once even when its code is in a
long C call.

Distributed will not retire a worker holding an actor; the scheduler plugin
:class:`~mesh_magics.worker.retire.MeshActorsPlugin`, put on the scheduler on each connection
(:meth:`SessionActors.register`; without it there are no actors), releases the session's actor
as its worker starts retiring (``Client.retire_workers``, ``cluster.scale`` down, adaptive
scaling, a worker closing gracefully). Its future errs here: the session's cells take the task
path again (on a worker being retired, a task waits for that worker as before, and the run sees
it leave; so does a cell that reached the worker just after its actor went) and a new actor is
created lazily on the worker the next cells go to.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..worker.actor import SessionActor
from ..worker.keys import actor_key

__all__ = ["DirectCall", "SessionActors", "actor_key"]


class DirectCall:
    """One attempt sent to a session actor; read like a Dask future (see the module doc)."""

    direct = True

    def __init__(self, address: str) -> None:
        self.address = address
        self.status = "pending"
        self.actor_gone = False  # the worker answered but holds no such actor
        self._result: Any = None
        self._error: BaseException | None = None

    def succeed(self, result: Any) -> None:
        self._result, self.status = result, "finished"

    def fail(self, error: BaseException) -> None:
        self._error = error
        self.actor_gone = _actor_gone(error)
        self.status = "lost" if self.actor_gone or isinstance(error, OSError) else "error"

    def result(self) -> Any:
        if self._error is not None:
            raise self._error
        return self._result

    def exception(self) -> BaseException | None:
        return self._error

    def release(self) -> None:
        """Nothing is held on the mesh for a call (a task path future's counterpart)."""

    def __repr__(self) -> str:
        return f"<DirectCall {self.address} {self.status}>"


async def _execute(client: Any, address: str, key: Any, payload: dict[str, Any]) -> Any:
    """``SessionActor.run(payload)`` on the actor ``key`` at ``address``; its result, or raises."""
    from distributed.actor import ProxyRPC
    from distributed.protocol import to_serialize

    rpc = client.rpc(address) if client.direct_to_workers else ProxyRPC(client.scheduler, address)
    response = await rpc.actor_execute(function="run", actor=key, args=[to_serialize(payload)], kwargs={})
    if response["status"] != "OK":
        raise response["exception"]
    return response["result"]


def _actor_gone(error: BaseException) -> bool:
    """Whether a call failed because its worker holds no such actor (released as the worker
    retires, or a new worker process); an OSError (CommClosedError, a refused connect, a
    timeout) is a worker that was not there."""
    text = f"{type(error).__name__}: {error}"
    return "mesh-session-" in text and "KeyError" in text


class SessionActors:
    """The actors of one session, one per worker (see the module doc); thread-safe."""

    def __init__(self, session: str) -> None:
        self.session = session
        #: whether the scheduler runs the plugin that releases actors of retiring workers
        #: (:meth:`register`); without it no actor is created: it would pin its worker
        self.enabled = False
        self._lock = threading.Lock()
        self._client: Any = None
        self._futures: dict[str, Any] = {}  # address -> the actor's creation future
        self._handles: dict[str, Any] = {}  # address -> distributed.Actor

    def register(self, client: Any) -> bool:
        """Put :class:`~mesh_magics.worker.retire.MeshActorsPlugin` on ``client``'s scheduler (on
        each connection; once per scheduler); whether it is there (:attr:`enabled`)."""
        from ..worker.retire import MeshActorsPlugin

        try:
            client.register_plugin(MeshActorsPlugin())
        except Exception:  # e.g. mesh-magics missing where a remote scheduler runs: tasks only
            self.enabled = False
        else:
            self.enabled = True
        return self.enabled

    def ready(self, client: Any, address: str) -> Any:
        """The actor on ``address`` if it is ready, else None (and it is created, once)."""
        if not self.enabled:
            return None
        with self._lock:
            if client is not self._client:  # a reconnection: the old client's actors are gone
                self._release_all()
                self._client = client
            future = self._futures.get(address)
            if future is None:
                self._futures[address] = client.submit(
                    SessionActor,
                    self.session,
                    key=actor_key(self.session, address),
                    workers=[address],
                    allow_other_workers=False,
                    actor=True,
                    pure=False,
                )
                return None
            if future.status != "finished":
                if future.status in ("error", "cancelled", "lost"):  # try again next time
                    self._drop(address)
                return None
            handle = self._handles.get(address)
            if handle is None:
                from distributed import Actor

                with client.as_current():  # binds the handle to this client, not the default one
                    handle = self._handles[address] = Actor(SessionActor, address, future.key)
            return handle

    def call(
        self,
        client: Any,
        actor: Any,
        address: str,
        payload: dict[str, Any],
        done: Callable[[DirectCall], Any],
    ) -> DirectCall:
        """Send ``payload`` to ``actor`` (on ``address``); ``done(call)`` runs on Dask's event
        loop when it returns.

        The request is the one ``actor.run(payload)`` sends (``actor_execute``, through the
        scheduler's ``proxy`` unless the client is ``direct_to_workers``), made here: a Dask
        actor call whose worker no longer holds the actor never returns (the KeyError is raised
        in distributed's callback and its ActorFuture is never set)."""
        call = DirectCall(address)

        async def go() -> None:
            try:
                call.succeed(await _execute(client, address, actor.key, payload))
            except BaseException as e:  # noqa: BLE001 - every failure is the attempt's outcome
                call.fail(e)
            done(call)

        client.loop.add_callback(go)
        return call

    def drop(self, address: str) -> None:
        """Forget the actor on ``address`` (its worker left the mesh)."""
        with self._lock:
            self._drop(address)

    def close(self) -> None:
        with self._lock:
            self._release_all()
            self._client = None

    def __len__(self) -> int:
        with self._lock:
            return sum(f.status == "finished" for f in self._futures.values())

    def _drop(self, address: str) -> None:
        self._handles.pop(address, None)
        future = self._futures.pop(address, None)
        if future is not None:
            try:
                future.release()
            except Exception:  # the client may be gone; nothing is held then
                pass

    def _release_all(self) -> None:
        for address in list(self._futures):
            self._drop(address)

"""A mesh's link to its scheduler: :class:`Connection`, and the clients it starts from.

:func:`local_client` starts the embedded mesh (:mod:`.cluster`), :func:`remote_client`
joins a scheduler address, a ``Cluster`` or a ``Client``. A :class:`Connection` holds the
Client, watches it, and when the scheduler goes away reconnects with bounded exponential
backoff (``mesh.reconnect.*``), visible as :attr:`Connection.state` and through the
``connected``, ``disconnected`` and ``reconnecting`` events. Topic subscriptions do not
survive a reconnection: ``on_connect`` (the mesh's subscriptions) runs again each time.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import config
from ..errors import MeshConnectionError, MeshUsageError, named
from .cluster import start_local
from .events import EventEmitter

__all__ = ["Connection", "Opened", "local_client", "remote_client"]

logger = logging.getLogger("mesh_magics")


@dataclass
class Opened:
    """A Client just made, and what the mesh needs to know about it."""

    client: Any
    kind: str
    cluster: Any = None
    owns_cluster: bool = False
    owns_client: bool = True
    security: Any = None


def local_client(
    *,
    workers: int | None = None,
    threads: int | None = None,
    memory_limit: str | int | None = None,
    kind: str | None = None,
) -> Opened:
    """Start the embedded mesh (GPU workers if detected, else CPU processes) and a Client."""
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
    return Opened(client, kind_, cluster=cluster, owns_cluster=True)


def _security(target: str, tls_ca: str | None, tls_cert: str | None, tls_key: str | None) -> Any:
    import dask.config

    if any((tls_ca, tls_cert, tls_key)):
        if not target.startswith("tls://"):
            raise MeshUsageError(f"TLS files given but {target!r} is not a tls:// address")
        for param, path in (("tls_ca", tls_ca), ("tls_cert", tls_cert), ("tls_key", tls_key)):
            if path is None or not os.path.isfile(path):
                raise MeshUsageError(
                    named(
                        "{" + param + "} {path!r}: no such file (TLS needs a CA, a cert and a key)", path=path
                    )
                )
        from distributed.security import Security

        return Security(
            tls_ca_file=tls_ca, tls_client_cert=tls_cert, tls_client_key=tls_key, require_encryption=True
        )
    if target.startswith("tls://") and not dask.config.get("distributed.comm.tls.ca-file", None):
        raise MeshUsageError(
            named(
                "{target} is a TLS scheduler: give {tls_ca}, {tls_cert} and {tls_key} "
                "(or set distributed.comm.tls.* in dask's config)",
                target=target,
            )
        )
    return None


def remote_client(
    target: Any,
    *,
    tls_ca: str | None = None,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    timeout: float = 10,
) -> Opened:
    """A Client on an existing mesh: a scheduler address, a ``Cluster`` or a ``Client``."""
    from distributed import Client

    if isinstance(target, str):
        security = _security(target, tls_ca, tls_cert, tls_key)
        try:
            client = Client(target, security=security, timeout=timeout, set_as_default=True)
        except (OSError, TimeoutError) as e:
            raise MeshConnectionError(
                f"cannot reach the scheduler at {target}: {e}. Check the address and that the "
                "scheduler runs (and TLS files for tls://)."
            ) from e
        return Opened(client, "connected", security=security)
    if type(target).__name__ == "Client" or hasattr(target, "submit"):
        return Opened(target, "connected", owns_client=False)
    if hasattr(target, "scheduler_address"):
        return Opened(Client(target, set_as_default=True), "connected")
    raise MeshUsageError(
        f"cannot connect to {type(target).__name__}: give a scheduler address "
        "(tcp://host:8786, tls://...), a dask Cluster or a distributed Client"
    )


class Connection:
    """The Client of a mesh, watched and reconnected (see the module doc).

    ``state`` is ``connected``, ``reconnecting``, ``lost`` (reconnection gave up) or
    ``closed``. ``on_connect(client)`` runs at the start and after every reconnection;
    ``keep(client)`` runs every ``keep_every`` seconds while connected (on the watcher's
    thread; an error there is logged, never fatal).
    """

    def __init__(
        self,
        opened: Opened,
        *,
        events: EventEmitter,
        on_connect: Callable[[Any], None],
        keep: Callable[[Any], None] | None = None,
        keep_every: float = 2.0,
    ) -> None:
        self.client = opened.client
        self.address: str = opened.client.scheduler.address
        self.owns_client = opened.owns_client
        self.security = opened.security
        self.state = "connected"
        self.attempts = 0
        self.last_error: str | None = None
        self._events, self._on_connect = events, on_connect
        self._keep, self._keep_every, self._kept = keep, keep_every, time.monotonic()
        self._closing = threading.Event()
        on_connect(self.client)
        self._watcher = threading.Thread(target=self._watch, daemon=True, name="mesh-watch")
        self._watcher.start()

    @property
    def closing(self) -> bool:
        return self._closing.is_set()

    def stop_watching(self) -> None:
        """No more reconnection: the mesh is going down."""
        self._closing.set()

    def close(self) -> None:
        """Stop watching; close the Client if this connection made it."""
        self._closing.set()
        try:
            if self.owns_client:
                self.client.close()
        finally:
            self.state = "closed"

    def _watch(self) -> None:
        while not self._closing.wait(0.25):
            status = getattr(self.client, "status", "running")
            if status == "running":
                if self.state != "connected":
                    self._connected()
                elif self._keep is not None and time.monotonic() - self._kept >= self._keep_every:
                    self._kept = time.monotonic()
                    try:
                        self._keep(self.client)
                    except Exception:
                        logger.debug("mesh keep-up failed", exc_info=True)
            elif status == "connecting":
                if self.state == "connected":
                    self.state = "reconnecting"
                    self._events.emit("disconnected", address=self.address, final=False)
                    self._events.emit("reconnecting", address=self.address, attempt=0)
            elif status in ("closed", "closing", "failed") and not self._closing.is_set():
                if self.state == "connected":
                    self._events.emit("disconnected", address=self.address, final=False)
                self._reconnect()

    def _reconnect(self) -> None:
        from distributed import Client

        if not config.get("reconnect.enabled"):
            self.state = "lost"
            return
        delay = float(config.get("reconnect.initial-delay"))
        cap = float(config.get("reconnect.max-delay"))
        for attempt in range(1, int(config.get("reconnect.max-attempts")) + 1):
            self.state, self.attempts = "reconnecting", attempt
            self._events.emit("reconnecting", address=self.address, attempt=attempt, delay=delay)
            if self._closing.wait(delay):
                return
            try:
                self.client = Client(
                    self.address, security=self.security, timeout=max(2.0, delay), set_as_default=True
                )
            except Exception as e:
                self.last_error = f"{type(e).__name__}: {e}"
                delay = min(cap, delay * 2)
                continue
            self.owns_client = True
            self._connected()
            return
        self.state = "lost"
        self._events.emit("disconnected", address=self.address, final=True, error=self.last_error)

    def _connected(self) -> None:
        self._on_connect(self.client)  # topic subscriptions do not survive a reconnection
        self.state = "connected"
        self._events.emit("connected", address=self.address, attempts=self.attempts)
        self.attempts = 0

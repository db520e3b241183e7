"""The server extension's core: meshes, nodes, runs and cancel, without Tornado.

The handlers are thin wrappers around one :class:`MeshManager`, which

* lists meshes from the kernels' registry files (:mod:`mesh_magics.store.registry`)
  and tells whether each scheduler answers, with a short cached probe;
* reads workers from a mesh's scheduler (the same ``identity`` call as
  ``Client.scheduler_info()``, over a one-off RPC connection: the server never
  shows up as a client of the mesh just to draw the node map);
* reads runs from the history databases (:class:`~.runstore.RunStore`);
* cancels a run by going straight to its scheduler (:func:`mesh_magics.core.cancel.cancel_run`),
  so it works while the kernel that started the run is busy waiting for it, and appends the
  cancel to the audit trail;
* gathers the Prometheus metrics of the meshes and runs (:mod:`.metrics`).

Cancelling opens a short-lived *synchronous* ``distributed.Client`` in a worker
thread. ``cancel_run`` is synchronous; a sync Client does its I/O on
distributed's own loop thread, so a slow scheduler never stalls the Jupyter
server's loop; and a cancel is a rare click, for which a connect of ~100 ms does
not matter. Holding nothing between clicks means no connection left stale when a
kernel restarts its mesh on the same port, no idle client counted by the
scheduler, and nothing to tear down when the server stops.

Security: the only schedulers the manager contacts are the ``scheduler_address``
values of registry entries; requests name meshes by registry id and runs by run
id, never by address. The registry and the history live in the user's own
directories (mode 0700), written by the user's kernels.
"""

from __future__ import annotations

import asyncio
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..core.cancel import cancel_run
from ..store import registry
from ..worker.metrics import describe_workers
from .errors import BadRequest, Conflict, Forbidden, NotFound, Unavailable
from .histories import ACTIVE_STATUSES, RunQuery, RunStore
from .metrics import AuditFiles, MeshMetrics, read_snapshot

__all__ = ["MESH_FIELDS", "MESH_STATES", "MeshManager", "worker_rows"]

#: What ``state`` a mesh can be in, as the panel shows it.
MESH_STATES = ("connected", "unreachable", "gone")
#: Keys of a mesh in ``GET meshes`` (plus ``stale``, ``state`` and ``reason``).
MESH_FIELDS = ("id", "scheduler_address", "dashboard_link", "kernel_id", "kind", "pid", "created", "host")

_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")


def _check_id(what: str, value: str) -> str:
    if not _ID.match(value):
        raise BadRequest(f"malformed {what} id {value[:60]!r}: expected letters, digits, '_', '.', ':', '-'")
    return value


def worker_rows(identity: dict[str, Any]) -> list[dict[str, Any]]:
    """Workers of a scheduler's ``identity()`` reply, as ``GET meshes/<id>/nodes`` lists them
    (the same :class:`~mesh_magics.worker.metrics.WorkerInfo` as ``%mesh status`` reads)."""
    rows = []
    for w in describe_workers(identity):
        gpu = None
        if w.gpu_name:
            gpu = {
                "name": w.gpu_name,
                "utilization": w.gpu_utilization,
                "memory_used": w.gpu_memory_used,
                "memory_total": w.gpu_memory_total,
            }
        rows.append(
            {
                "address": w.address,
                "name": w.name,
                "host": w.host,
                "threads": w.threads,
                "memory": w.memory,
                "memory_limit": w.memory_limit or None,
                "cpu": w.cpu,
                "tasks": w.tasks,
                "spilled": w.spilled,
                "gpu": gpu,
            }
        )
    return rows


class MeshManager:
    """Everything the REST routes and the events feed do, as plain (async) methods.

    ``probe_timeout`` bounds a liveness probe, ``probe_ttl`` how long its answer
    is reused, ``rpc_timeout`` a worker listing and ``connect_timeout`` the
    cancel connection (seconds).
    """

    def __init__(
        self,
        *,
        probe_timeout: float = 1.0,
        probe_ttl: float = 2.0,
        rpc_timeout: float = 5.0,
        connect_timeout: float = 5.0,
        base_url: str = "/",
    ) -> None:
        self.probe_timeout, self.probe_ttl = probe_timeout, probe_ttl
        self.rpc_timeout, self.connect_timeout = rpc_timeout, connect_timeout
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.runs = RunStore(extra_paths=lambda: [e.get("history_path") for e in registry.entries()])
        self.audits = AuditFiles(extra_paths=lambda: [e.get("audit_path") for e in registry.entries()])
        self.metrics = MeshMetrics()
        self._probes: dict[str, tuple[float, str, str | None]] = {}
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="mesh-server")

    async def _in_thread(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    # -- meshes -------------------------------------------------------------------------
    async def meshes(self, max_age: float | None = None) -> list[dict[str, Any]]:
        """Every registry entry with its ``state``: probes run concurrently, answers are cached."""
        entries = registry.entries()
        states = await asyncio.gather(*(self._state(e, max_age) for e in entries))
        return [self._public(e, state, reason) for e, (state, reason) in zip(entries, states)]

    def _public(self, entry: dict[str, Any], state: str, reason: str | None) -> dict[str, Any]:
        out = {key: entry.get(key) for key in MESH_FIELDS}
        out.update(stale=bool(entry.get("stale")), state=state, reason=reason)
        # the Dask scheduler's own Prometheus page, through the authenticated dashboard proxy
        link = f"{self.base_url}mesh/api/meshes/{entry.get('id')}/dashboard/metrics"
        out["metrics_link"] = link if entry.get("dashboard_link") else None
        return out

    async def metrics_page(self) -> bytes:
        """The Prometheus exposition of the meshes and runs (see :mod:`.metrics`)."""
        meshes = await self.meshes()
        snapshot = await self._in_thread(read_snapshot, self.runs.histories(), self.audits, meshes)
        return self.metrics.render(snapshot)

    async def _state(self, entry: dict[str, Any], max_age: float | None) -> tuple[str, str | None]:
        if entry.get("error"):
            return "gone", str(entry["error"])
        if entry.get("stale"):
            return "gone", f"its kernel (pid {entry.get('pid')}) has exited"
        address = str(entry["scheduler_address"])
        ttl = self.probe_ttl if max_age is None else max_age
        cached = self._probes.get(address)
        if cached is not None and time.monotonic() - cached[0] < ttl:
            return cached[1], cached[2]
        try:
            await self._identity(address, n_workers=0, timeout=self.probe_timeout)
            state, reason = "connected", None
        except Exception as exc:  # any failure to talk is the answer "unreachable", with its reason
            state, reason = "unreachable", _why(address, exc)
        self._probes[address] = (time.monotonic(), state, reason)
        return state, reason

    async def _identity(self, address: str, *, n_workers: int, timeout: float) -> dict[str, Any]:
        """The scheduler's ``identity`` over a one-off connection (TLS from dask's config)."""
        from distributed.core import rpc
        from distributed.security import Security

        args = Security().get_connection_args("client")
        remote = rpc(address, timeout=timeout, connection_args=args)
        try:
            return await asyncio.wait_for(remote.identity(n_workers=n_workers), timeout + 1.0)
        finally:
            await remote.close_rpc()

    def entry(self, mesh_id: str) -> dict[str, Any]:
        """The registry entry ``mesh_id`` (NotFound if there is none)."""
        _check_id("mesh", mesh_id)
        for e in registry.entries():
            if e.get("id") == mesh_id:
                return e
        raise NotFound(f"no mesh {mesh_id!r} in the registry; its kernel may have shut it down")

    async def nodes(self, mesh_id: str) -> dict[str, Any]:
        """``{"mesh", "workers"}`` read from the scheduler of ``mesh_id``."""
        e = self.entry(mesh_id)
        if e.get("stale"):
            raise Conflict(f"mesh {mesh_id!r} is gone: its kernel (pid {e.get('pid')}) has exited")
        address = str(e["scheduler_address"])
        try:
            identity = await self._identity(address, n_workers=-1, timeout=self.rpc_timeout)
        except Exception as exc:  # reported to the user as a 502 with the cause
            raise Unavailable(f"cannot read the workers of mesh {mesh_id!r}: {_why(address, exc)}") from exc
        return {"mesh": mesh_id, "workers": worker_rows(identity)}

    # -- runs -------------------------------------------------------------------------
    def _mesh_ids(self) -> dict[str, str]:
        return {
            str(e["scheduler_address"]): str(e["id"])
            for e in registry.entries()
            if not e.get("stale") and e.get("scheduler_address")
        }

    async def list_runs(self, query: RunQuery) -> dict[str, Any]:
        """A page of runs; ``query.mesh`` may be a registry id or a scheduler address.

        Each run gets ``mesh_id``: the live registry entry of its scheduler, or None.
        """
        ids = self._mesh_ids()
        if query.mesh is not None:
            by_id = {v: k for k, v in ids.items()}
            if query.mesh in by_id:
                query = RunQuery(
                    query.status, by_id[query.mesh], query.q, query.offset, query.limit, query.user
                )
        page = await self._in_thread(self.runs.page, query)
        for row in page["runs"]:
            row["mesh_id"] = ids.get(row["mesh"])
        return page

    async def get_run(self, run_id: str) -> dict[str, Any]:
        """The full row of ``run_id``, tails and summary included (NotFound if unknown)."""
        _check_id("run", run_id)
        row = await self._in_thread(self.runs.get, run_id)
        if row is None:
            raise NotFound(f"no run {run_id!r} in the run history")
        row["mesh_id"] = self._mesh_ids().get(row["mesh"])
        return row

    async def run_changes(self, before: dict[str, str]) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """:meth:`RunStore.changes` in a worker thread (for the events feed)."""
        return await self._in_thread(self.runs.changes, before)

    async def cancel(self, run_id: str) -> dict[str, Any]:
        """Cancel ``run_id`` on its mesh, straight through the scheduler.

        Refused unless the run is still queued or running (Conflict) and its
        scheduler belongs to a registry entry (Forbidden) whose kernel is alive
        (Conflict). Returns ``{"cancelled", "interrupted", "cancelled_keys"}``;
        ``cancelled`` is False when nothing of the run was found on the mesh.
        """
        row = await self.get_run(run_id)
        name = row.get("name") or run_id
        if row["status"] not in ACTIVE_STATUSES:
            raise Conflict(f"run {name} already ended ({row['status']}); there is nothing to cancel")
        address = str(row["mesh"])
        entries = [e for e in registry.entries() if e.get("scheduler_address") == address]
        if not entries:
            raise Forbidden(
                f"run {name} ran on {address}, which is not in the mesh registry; the server "
                "only contacts schedulers that a kernel registered"
            )
        if all(e.get("stale") for e in entries):
            raise Conflict(f"the mesh of run {name} ({address}) is gone: its kernel has exited")
        try:
            result = await self._in_thread(self._cancel_sync, address, run_id)
        except Exception:
            self.metrics.cancel_requests.labels("error").inc()
            raise
        cancelled = bool(result["interrupted"] or result["cancelled_keys"])
        self.metrics.cancel_requests.labels("cancelled" if cancelled else "nothing").inc()
        await self._in_thread(self._audit_cancel, entries, address, row, cancelled)
        return {"cancelled": cancelled, **result}

    @staticmethod
    def _audit_cancel(entries: list[dict[str, Any]], address: str, row: dict[str, Any], done: bool) -> None:
        """The cancel in the audit trail of the run's kernel (best effort: a cancel is not
        refused because the trail cannot be written)."""
        from ..store.audit import AuditLog

        live = [e for e in entries if not e.get("stale")]
        path = next((e.get("audit_path") for e in live if e.get("audit_path")), None)
        try:
            with AuditLog(path) as log:
                log.append("cancel", run_id=row["id"], mesh=address, name=row.get("name"),
                           detail=f"through the Jupyter server: {'cancelled' if done else 'nothing to cancel'}")  # fmt: skip
        except Exception:
            pass

    def _cancel_sync(self, address: str, run_id: str) -> dict[str, Any]:
        """A short-lived synchronous Client, in a worker thread (see the module docstring)."""
        from distributed import Client
        from distributed.security import Security

        try:
            client = Client(address, timeout=self.connect_timeout, set_as_default=False, security=Security())
        except Exception as exc:  # reported to the user as a 502 with the cause
            raise Unavailable(f"cannot reach the scheduler to cancel: {_why(address, exc)}") from exc
        try:
            out = cancel_run(client, run_id)
        except (OSError, TimeoutError) as exc:
            raise Unavailable(f"the scheduler at {address} stopped answering: {exc}") from exc
        finally:
            client.close(timeout=self.connect_timeout)
        return {
            "interrupted": [str(w) for w in out["interrupted"]],
            "cancelled_keys": [str(k) for k in out["cancelled_keys"]],
        }

    def close(self) -> None:
        """Release database connections and the worker threads."""
        self.runs.close()
        self.audits.close()
        self._executor.shutdown(wait=False, cancel_futures=True)


def _why(address: str, exc: BaseException) -> str:
    """One line saying why ``address`` did not answer."""
    if address.startswith("tls://") and isinstance(exc, TypeError):
        return (
            f"{address} is a TLS scheduler and the Jupyter server has no TLS configuration "
            "(set distributed.comm.tls.* in dask's config for the server)"
        )
    text = str(exc).strip() or type(exc).__name__
    return f"{address} did not answer: {text}"

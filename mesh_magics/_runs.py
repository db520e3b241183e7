"""The run half of :class:`~mesh_magics.mesh.Mesh`: submit, retry, cancel, conclude.

Kept apart from the connection half (``mesh.py``) so each stays readable. The
mixin relies on the mesh attributes ``_client``, ``session``, ``topic``,
``_runs``, ``_remote_names``, ``events``, ``history`` and ``_workers``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from . import _remote, config
from ._push import select_pushes
from .cancel import run_key
from .errors import MeshUsageError, RemoteError
from .run import MeshRun, _Target

__all__ = ["RunsMixin"]

_EVENT_OF_STATUS = {
    "finished": "run_finished",
    "cancelled": "run_cancelled",
    "failed": "run_failed",
    "timeout": "run_failed",
    "lost": "run_failed",
}


def _parse_resources(resources: Mapping[str, float] | str | None) -> dict[str, float] | None:
    if resources is None or resources == "":
        return None
    if isinstance(resources, Mapping):
        return {str(k): float(v) for k, v in resources.items()}
    out: dict[str, float] = {}
    for part in str(resources).split(","):
        name, sep, qty = part.partition("=")
        try:
            out[name.strip()] = float(qty) if sep else 1.0
        except ValueError:
            raise MeshUsageError(
                f"--resources {resources!r}: {part!r} is not NAME=QUANTITY (e.g. GPU=1)"
            ) from None
    return out


class RunsMixin:
    _client: Any
    session: str
    topic: str
    _runs: dict[str, MeshRun]
    _remote_names: dict[str, set[str]]
    _workers: dict[str, dict[str, Any]]
    _home: str | None

    # -- targets ----------------------------------------------------------------
    def _resolve_targets(self, on: Any, resources: dict[str, float] | None) -> list[str]:
        cached = on in (None, "any") and self._home in self._workers and not resources
        workers = self._workers if cached else self._refresh_workers()  # type: ignore[attr-defined]
        if not workers:
            raise MeshUsageError("the mesh has no workers yet; wait for them or `%mesh status`")
        fit = [
            a
            for a, w in workers.items()
            if not resources or all((w.get("resources") or {}).get(k, 0) >= v for k, v in resources.items())
        ]
        if not fit:
            raise MeshUsageError(
                f"--resources {resources}: no worker of this mesh offers that; workers offer "
                f"{sorted({k for w in workers.values() for k in (w.get('resources') or {})}) or 'none'}"
            )
        if on in (None, "any"):
            if self._home in fit:
                return [self._home]  # type: ignore[list-item]
            home = min(fit, key=lambda a: (_load(workers[a]), str(workers[a].get("name"))))
            if self._home is not None and self._home not in workers:
                self._notice = (
                    f"the session's worker {self._home} left the mesh; its namespace "
                    f"is gone, now running on {self._worker_label(home)}"
                )
            self._home = home
            return [home]
        if on == "all":
            return sorted(fit, key=lambda a: str(workers[a].get("name")))
        names = [s.strip() for s in (on.split(",") if isinstance(on, str) else on) if str(s).strip()]
        by_name = {str(w.get("name")): a for a, w in workers.items()}
        out = []
        for n in names:
            addr = n if n in workers else by_name.get(str(n))
            if addr is None:
                raise MeshUsageError(
                    f"--on {n}: no such worker; known workers: "
                    f"{', '.join(sorted(by_name)) or 'none'} (names) or their addresses"
                )
            out.append(addr)
        return out

    def _worker_label(self, address: str) -> str:
        w = self._workers.get(address)
        return str(w.get("name")) if w and w.get("name") is not None else address

    # -- submit -----------------------------------------------------------------
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
        renderer: Any = None,
    ) -> MeshRun:
        """Run ``code`` on the mesh; see ``%%mesh`` for the meaning of each option.

        Blocking: returns the ended run (``run.result()`` raises its error); a
        KeyboardInterrupt cancels the run and raises :class:`RunCancelledError`.
        ``block=False``: returns at once; a daemon thread pumps and renders.
        """
        run = self.submit(
            code,
            on=on,
            name=name,
            push=push,
            pull=pull,
            user_ns=user_ns,
            resources=resources,
            timeout=timeout,
            retries=retries,
            priority=priority,
            renderer=renderer,
        )
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
        renderer: Any = None,
    ) -> MeshRun:
        """Submit and return the run without waiting; nobody pumps it until
        ``run.wait()`` or ``run.pump_in_background()``."""
        self._ensure_usable()  # type: ignore[attr-defined]
        if timeout is None:
            timeout = config.get("run.timeout")
        if retries is None:
            retries = int(config.get("run.retries") or 0)
        if timeout is not None and float(timeout) <= 0:
            raise MeshUsageError(f"--timeout must be a positive number of seconds, not {timeout}")
        if retries < 0:
            raise MeshUsageError(f"--retries must be 0 or more, not {retries}")
        res = _parse_resources(resources)
        self._notice = None
        targets = self._resolve_targets(on, res)
        run_id = uuid.uuid4().hex
        run = MeshRun(
            self, run_id, code, name=name, on=on, timeout=timeout, retries=retries, renderer=renderer
        )
        run._opts = {
            "push": list(push),
            "pull": list(pull),
            "user_ns": user_ns,
            "resources": res,
            "priority": int(priority),
        }
        # build every spec first: a bad push fails before anything is submitted
        for addr in targets:
            run._targets[addr] = _Target(addr, self._spec(run, addr))
        self._runs[run_id] = run
        self._record(run)
        if self._notice:
            run.renderer.message(self._notice)
        for t in run._targets.values():
            self._submit(run, t)
        return run

    def _spec(self, run: MeshRun, addr: str) -> dict[str, Any]:
        opts = run._opts
        pushes = select_pushes(run.source, opts["user_ns"], self._remote_names.get(addr, set()), opts["push"])
        return {
            "session": self.session,
            "run_id": run.id,
            "code": run.source,
            "filename": f"<mesh cell {run.name}>",
            "push": pushes,
            "pull": opts["pull"],
            "topic": self.topic,
            "flush_interval": float(config.get("stream.flush-interval")),
            "max_chunk": int(config.get("stream.max-chunk")),
            "log_level": str(config.get("dashboard.log-level")),
        }

    def _submit(self, run: MeshRun, t: _Target) -> None:
        from distributed import span

        t.attempts += 1
        t.result = t.error = None
        t.lost = False
        t.chunks_seen = 0
        key = run_key(run.id, t.attempts, self._worker_label(t.address or "?"))
        with span(f"mesh:{run.name}", f"mesh-run:{run.id}"):  # the dashboard plugin keys on this
            t.future = self._client.submit(
                _remote.run_cell,
                t.spec,
                key=key,
                workers=[t.address],
                allow_other_workers=False,
                pure=False,
                priority=run._opts["priority"],
                resources=run._opts["resources"],
            )
        t.future.add_done_callback(lambda _f, t=t: run._post("future", t))

    def _can_retarget(self, run: MeshRun, t: _Target) -> bool:
        if run.on not in (None, "any"):
            return False  # a pinned or --on all target has no replacement namespace
        return bool(set(self._refresh_workers()) - {t.address})

    def _resubmit(self, run: MeshRun, t: _Target) -> None:
        alive = self._refresh_workers()
        if t.address not in alive:
            del run._targets[t.address]  # type: ignore[arg-type]
            t.address = self._resolve_targets("any", run._opts["resources"])[0]
            run._targets[t.address] = t
            t.spec = self._spec(run, t.address)
        self._submit(run, t)

    def _cancel_targets(self, run: MeshRun, targets: list[_Target]) -> None:
        futures = [t.future for t in targets if t.future is not None]
        addresses = sorted({t.address for t in targets if t.address})

        def stop() -> None:
            try:  # interrupt the cell's code first, then drop its futures
                self._client.run(_remote.interrupt, run.id, workers=addresses)
                if futures:
                    self._client.cancel(futures, force=True)
            except Exception:  # the mesh may be gone; the run has ended as cancelled anyway
                pass

        threading.Thread(target=stop, daemon=True, name=f"mesh-cancel-{run.name}").start()

    # -- outcome ----------------------------------------------------------------
    def _remote_error(self, run: MeshRun, failed: list[_Target], other: list[_Target]) -> RemoteError:
        cap = int(config.get("run.max-tracebacks"))
        failures, lines = [], []
        for t in failed:
            r = t.result or {}
            failures.append(
                {
                    "worker": self._worker_label(t.address or "?"),
                    "ename": r.get("ename"),
                    "evalue": r.get("evalue"),
                    "traceback": r.get("traceback", []),
                }
            )
        for t in other:
            failures.append(
                {
                    "worker": self._worker_label(t.address or "?"),
                    "ename": type(t.error).__name__,
                    "evalue": str(t.error),
                    "traceback": [],
                }
            )
        for i, f in enumerate(failures):
            if i < cap:
                lines.append(f"\x1b[31m[worker {f['worker']}] {f['ename']}: {f['evalue']}\x1b[0m")
                lines.extend(line.rstrip("\n") for line in f["traceback"] or [f"{f['ename']}: {f['evalue']}"])
            elif i == cap:
                rest = failures[cap:]
                kinds = sorted({r["ename"] for r in rest})
                lines.append(
                    f"... and {len(rest)} more worker(s) failed with {', '.join(kinds)} "
                    f"(run.results has every traceback)"
                )
        first = failures[0]
        msg = f"{first['ename']}: {first['evalue']} (on worker {first['worker']}" + (
            f", and {len(failures) - 1} more)" if len(failures) > 1 else ")"
        )
        return RemoteError(msg, failures, run.id, rendered=lines)

    def _run_started(self, run: MeshRun) -> None:
        self.events.emit("run_started", run=run.id, name=run.name, targets=run.targets)  # type: ignore[attr-defined]
        self._history_update(run.id, status="running", started=run.started)

    def _run_ended(self, run: MeshRun) -> None:
        self._runs.pop(run.id, None)
        self._recent.append(run)  # type: ignore[attr-defined]
        for t in run._targets.values():
            if t.result and t.address:
                self._remote_names[t.address] = set(t.result.get("names", ()))
        err = run.error
        result = None
        if run.status == "finished":
            vals = [
                t.result.get("mimebundle", {}).get("text/plain")
                for t in run._targets.values()
                if t.result and t.result.get("mimebundle")
            ]
            result = "; ".join(v for v in vals if v)[:500] or None
        self._history_update(
            run.id,
            status=run.status,
            started=run.started,
            finished=run.finished,
            targets=run.targets,
            error=str(err) if err else None,
            stdout_tail=run.stdout,
            stderr_tail=run.stderr,
            result=result,
            summary={
                **(run.summary or {"duration": run.duration}),
                "attempts": {self._worker_label(a): t.attempts for a, t in run._targets.items()},
            },
        )
        self.events.emit(
            _EVENT_OF_STATUS[run.status],
            run=run.id,
            name=run.name,  # type: ignore[attr-defined]
            status=run.status,
            error=str(err) if err else None,
        )

    # -- history ------------------------------------------------------------------
    def _record(self, run: MeshRun) -> None:
        h = self.history  # type: ignore[attr-defined]
        if h is None:
            return
        try:
            h.add(
                run.id,
                mesh=self.address,
                source=run.source,
                name=run.name,  # type: ignore[attr-defined]
                targets=run.targets,
                submitted=run.submitted,
                status="queued",
                kernel_id=self.kernel_id,
                session_id=self.session,
            )  # type: ignore[attr-defined]
        except Exception as e:
            self._history_failed(e)  # type: ignore[attr-defined]

    def _history_update(self, run_id: str, **fields: Any) -> None:
        h = self.history  # type: ignore[attr-defined]
        if h is None:
            return
        try:
            h.update(run_id, **fields)
        except Exception as e:
            self._history_failed(e)  # type: ignore[attr-defined]


def _load(w: dict[str, Any]) -> int:
    counts = (w.get("metrics") or {}).get("task_counts") or {}
    return sum(int(v) for k, v in counts.items() if k in ("executing", "long-running", "ready"))

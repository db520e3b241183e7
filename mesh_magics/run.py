"""``MeshRun``: one ``%%mesh`` cell running on one or more workers.

A run owns its Dask futures (one per target worker), a queue that the mesh's
event handler fills from Dask's event loop (streamed output, "started", future
completion, worker departures), and a *pump* that drains the queue and renders.
For a blocking cell the pump runs on the kernel's main thread, so Ctrl-C
arrives there and output is published as the cell's own; for ``--noblock``
it runs on a daemon thread that publishes with the cell's parent header.

A run is done when every target has returned *and* every output chunk it
announced has arrived (events and results travel different paths), or after
``mesh.run.output-grace`` seconds, so nothing streamed is lost or shown twice.
"""

from __future__ import annotations

import concurrent.futures
import queue
import threading
import time
from typing import TYPE_CHECKING, Any

from . import config
from ._render import NullRenderer
from ._streams import StreamText
from .errors import (
    PullError,
    RunCancelledError,
    RunError,
    RunTimeoutError,
    WorkerLostError,
)

if TYPE_CHECKING:  # pragma: no cover
    from .mesh import Mesh

__all__ = ["MeshRun", "TERMINAL"]

#: statuses after which a run never changes again
TERMINAL = frozenset({"finished", "failed", "cancelled", "timeout", "lost"})


class _Target:
    """One worker's share of a run: its future, attempts and the result it sent."""

    def __init__(self, address: str | None, spec: dict[str, Any]):
        self.address = address
        self.spec = spec
        self.future: Any = None
        self.attempts = 0
        self.result: dict[str, Any] | None = None
        self.error: BaseException | None = None  # KilledWorker, cancelled, ...
        self.chunks_seen = 0
        self.lost = False

    @property
    def done(self) -> bool:
        return self.result is not None or self.error is not None or self.lost


class MeshRun:
    """Handle of a run. ``status``, ``result()``, ``cancel()``, ``stdout``/``stderr``."""

    def __init__(
        self,
        mesh: Mesh,
        run_id: str,
        source: str,
        *,
        name: str | None,
        on: Any,
        timeout: float | None,
        retries: int,
        renderer: Any = None,
    ) -> None:
        self.mesh = mesh
        self.id = run_id
        self.name = name or f"run-{run_id[:8]}"
        self.source = source
        self.on = on
        self.timeout = timeout
        self.retries = retries
        self.status = "queued"
        self.submitted = time.time()
        self.started: float | None = None
        self.finished: float | None = None
        self.error: RunError | None = None
        self.pull_values: dict[str, Any] = {}
        self.renderer = renderer or NullRenderer()
        self._targets: dict[str, _Target] = {}
        self._streams: dict[tuple[str, str], StreamText] = {}
        self._dirty: set[tuple[str, str]] = set()
        self._queue: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._done = threading.Event()
        self._grace_until: float | None = None
        self._all_done_at: float | None = None
        self._pump_lock = threading.Lock()
        self._t0 = time.monotonic()
        self._callbacks: list[Any] = []
        self.noblock = False
        self.summary: dict[str, Any] | None = None
        self.dashboard: Any = None
        if config.get("dashboard.enabled"):
            from .dashboard.controller import RunDashboard

            self.dashboard = RunDashboard(self)
        self._max_chars = int(config.get("stream.max-display-chars"))

    # -- inputs, called from any thread ------------------------------------
    def _post(self, kind: str, payload: Any) -> None:
        self._queue.put((kind, payload))

    # -- public --------------------------------------------------------------
    @property
    def targets(self) -> list[str]:
        return [t.address or "?" for t in self._targets.values()]

    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run ends (pumping if nobody else does); True if it ended."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._done.is_set():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            if self._pump_lock.acquire(timeout=0.05):
                try:
                    if not self._done.is_set():
                        self._pump_once(0.05 if left is None else min(0.05, left))
                finally:
                    self._pump_lock.release()
        return True

    def wait_or_cancel(self) -> None:
        """Wait for the end; Ctrl-C (KeyboardInterrupt) cancels the run instead."""
        try:
            self.wait()
        except KeyboardInterrupt:
            self.cancel("interrupted (Ctrl-C)")
            raise RunCancelledError(
                f"run {self.name} interrupted: its Dask work was cancelled and the code on "
                f"{', '.join(self.targets)} interrupted",
                self.id,
            ) from None

    def pump_in_background(self) -> None:
        """Pump and render on a daemon thread (``--noblock``)."""
        self.noblock = True
        threading.Thread(target=self.wait, daemon=True, name=f"mesh-pump-{self.name}").start()

    def result(self, timeout: float | None = None) -> Any:
        """The last expression's value (a dict worker → value for ``--on all``).

        Raises the run's error (:class:`RemoteError`, :class:`RunCancelledError`,
        :class:`RunTimeoutError`, :class:`WorkerLostError`) if it did not finish.
        """
        if not self.wait(timeout):
            raise TimeoutError(f"run {self.name} still {self.status} after {timeout} s")
        if self.error is not None:
            raise self.error
        values = {self._label(t): t.result.get("value") for t in self._targets.values() if t.result}
        if self.on == "all" or isinstance(self.on, (list, tuple)):
            return values
        return next(iter(values.values()), None)

    def cancel(self, reason: str = "cancelled") -> bool:
        """Cancel: futures and their Dask work are cancelled, the cell's code is interrupted."""
        if self._done.is_set():
            return False
        self._post("cancel", reason)
        self.mesh._cancel_targets(self, list(self._targets.values()))
        if not self._pump_lock.locked():
            self.wait(5)
        return True

    @property
    def stdout(self) -> str:
        return self._joined("stdout")

    @property
    def stderr(self) -> str:
        return self._joined("stderr")

    def output(self, worker: str | None = None, stream: str = "stdout") -> str:
        for (w, s), text in self._streams.items():
            if s == stream and (worker is None or w == worker or self._label_of(w) == worker):
                return text.text
        return ""

    def _joined(self, stream: str) -> str:
        parts = [t.text for (w, s), t in sorted(self._streams.items()) if s == stream]
        return "".join(parts)

    @property
    def results(self) -> dict[str, dict[str, Any]]:
        """Raw per-worker results (worker label → dict) for introspection."""
        return {self._label(t): t.result for t in self._targets.values() if t.result}

    @property
    def duration(self) -> float | None:
        if self.started is None:
            return None
        return (self.finished or time.time()) - self.started

    # -- pump ---------------------------------------------------------------
    def _pump_once(self, timeout: float) -> None:
        try:
            items = [self._queue.get(timeout=timeout)]
        except queue.Empty:
            items = []
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        for kind, payload in items:
            getattr(self, f"_on_{kind}")(payload)
        for key in sorted(self._dirty):
            self.renderer.render(key, self._label_of(key[0]) if self._multi else "", self._streams[key])
        self._dirty.clear()
        self._check_done()
        if self.dashboard is not None and not self._done.is_set():
            self.dashboard.tick()

    @property
    def _multi(self) -> bool:
        return len(self._targets) > 1

    def _label_of(self, address: str) -> str:
        return self.mesh._worker_label(address)

    def _label(self, target: _Target) -> str:
        return self._label_of(target.address or "?")

    def _on_stream(self, msg: dict[str, Any]) -> None:
        if self.dashboard is not None:
            self.dashboard.on_chunk(msg["worker"], msg["stream"], msg["text"])
        if msg["stream"] == "log":  # worker log records: the dashboard's log pane only
            self._count_chunk(msg["worker"])
            return
        key = (msg["worker"], msg["stream"])
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = StreamText(self._max_chars)
        stream.write(msg["text"])
        self._dirty.add(key)
        self.renderer.chunk(key, self._label_of(key[0]) if self._multi else "", msg["text"])
        self._count_chunk(msg["worker"])

    def _count_chunk(self, worker: str) -> None:
        for t in self._targets.values():
            if t.address == worker:
                t.chunks_seen += 1

    def _on_progress(self, msg: dict[str, Any]) -> None:
        if self.dashboard is not None:
            self.dashboard.on_progress(
                msg["groups"], msg.get("workers", []), msg.get("bytes", 0), msg.get("t", time.time())
            )

    def _on_started(self, msg: dict[str, Any]) -> None:
        if self.status == "queued":
            self.status = "running"
            self.started = msg.get("time", time.time())
            self.mesh._run_started(self)

    def _on_future(self, target: _Target) -> None:
        fut = target.future
        if fut is None or target.done:
            return
        try:
            if fut.status == "finished":
                target.result = fut.result()
            elif fut.status == "cancelled":
                if self.mesh.state != "connected":  # Dask cancels futures when the scheduler goes
                    target.lost = True
                    return
                target.error = RunCancelledError(f"run {self.name} was cancelled", self.id)
            else:
                target.error = fut.exception()
        except BaseException as e:  # noqa: BLE001 - any failure to fetch is the target's error
            # a forced cancel (panel, another client) can forget the result between the
            # interrupt ending the task and our fetch: that is a cancellation, not a failure
            if isinstance(e, concurrent.futures.CancelledError) and self.mesh.state == "connected":
                target.error = RunCancelledError(f"run {self.name} was cancelled", self.id)
            else:
                target.error = e
        if target.result is not None:
            self._on_started({"time": target.result.get("started")})
            if target.result.get("status") == "error" and target.attempts <= self.retries:
                self._retry(target, f"{target.result['ename']}: {target.result['evalue']}")
        elif (
            self.status not in TERMINAL
            and target.attempts <= self.retries
            and not isinstance(target.error, RunCancelledError)
        ):  # a cancel is never retried
            self._retry(target, f"{type(target.error).__name__}: {target.error}")

    def _on_worker_left(self, address: str) -> None:
        for t in list(self._targets.values()):
            if t.address == address and not t.done:
                if t.attempts <= self.retries and self.mesh._can_retarget(self, t):
                    self._retry(t, f"worker {self._label_of(address)} left the mesh")
                else:
                    t.lost = True
                    self.mesh._cancel_targets(self, [t])  # it would wait for that worker forever

    def _retry(self, target: _Target, why: str) -> None:
        self._all_done_at = None
        old = target.address
        self.mesh._resubmit(self, target)
        self.renderer.message(
            f"attempt {target.attempts - 1} on {self._label_of(old or '?')} failed ({why}); "
            f"retrying on {self._label_of(target.address or '?')} "
            f"({target.attempts - 1} of {self.retries} retries used)"
        )

    def _on_cancel(self, reason: str) -> None:
        if self.status in TERMINAL:
            return
        if reason == "timeout":
            self._finish(
                "timeout",
                RunTimeoutError(
                    f"run {self.name} exceeded --timeout {self.timeout} s and was cancelled", self.id
                ),
            )
        else:
            self._finish("cancelled", RunCancelledError(f"run {self.name} was {reason}", self.id))

    def _check_done(self) -> None:
        if self.status in TERMINAL:
            return
        now = time.monotonic()
        if self.timeout is not None and now - self._t0 > self.timeout:
            self._on_cancel("timeout")
            self.mesh._cancel_targets(self, list(self._targets.values()))
            return
        if not all(t.done for t in self._targets.values()):
            return
        if self._all_done_at is None:
            self._all_done_at = time.time()
        if self.dashboard is not None and not self.dashboard.settled(self._all_done_at):
            return  # the last progress counts are one plugin tick away
        complete = all(
            t.result is None or t.chunks_seen >= int(t.result.get("chunks", 0))
            for t in self._targets.values()
        )
        if not complete:
            if self._grace_until is None:
                self._grace_until = now + float(config.get("run.output-grace"))
            if now < self._grace_until:
                return
        self._conclude()

    def _conclude(self) -> None:
        targets = list(self._targets.values())
        lost = [t for t in targets if t.lost or _is_killed(t.error)]
        failed = [t for t in targets if t.result and t.result.get("status") == "error"]
        cancelled = [
            t
            for t in targets
            if (t.result and t.result.get("status") == "cancelled") or isinstance(t.error, RunCancelledError)
        ]
        other = [t for t in targets if t.error is not None and t not in lost and t not in cancelled]
        for t in targets:
            for n, v in (t.result or {}).get("pulled", {}).items():
                if self._multi:  # --on all / a list: one value per worker
                    self.pull_values.setdefault(n, {})[self._label(t)] = v
                else:
                    self.pull_values[n] = v
        if lost:
            names = ", ".join(self._label(t) for t in lost)
            self._finish(
                "lost",
                WorkerLostError(
                    f"run {self.name}: worker {names} left the mesh while running the cell and no "
                    f"retry was left (use --retries K to run it again on another worker)",
                    self.id,
                ),
            )
        elif failed or other:
            self._finish("failed", self.mesh._remote_error(self, failed, other))
        elif cancelled:
            self._finish("cancelled", RunCancelledError(f"run {self.name} was cancelled", self.id))
        else:
            missing = [
                (self._label(t), n, why)
                for t in targets
                if t.result
                for n, why in t.result.get("pull_missing", [])
            ]
            if missing:
                w, n, why = missing[0]
                err = PullError(
                    f"--pull {n}: the name {why} on worker {w}; define it in the cell or drop it "
                    "from --pull (the cell itself ran fine)",
                    name=n,
                )
                self._finish("failed", err)
            else:
                self._finish("finished", None)

    def _finish(self, status: str, error: RunError | PullError | None) -> None:
        self.status = status
        self.error = error  # type: ignore[assignment]
        self.finished = time.time()
        for key in sorted(self._dirty):
            self.renderer.render(key, self._label_of(key[0]) if self._multi else "", self._streams[key])
        self._dirty.clear()
        if self.dashboard is not None:
            try:
                self.summary = self.dashboard.finish()
            except Exception as e:  # a display problem must never lose the run's end
                self.renderer.message(f"dashboard failed: {type(e).__name__}: {e}")
        self._done.set()
        self.mesh._run_ended(self)
        for cb in self._callbacks:
            cb(self)

    def add_done_callback(self, fn: Any) -> None:
        """Call ``fn(run)`` when the run ends (at once if it has), on the pumping thread."""
        if self._done.is_set():
            fn(self)
        else:
            self._callbacks.append(fn)

    # -- display ----------------------------------------------------------------
    def __repr__(self) -> str:
        dur = f", {self.duration:.2f} s" if self.duration is not None else ""
        return f"<MeshRun {self.name!r} {self.status} on {', '.join(self.targets) or '?'}{dur}>"

    def _repr_html_(self) -> str:
        import html

        color = {"finished": "#2e7d32", "failed": "#c62828", "running": "#1565c0"}.get(self.status, "#555")
        return (
            f"<div class='mesh-run'><b>MeshRun</b> <code>{html.escape(self.name)}</code> "
            f"<span style='color:{color}'>{self.status}</span> on "
            f"{html.escape(', '.join(self.targets))}</div>"
        )


def _is_killed(err: BaseException | None) -> bool:
    return err is not None and type(err).__name__ == "KilledWorker"

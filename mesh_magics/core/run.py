"""``MeshRun``: one ``%%mesh`` cell running on one or more workers.

A run owns a queue that the dispatcher fills from Dask's event loop (streamed output,
"started", future completion, progress, worker departures) and a *pump* that drains it,
renders output and calls its observers (:mod:`.interfaces`). For a blocking cell the pump
runs on the kernel's main thread, so Ctrl-C arrives there and output is published as
the cell's own; for ``--noblock`` it runs on a daemon thread that publishes with the
cell's parent header.

A run is done when every target has returned *and* every output chunk it announced has
arrived (events and results travel different paths), or once none has come for
``mesh.run.output-grace`` seconds (:class:`~.streams.OutputGrace`; the cell then says how
many never came), so nothing streamed is shown twice or lost unsaid. What it asks of the mesh (labels,
retries, cancels) goes through :class:`~.interfaces.Control`, which the dispatcher implements.
What becomes of each target (a settled future, a lost worker, a retry) is the
:class:`~.run_targets.TargetEvents` the run holds.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .. import config
from ..errors import PullError, RunCancelledError, RunError, RunTimeoutError, named
from .interfaces import Control, RunObserver
from .outcome import conclude
from .pumping import Lifecycle
from .render import NullRenderer, Renderer
from .run_targets import TERMINAL, TargetEvents
from .spec import RunSpec
from .streams import OutputGrace, RunOutput
from .target import Target
from .value import value_of

if TYPE_CHECKING:  # pragma: no cover
    from .telemetry import RunTelemetry

__all__ = ["TERMINAL", "MeshRun"]

logger = logging.getLogger("mesh_magics")


class MeshRun:
    """Handle of a run. ``status``, ``result()``, ``cancel()``, ``stdout``/``stderr``."""

    def __init__(
        self,
        run_id: str,
        spec: RunSpec,
        control: Control,
        targets: Sequence[Target],
        *,
        renderer: Renderer | None = None,
        telemetry: RunTelemetry | None = None,
    ) -> None:
        self.id = run_id
        self.spec = spec
        self.name = spec.name or f"run-{run_id[:8]}"
        self.status = "queued"
        self.submitted = time.time()
        self.started: float | None = None
        self.finished: float | None = None
        self.error: RunError | PullError | None = None
        self.pull_values: dict[str, Any] = {}
        self.renderer: Renderer = renderer or NullRenderer()
        self.telemetry = telemetry
        self.noblock = False
        self.cached_from: str | None = None  # the run a result-cache hit replays (.cached)
        self._control = control
        self._targets = list(targets)
        self._target_events = TargetEvents(
            self, control, self._targets, started=self._on_started, reopened=self._reopened
        )
        self._observers: list[RunObserver] = [telemetry] if telemetry is not None else []
        self._output = RunOutput(int(config.get("stream.max-display-chars")))
        self._queue: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._grace = OutputGrace(float(config.get("run.output-grace")))
        self._all_done_at: float | None = None
        self._t0 = time.monotonic()
        self._life = Lifecycle(self._pump_once)  # done event, pump lock, done callbacks

    # -- wiring, before the run is pumped ------------------------------------------
    def attach(self, observer: RunObserver) -> None:
        """Add an observer (called after those attached before it)."""
        self._observers.append(observer)

    def notify(self, kind: str, payload: Any) -> None:
        """Queue an event for the pump; safe from any thread (Dask's event loop)."""
        self._queue.put((kind, payload))

    # -- public --------------------------------------------------------------------
    @property
    def source(self) -> str:
        return self.spec.code

    @property
    def on(self) -> Any:
        """Where the run was asked to go: ``"any"``, ``"all"`` or worker names."""
        return list(self.spec.on) if isinstance(self.spec.on, tuple) else self.spec.on

    @property
    def timeout(self) -> float | None:
        return self.spec.timeout

    @property
    def retries(self) -> int:
        return self.spec.retries

    @property
    def targets(self) -> list[str]:
        """The addresses of the workers the run executes on."""
        return [t.address for t in self._targets]

    def pending_workers(self) -> list[str]:
        """Addresses of the targets still running."""
        return [t.address for t in self._targets if not t.done]

    def attempts(self) -> dict[str, int]:
        """Attempts so far per worker label."""
        return {self._control.label(t.address): t.attempts for t in self._targets}

    @property
    def summary(self) -> dict[str, Any] | None:
        """What the run cost (duration, tasks, bytes, peak memory), once it has ended."""
        s = self.telemetry.summary if self.telemetry is not None else None
        return s.as_dict() if s is not None else None

    def done(self) -> bool:
        return self._life.done()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run ends (pumping if nobody else does); True if it ended."""
        return self._life.wait(timeout)

    def wait_or_cancel(self) -> None:
        """Wait for the end; Ctrl-C (KeyboardInterrupt) cancels the run instead."""
        self._life.wait_or_cancel(
            self.cancel,
            lambda: RunCancelledError(
                f"run {self.name} interrupted: its Dask work was cancelled and the code on "
                f"{', '.join(self.targets)} interrupted",
                self.id,
            ),
        )

    def pump_in_background(self) -> None:
        """Pump and render on a daemon thread (``--noblock``)."""
        self.noblock = True
        self._life.pump_in_background(self.name)

    def result(self, timeout: float | None = None) -> Any:
        """The last expression's value (a dict worker → value when the run went to
        ``all`` or to named workers); a value that does not pickle comes back as a
        :class:`~.value.RemoteValue` showing its remote repr, exactly as ``%%mesh`` shows it.

        Raises the run's error (:class:`RemoteError`, :class:`RunCancelledError`,
        :class:`RunTimeoutError`, :class:`WorkerLostError`) if it did not finish.
        """
        if not self.wait(timeout):
            raise TimeoutError(f"run {self.name} still {self.status} after {timeout} s")
        if self.error is not None:
            raise self.error
        values = {self._label(t): value_of(t.result) for t in self._targets if t.result}
        if self.spec.fan_out:
            return values
        return next(iter(values.values()), None)

    def cancel(self, reason: str = "cancelled") -> bool:
        """Cancel: futures and their Dask work are cancelled, the cell's code is interrupted."""
        if self._life.done():
            return False
        self.notify("cancel", reason)
        self._control.cancel(self, list(self._targets))
        self._life.settle(5)  # ended as cancelled on return (unless called from its own pump)
        return True

    @property
    def stdout(self) -> str:
        return self._output.text("stdout")

    @property
    def stderr(self) -> str:
        return self._output.text("stderr")

    def output(self, worker: str | None = None, stream: str = "stdout") -> str:
        """One worker's ``stream`` (by name or address; the first worker's if None)."""
        return self._output.of(
            lambda w: worker is None or w == worker or self._control.label(w) == worker, stream
        )

    @property
    def results(self) -> dict[str, dict[str, Any]]:
        """Raw per-worker results (worker label → dict) for introspection."""
        return {self._label(t): t.result for t in self._targets if t.result}

    def results_by_address(self) -> dict[str, dict[str, Any]]:
        """Raw per-worker results keyed by worker address."""
        return {t.address: t.result for t in self._targets if t.result}

    @property
    def duration(self) -> float | None:
        if self.started is None:
            return None
        return (self.finished or time.time()) - self.started

    def add_done_callback(self, fn: Callable[[MeshRun], Any]) -> None:
        """Call ``fn(run)`` when the run ends (at once if it has), on the pumping thread."""
        self._life.on_end(lambda: fn(self))

    # -- pump ----------------------------------------------------------------------
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
            self._HANDLERS[kind](self, payload)
        self._flush_renders()
        self._check_done()
        if not self._life.done():
            self._each("on_tick")

    def _each(self, hook: str, *args: Any) -> None:
        for obs in list(self._observers):
            try:
                getattr(obs, hook)(self, *args)
            except Exception as e:  # a view must never break the run: report, detach
                self._observers.remove(obs)
                logger.exception("run observer %r failed in %s", obs, hook)
                self.renderer.message(
                    f"{type(obs).__name__} failed and was detached: {type(e).__name__}: {e}"
                )

    def _flush_renders(self, force: bool = False) -> None:
        self._output.flush(self.renderer, self._key_label, force)

    def _label(self, target: Target) -> str:
        return self._control.label(target.address)

    def _reopened(self) -> None:
        self._all_done_at = None  # a retry: the run is not done, whatever it thought

    def _key_label(self, key: tuple[str, str]) -> str:
        return self._control.label(key[0]) if len(self._targets) > 1 else ""

    def _on_stream(self, msg: dict[str, Any]) -> None:
        worker, stream_name = msg["worker"], msg["stream"]
        self._each("on_chunk", self._control.label(worker), stream_name, msg["text"])
        self._count_chunk(worker)
        if stream_name == "log":  # worker log records: the dashboard's log pane only
            return
        key = (worker, stream_name)
        self._output.write(key, msg["text"], self.renderer, self._key_label(key))

    def _count_chunk(self, worker: str) -> None:
        self._grace.arrived()
        for t in self._targets:
            if t.address == worker:
                t.chunks_seen += 1

    def _on_progress(self, msg: dict[str, Any]) -> None:
        self._each("on_progress", msg)

    def _on_nodes(self, msg: dict[str, Any]) -> None:
        self._each("on_nodes", msg)

    def _on_started(self, msg: dict[str, Any]) -> None:
        if self.status == "queued":
            self.status = "running"
            self.started = msg.get("time", time.time())
            self._each("on_start")
            self._control.started(self)

    def time_left(self) -> float | None:
        """Seconds until the run's timeout, None without one."""
        return None if self.timeout is None else self.timeout - (time.monotonic() - self._t0)

    def _on_cancel(self, reason: str) -> None:
        if self.status in TERMINAL:
            return
        if reason == "timeout":
            error = RunTimeoutError(
                named(
                    "run {run} exceeded its {timeout} of {seconds} s and was cancelled",
                    run=self.name,
                    seconds=self.timeout,
                ),
                self.id,
            )
            self._finish("timeout", error)
        else:
            self._finish("cancelled", RunCancelledError(f"run {self.name} was {reason}", self.id))

    _HANDLERS: dict[str, Callable[[MeshRun, Any], None]] = {
        "stream": _on_stream,
        "progress": _on_progress,
        "nodes": _on_nodes,
        "started": _on_started,
        "future": lambda run, event: run._target_events.on_future(event),
        "worker_left": lambda run, address: run._target_events.on_worker_left(address),
        "interrupted": lambda run, msg: run._target_events.on_interrupted(msg),
        "cancel": _on_cancel,
    }

    def _check_done(self) -> None:
        if self.status in TERMINAL:
            return
        now = time.monotonic()
        if self.timeout is not None and now - self._t0 > self.timeout:
            self._on_cancel("timeout")
            self._control.cancel(self, list(self._targets))
            return
        self._target_events.resume_waiting()
        if not all(t.done for t in self._targets):
            return
        if self._all_done_at is None:
            self._all_done_at = time.time()
        since = self._all_done_at
        if not all(obs.settled(self, since) for obs in self._observers):
            return  # e.g. the last progress counts are one plugin tick away
        if self._grace.holds(self._targets, self.renderer, self.name):
            return
        out = conclude(self.id, self.name, self._targets, self._control.label)
        self.pull_values.update(out.pulled)
        self._finish(out.status, out.error)

    def _finish(self, status: str, error: RunError | PullError | None) -> None:
        self.status = status
        self.error = error
        self.finished = time.time()
        for t in self._targets:
            t.release()
        self._flush_renders(force=True)
        self._each("on_end")
        self._life.end()  # the done callbacks, then the done event
        self._control.ended(self)

    # -- display -------------------------------------------------------------------
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

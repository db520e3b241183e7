"""A batch run (``%%mesh map ITEMS``, ``mesh.map``): :class:`BatchRun`, one cell per item.

Each item is one Dask task (:mod:`mesh_magics.worker.batch`); :mod:`.batching` submits
them and implements :class:`BatchControl`. The run is driven like a
:class:`~.run.MeshRun`: Dask's threads put events on its queue (an item's output, its
start, its future's end, a cancel) and a *pump* drains them on the kernel's main thread for
a blocking cell (Ctrl-C cancels the whole batch) or on a daemon thread (``--noblock``).

What it keeps per item (:class:`~.batch_items.Item`): status, attempts, worker, value, the first error
and the last :data:`ITEM_TAIL` characters of its output. The first ``mesh.batch.show-output``
items stream their output into the cell as it comes; every failure that exhausted its
retries shows its traceback, up to ``mesh.run.max-tracebacks`` of them, and the rest are
counted. One progress line (or bar) covers the whole batch. The result is the values in
item order; failed items make :meth:`BatchRun.result` raise :class:`~mesh_magics.errors.BatchError`,
which keeps the values the other items computed.
"""

from __future__ import annotations

import concurrent.futures
import queue
import time
from collections.abc import Callable
from typing import Any, Protocol

from .. import config
from ..errors import RunCancelledError, RunError, RunTimeoutError, named
from .batch_items import ITEM_TAIL, Item, batch_error
from .pumping import Lifecycle
from .render import NullRenderer, Renderer
from .streams import OutputGrace, RunOutput
from .value import value_of

__all__ = ["BatchControl", "BatchRun"]


class BatchControl(Protocol):
    """What a batch asks of the mesh (:class:`~.batching.BatchEngine`)."""

    @property
    def connected(self) -> bool:
        """Whether the mesh is connected."""

    def label(self, address: str) -> str:
        """A worker's name for display."""

    def resubmit(self, batch: BatchRun, item: Item) -> None:
        """Start the next attempt of ``item``."""

    def cancel(self, batch: BatchRun) -> None:
        """Interrupt every item's code and cancel every future of the batch (in the background)."""

    def ended(self, batch: BatchRun) -> None:
        """The batch has ended (once)."""


class BatchRun:
    """Handle of a batch: ``status``, ``result()``, ``items``, ``cancel()``, ``output(i)``."""

    def __init__(self, run_id: str, name: str, code: str, n: int, *, control: BatchControl,
                 retries: int = 0, timeout: float | None = None, renderer: Renderer | None = None) -> None:  # fmt: skip
        self.id, self.name, self.source = run_id, name, code
        self.retries, self.timeout = retries, timeout
        self.status = "queued"
        self.submitted = time.time()
        self.started: float | None = None
        self.finished: float | None = None
        self.error: RunError | None = None
        self.items = [Item(i) for i in range(n)]
        self.renderer: Renderer = renderer or NullRenderer()
        self.noblock = False
        self.shown_tracebacks = 0
        self._control = control
        self._show = int(config.get("batch.show-output"))
        self._output = RunOutput(int(config.get("stream.max-display-chars")))
        self._queue: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._t0 = time.monotonic()
        self._grace = OutputGrace(float(config.get("run.output-grace")))
        self._tick_hooks: list[Callable[[BatchRun, bool], Any]] = []
        self._life = Lifecycle(self._pump_once)  # done event, pump lock, done callbacks

    # -- wiring ----------------------------------------------------------------------
    def notify(self, kind: str, payload: Any) -> None:
        """Queue an event for the pump; safe from any thread."""
        self._queue.put((kind, payload))

    def on_tick(self, fn: Callable[[BatchRun, bool], Any]) -> None:
        """Call ``fn(batch, final)`` each time the pump goes round, and once at the end."""
        self._tick_hooks.append(fn)

    def add_done_callback(self, fn: Callable[[BatchRun], Any]) -> None:
        """Call ``fn(batch)`` when the batch ends (at once if it has)."""
        self._life.on_end(lambda: fn(self))

    # -- public ----------------------------------------------------------------------
    def label(self, address: str) -> str:
        """A worker's name for display (as the mesh names it)."""
        return self._control.label(address)

    def counts(self) -> dict[str, int]:
        """How many items are in each status."""
        out = dict.fromkeys(("queued", "running", "finished", "failed", "cancelled", "lost"), 0)
        for it in self.items:
            out[it.status] += 1
        return out

    def done(self) -> bool:
        return self._life.done()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the batch ends (pumping if nobody else does); True if it ended."""
        return self._life.wait(timeout)

    def wait_or_cancel(self) -> None:
        """Wait for the end; Ctrl-C cancels the whole batch instead."""
        self._life.wait_or_cancel(
            self.cancel,
            lambda: RunCancelledError(
                f"batch {self.name} interrupted: every item's Dask task was cancelled "
                f"({self.counts()['finished']} of {len(self.items)} had finished; batch.values() has them)",
                self.id,
            ),
        )

    def pump_in_background(self) -> None:
        """Pump and render on a daemon thread (``--noblock``)."""
        self.noblock = True
        self._life.pump_in_background(self.name)

    def values(self) -> list[Any]:
        """Every item's value so far, in item order (None for an item without one)."""
        return [value_of(it.result) if it.result and it.status == "finished" else None for it in self.items]

    def result(self, timeout: float | None = None) -> list[Any]:
        """The values in item order; raises :class:`BatchError` (its ``results`` keep the
        other items' values) when items failed, or the cancel / timeout error."""
        if not self.wait(timeout):
            raise TimeoutError(f"batch {self.name} still {self.status} after {timeout} s")
        if self.error is not None:
            raise self.error
        return self.values()

    def cancel(self, reason: str = "cancelled") -> bool:
        """Cancel every item: their code is interrupted and their futures cancelled."""
        if self._life.done():
            return False
        self.notify("cancel", reason)
        self._control.cancel(self)
        self._life.settle(5)  # ended as cancelled on return (unless called from its own pump)
        return True

    def output(self, index: int, stream: str = "stdout") -> str:
        """Item ``index``'s output: whole for the items shown live, else its last
        :data:`ITEM_TAIL` characters."""
        whole = self._output.of(lambda k: k == f"item {index}", stream)
        return whole or self.items[index].tails.get(stream, "")

    @property
    def stdout(self) -> str:
        return self._output.text("stdout")

    @property
    def stderr(self) -> str:
        return self._output.text("stderr")

    @property
    def duration(self) -> float | None:
        return None if self.started is None else (self.finished or time.time()) - self.started

    def time_left(self) -> float | None:
        return None if self.timeout is None else self.timeout - (time.monotonic() - self._t0)

    # -- pump ------------------------------------------------------------------------
    def _pump_once(self, timeout: float) -> None:
        try:
            events = [self._queue.get(timeout=timeout)]
        except queue.Empty:
            events = []
        while True:
            try:
                events.append(self._queue.get_nowait())
            except queue.Empty:
                break
        for kind, payload in events:
            handler = self._HANDLERS.get(kind)
            if handler is not None:
                handler(self, payload)
        self._output.flush(self.renderer, lambda key: key[0], False)
        self._check_done()
        if not self._life.done():
            self._ticks(False)

    def _ticks(self, final: bool) -> None:
        for fn in list(self._tick_hooks):
            try:
                fn(self, final)
            except Exception as e:  # a view must never break the batch
                self._tick_hooks.remove(fn)
                self.renderer.message(f"batch view failed and was detached: {type(e).__name__}: {e}")

    def _item_of(self, msg: dict[str, Any]) -> Item | None:
        _, _, index = str(msg.get("run", "")).partition("/")
        return self.items[int(index)] if index.isdigit() and int(index) < len(self.items) else None

    def _on_stream(self, msg: dict[str, Any]) -> None:
        it = self._item_of(msg)
        if it is None:
            return
        it.chunks_seen += 1
        self._grace.arrived()
        stream, text = msg["stream"], msg["text"]
        if stream == "log":
            return
        it.tails[stream] = (it.tails.get(stream, "") + text)[-ITEM_TAIL:]
        if it.index < self._show:
            self._output.write((f"item {it.index}", stream), text, self.renderer, f"item {it.index}")

    def _on_started(self, msg: dict[str, Any]) -> None:
        it = self._item_of(msg)
        if it is None or it.done:
            return
        it.status, it.worker = "running", msg.get("worker")
        it.started = float(msg.get("time") or time.time())
        if self.status == "queued":
            self.status, self.started = "running", it.started

    def _on_future(self, event: tuple[Item, int, Any]) -> None:
        it, attempt, fut = event
        if attempt != it.attempts or it.done:
            return  # an earlier attempt's, or the batch was cancelled meanwhile
        try:
            if fut.status == "finished":
                self._on_result(it, fut.result())
                return
            if fut.status == "cancelled":
                it.status = "cancelled" if self._control.connected else "lost"
                it.finished = time.time()
                return
            exc = fut.exception()
        except BaseException as e:  # noqa: BLE001 - any failure to fetch is the item's error
            exc = e
        if isinstance(exc, concurrent.futures.CancelledError):
            # a forced cancel (the side panel, another client) can forget the result between the
            # interrupt ending the task and our fetch: that is a cancellation, not a failure
            it.status = "cancelled" if self._control.connected else "lost"
            it.finished = time.time()
            return
        self._failed(it, f"{type(exc).__name__}: {exc}", [])

    def _on_result(self, it: Item, result: dict[str, Any]) -> None:
        it.result, it.worker = result, result.get("worker") or it.worker
        it.started = it.started or result.get("started")
        it.finished = result.get("finished") or time.time()
        if self.started is None:
            self.status, self.started = "running", it.started
        status = result.get("status")
        if status == "ok":
            it.status = "finished"
        elif status == "cancelled":
            it.status = "cancelled"
        else:
            self._failed(it, f"{result.get('ename')}: {result.get('evalue')}", result.get("traceback") or [])

    def _failed(self, it: Item, why: str, tb: list[str]) -> None:
        if self.status in ("cancelled", "timeout"):
            it.status = "cancelled"
            return
        if it.attempts <= self.retries:
            self.renderer.message(
                f"item {it.index}: attempt {it.attempts} failed ({why}); retrying "
                f"({it.attempts} of {self.retries} retries used)"
            )
            it.result, it.status, it.started = None, "queued", None
            self._control.resubmit(self, it)
            return
        it.status, it.error, it.traceback = "failed", why, list(tb)
        it.finished = it.finished or time.time()
        if self.shown_tracebacks < int(config.get("run.max-tracebacks")):
            self.shown_tracebacks += 1
            lines = "".join(tb) if tb else why + "\n"
            self.renderer.message(f"item {it.index} failed after {it.attempts} attempt(s):\n{lines}")

    def _on_cancel(self, reason: str) -> None:
        if self._life.done() or self.status in ("cancelled", "timeout"):
            return
        if reason == "timeout":
            text = named(
                "batch {run} exceeded its {timeout} of {s} s and was cancelled", run=self.name, s=self.timeout
            )
            self.error = RunTimeoutError(text, self.id)
            self.status = "timeout"
        else:
            self.error = RunCancelledError(f"batch {self.name} was {reason}", self.id)
            self.status = "cancelled"
        for it in self.items:
            if not it.done:
                it.status, it.finished = "cancelled", time.time()
        self._end(self.status)

    _HANDLERS: dict[str, Callable[[BatchRun, Any], None]] = {
        "stream": _on_stream,
        "started": _on_started,
        "future": _on_future,
        "cancel": _on_cancel,
    }

    def _check_done(self) -> None:
        if self._life.done():
            return
        if self.timeout is not None and time.monotonic() - self._t0 > self.timeout:
            self._on_cancel("timeout")
            self._control.cancel(self)
            return
        if not all(it.done for it in self.items):
            return
        if self._grace.holds(self.items, self.renderer, self.name):
            return
        self.error = batch_error(self.id, self.name, self.items, self.values())
        if self.error is not None:
            self._end("failed")
        elif any(it.status == "lost" for it in self.items):
            self.error = RunError(
                f"batch {self.name}: items were lost with the scheduler connection", self.id
            )
            self._end("lost")
        elif any(it.status == "cancelled" for it in self.items):
            self.error = RunCancelledError(
                f"batch {self.name} was cancelled (from outside the kernel)", self.id
            )
            self._end("cancelled")
        else:
            self._end("finished")

    def _end(self, status: str) -> None:
        self.status = status
        self.finished = time.time()
        self._output.flush(self.renderer, lambda key: key[0], True)
        self._ticks(True)
        self._life.end(
            lambda e: self.renderer.message(
                f"a done callback of batch {self.name} failed: {type(e).__name__}: {e}"
            )
        )
        self._control.ended(self)

    # -- display ---------------------------------------------------------------------
    def __repr__(self) -> str:
        c = self.counts()
        return (f"<BatchRun {self.name!r} {self.status}: {c['finished']}/{len(self.items)} finished, "
                f"{c['failed']} failed>")  # fmt: skip

"""Submitting a batch to Dask and following it: :class:`BatchEngine` (a :class:`~.batch.BatchControl`).

:meth:`BatchEngine.start` checks everything first (the items materialised, none empty,
each item and pushed variable picklable, the workers named by ``on`` and the resources
present), so a bad batch fails before anything runs. It then writes the batch's one history
row, subscribes to a topic of the batch's own (the items' output and starts), puts what
every item shares (the code, the pushed variables; large values scattered) in each item's task, and submits one task per item
with ``Client.map`` under distinct keys (:func:`~mesh_magics.worker.batch.item_key`) inside
the batch's Dask span. Dask places, queues and moves the tasks (a lost worker's item runs
elsewhere); ``retries`` are attempts of an item whose cell raised, submitted again by the
pump. A cancel interrupts the items' code on every worker and cancels their futures; the
side panel's server-side cancel reaches them the same way (the keys share the run's prefix,
the items' ids start with the run's id).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from dask.sizeof import sizeof

from .. import config
from ..errors import MeshUsageError, PushError
from ..worker import batch as worker_batch
from ..worker import cell
from .batch import BatchRun
from .batch_items import Item
from .dispatch import SCATTER_FROM, span_tags
from .push import pickle_check, select_pushes
from .render import Renderer
from .retry import retry_wait
from .spec import RunSpec
from .targets import place

if TYPE_CHECKING:  # pragma: no cover
    from .events import EventEmitter
    from .recorder import RunRecorder, SessionRecord
    from .workers import WorkerTable

__all__ = ["FN_NAME", "BatchEngine", "materialise"]

#: the name a function given to ``mesh.map`` is pushed under
FN_NAME = "__mesh_map_fn__"
_EVENT_OF_STATUS = {"finished": "run_finished", "cancelled": "run_cancelled"}


def materialise(items: Any, what: str = "items") -> list[Any]:
    """``items`` as a list (a sequence, range, generator, set, dask bag...); a clear
    :class:`MeshUsageError` for text, a non-iterable, or nothing to map over."""
    if isinstance(items, (str, bytes, bytearray)):
        raise MeshUsageError(
            f"{what} is {type(items).__name__} {str(items)[:40]!r}: a batch maps over a list of items; "
            f"wrap it in a list ([...]) to run the cell once for it, or split it first"
        )
    if isinstance(items, Mapping):
        items = list(items.items())
    try:
        out = list(items)
    except TypeError:
        raise MeshUsageError(
            f"{what} is a {type(items).__name__}, which is not iterable: give a list, range or other "
            f"iterable of the items to run the cell for"
        ) from None
    if not out:
        raise MeshUsageError(f"{what} is empty: there is nothing to map over; give at least one item")
    return out


class BatchEngine:
    """One batch's Dask side (see the module doc). Build with :meth:`start`."""

    def __init__(self, *, client: Callable[[], Any], connected: Callable[[], bool], workers: WorkerTable,
                 recorder: RunRecorder, events: EventEmitter, session: str, topic: str) -> None:  # fmt: skip
        self._client, self._connected = client, connected
        self.workers, self.recorder, self.events = workers, recorder, events
        self.session, self.topic = session, topic
        self.futures: dict[int, Any] = {}
        self._items: list[Any] = []
        self._common: Any = None
        self._scattered: list[Any] = []
        self._record: SessionRecord | None = None
        self._spec: RunSpec | None = None
        self._restrict: list[str] | None = None
        self._last_write = 0.0

    # -- start -----------------------------------------------------------------------
    def start(self, code_or_fn: str | Callable[[Any], Any], items: Any, *, as_name: str = "item",
              name: str | None = None, on: Any = "any", push: Iterable[str] = (),
              user_ns: Mapping[str, Any] | None = None, resources: Any = None, timeout: float | None = None,
              retries: int | None = None, priority: int = 0, renderer: Renderer | None = None) -> BatchRun:  # fmt: skip
        """Check, record and submit the batch (see :meth:`mesh_magics.core.mesh.Mesh.map`)."""
        if not str(as_name).isidentifier():
            raise MeshUsageError(
                f"as_name {as_name!r} is not a variable name; give the name the item is bound to"
            )
        ns = dict(user_ns or {})
        if callable(code_or_fn):
            fn_name = getattr(code_or_fn, "__qualname__", type(code_or_fn).__name__)
            ns[FN_NAME], code = code_or_fn, f"# mesh.map({fn_name}, ...)\n{FN_NAME}({as_name})"
            push = [*push, FN_NAME]
        elif isinstance(code_or_fn, str):
            code = code_or_fn
        else:
            raise MeshUsageError(
                f"map takes the cell's code (a str) or a function, not {type(code_or_fn).__name__}"
            )
        values = materialise(items)
        spec = RunSpec.build(code, on=on, name=name, push=push, resources=resources, timeout=timeout,
                             retries=retries, priority=priority)  # fmt: skip
        for i, v in enumerate(values):  # before anything runs: the item that cannot travel, by its index
            try:
                pickle_check(f"item {i}", v)
            except PushError as e:
                raise PushError(
                    f"item {i} of the batch ({type(v).__name__}) cannot be sent to a worker "
                    f"({e.__cause__!r}); map over data that pickles (paths, ids, numbers) and build "
                    f"the object inside the cell",
                    name=f"item {i}",
                ) from e
        pushes = select_pushes(code, ns, set(), spec.push)
        pushes.pop(as_name, None)  # the item is bound per task, never the notebook's variable of that name
        # no worker now (all restarting, the cluster scaling up): wait for one as a run does
        records = self.workers.some(self._client(), retry_wait(spec.timeout))
        fits = place(records, spec.on if spec.on != "any" else "all", spec.resources, None)
        self._restrict = list(fits.targets) if isinstance(spec.on, tuple) or spec.resources else None
        self._spec, self._items = spec, values
        self._record = self.recorder.open_session(name=spec.name or "batch", source=code)
        run_id = self._record.id
        label = spec.name or f"batch-{run_id[:8]}"
        batch = BatchRun(run_id, label, code, len(values), control=self, retries=spec.retries,
                         timeout=spec.timeout, renderer=renderer)  # fmt: skip
        self.recorder.update(run_id, name=label, summary={"batch": {"items": len(values)}},
                             targets=self._restrict or [])  # fmt: skip
        self.topic = f"{self.topic}-{run_id[:12]}"
        client = self._client()
        client.subscribe_topic(self.topic, lambda event: self._route(batch, event[1]))
        common = {"session": self.session, "run_id": run_id, "code": code, "filename": f"<mesh cell {label}>",
                  "span": span_tags(label, run_id), "push": pushes, "topic": self.topic, "as_name": as_name,
                  "flush_interval": float(config.get("stream.flush-interval")),
                  "max_chunk": int(config.get("stream.max-chunk")),
                  "log_level": str(config.get("dashboard.log-level"))}  # fmt: skip
        # in every item's task, like a plain cell's payload (one copy per graph): a worker that dies
        # loses nothing. Large values are scattered, as the dispatcher does.
        big = {n: v for n, v in pushes.items() if sizeof(v) >= SCATTER_FROM}
        if big:
            futures = client.scatter(big, hash=False)
            pushes.update(futures)  # common["push"] is this dict
            self._scattered = list(futures.values())
        self._common = common
        self._submit(batch, list(range(len(values))))
        batch.on_tick(self._tick)
        return batch

    def _submit(self, batch: BatchRun, indices: list[int]) -> None:
        from distributed import span

        assert self._spec is not None
        client = self._client()
        for i in indices:
            batch.items[i].attempts += 1
        keys = [worker_batch.item_key(batch.id, i, batch.items[i].attempts) for i in indices]
        with span(*span_tags(batch.name, batch.id)):
            futures = client.map(worker_batch.run_item, indices, [self._items[i] for i in indices],
                                 common=self._common, key=keys, pure=False, workers=self._restrict,
                                 priority=self._spec.priority, resources=self._spec.resource_map)  # fmt: skip
        for i, fut in zip(indices, futures):
            self.futures[i] = fut
            attempt = batch.items[i].attempts
            fut.add_done_callback(lambda f, it=batch.items[i], a=attempt: batch.notify("future", (it, a, f)))

    def _route(self, batch: BatchRun, msg: Mapping[str, Any]) -> None:
        batch.notify(str(msg.get("kind", "stream")), dict(msg))

    # -- BatchControl ------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._connected()

    def label(self, address: str) -> str:
        return self.workers.label(address)

    def resubmit(self, batch: BatchRun, item: Item) -> None:
        old = self.futures.pop(item.index, None)
        if old is not None:
            old.release()
        self._submit(batch, [item.index])

    def cancel(self, batch: BatchRun) -> None:
        futures, client = list(self.futures.values()), self._client()

        def stop() -> None:
            try:  # interrupt the items' code first, then drop their futures
                client.run(cell.interrupt, batch.id)
                client.cancel(futures, force=True)
            except Exception:  # the mesh may be gone; the batch has ended as cancelled anyway
                pass

        threading.Thread(target=stop, daemon=True, name=f"mesh-cancel-{batch.name}").start()

    def ended(self, batch: BatchRun) -> None:
        try:
            client = self._client()
            client.unsubscribe_topic(self.topic)
            for fut in self.futures.values():
                fut.release()
            for fut in self._scattered:
                fut.release()
        except Exception:  # the client may be gone
            pass
        self.futures.clear()
        counts = batch.counts()
        if self._record is not None:
            self._record.end(
                batch.status,
                error=str(batch.error) if batch.error else None,
                summary={
                    "batch": {"items": len(batch.items), **counts},
                    "items": [it.row(self.label) for it in batch.items],
                },  # fmt: skip
            )
            self.recorder.update(batch.id, started=batch.started, stdout_tail=batch.stdout,
                                 stderr_tail=batch.stderr or None,
                                 result=f"{counts['finished']} of {len(batch.items)} items finished")  # fmt: skip
        self.events.emit(_EVENT_OF_STATUS.get(batch.status, "run_failed"), run=batch.id, name=batch.name,
                         status=batch.status, error=str(batch.error) if batch.error else None, batch=True)  # fmt: skip

    def _tick(self, batch: BatchRun, final: bool) -> None:
        """Progress in the history row every two seconds (the side panel's progress)."""
        now = time.monotonic()
        if final or now - self._last_write < 2.0 or self._record is None:
            return
        self._last_write = now
        c = batch.counts()
        done = c["finished"] + c["failed"] + c["cancelled"]
        self.recorder.update(batch.id, summary={"batch": {"items": len(batch.items), **c},
                                                "progress": {"done": done, "total": len(batch.items)}})  # fmt: skip

"""What becomes of a run's targets: :class:`TargetEvents`, which each :class:`~.run.MeshRun` holds.

The run's pump hands it the events about one worker's share (:class:`~.target.Target`): a
future that completed is settled into the target's ``result`` or ``error`` (a future Dask
cancelled because the scheduler went is a lost target, not a cancel), a worker that left
loses its targets, an interrupt ends a direct attempt. A share that failed or was lost is
attempted again when the run's retries allow (:meth:`~.interfaces.Control.retry`), or
waits for a live worker to retry on until its deadline. Everything else about the run
(its queue, output, end) stays in :mod:`.run`: the handlers read the run's public
attributes and change its state only through the callbacks it gives them.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import RunCancelledError
from .interfaces import Control
from .target import Target

if TYPE_CHECKING:  # pragma: no cover
    from .run import MeshRun

__all__ = ["TERMINAL", "TargetEvents"]

#: statuses after which a run never changes again
TERMINAL = frozenset({"finished", "failed", "cancelled", "timeout", "lost"})


class TargetEvents:
    """The target handlers of one run: settles its ``targets``' futures, loses the shares of
    workers that left, retries through ``control``. ``started`` is called with a result's
    start time, ``reopened`` when a retry makes the run not done again."""

    def __init__(
        self,
        run: MeshRun,
        control: Control,
        targets: list[Target],
        *,
        started: Callable[[dict[str, Any]], None],
        reopened: Callable[[], None],
    ) -> None:
        self._run = run  # read (status, renderer, retries) and handed to the Control calls
        self._control = control
        self._targets = targets
        self._started = started
        self._reopened = reopened
        self._resume_at = 0.0

    def _label(self, target: Target) -> str:
        return self._control.label(target.address)

    def on_future(self, event: tuple[Target, Any]) -> None:
        target, fut = event
        if fut is not target.future or target.done:
            return  # an earlier attempt's future (its worker left and the target moved on)
        if fut.status == "lost":  # a direct call (.direct) found no worker, or no scheduler, to run on
            target.release()
            if self._control.connected:
                self._target_lost(target)
            else:
                target.lost = True
            return
        try:
            if fut.status == "finished":
                target.result = fut.result()
            elif fut.status == "cancelled":
                if _lost_connection(fut) or not self._control.connected:
                    target.lost = True  # Dask cancels every future when the scheduler goes
                    target.release()
                    return
                target.error = RunCancelledError(f"run {self._run.name} was cancelled", self._run.id)
            else:
                target.error = fut.exception()
        except BaseException as e:  # noqa: BLE001 - any failure to fetch is the target's error
            # a forced cancel (panel, another client) can forget the result between the
            # interrupt ending the task and our fetch: that is a cancellation, not a failure
            if isinstance(e, concurrent.futures.CancelledError) and self._control.connected:
                target.error = RunCancelledError(f"run {self._run.name} was cancelled", self._run.id)
            else:
                target.error = e
        target.release()  # a finished cell must never be run again when its worker is lost later
        if target.result is not None:
            self._started({"time": target.result.get("started")})
            if target.status == "error":
                self._retry(target, f"{target.result['ename']}: {target.result['evalue']}")
        elif self._run.status not in TERMINAL and not isinstance(target.error, RunCancelledError):
            self._retry(target, f"{type(target.error).__name__}: {target.error}")  # a cancel never is

    def on_worker_left(self, address: str) -> None:
        for t in self._targets:
            if t.address == address and not t.done:
                self._target_lost(t)

    def _target_lost(self, t: Target) -> None:
        label = self._control.label(t.address)
        if not self._retry(t, f"worker {label} left the mesh", worker_left=True):
            t.lost = True
            self._control.cancel(self._run, [t])  # it would wait for that worker forever

    def on_interrupted(self, msg: dict[str, Any]) -> None:
        """A cell's thread was interrupted (a cancel, from here or from another client): a direct
        attempt ends now, as a cancelled task's future would, whatever its code still does."""
        for t in self._targets:
            if t.address == msg.get("worker") and getattr(t.future, "direct", False) and not t.done:
                t.error = RunCancelledError(f"run {self._run.name} was cancelled", self._run.id)
                t.release()

    def _retry(self, target: Target, why: str, *, worker_left: bool = False) -> bool:
        old, n = target.address, target.attempts
        if not self._control.retry(self._run, target, why, worker_left=worker_left):
            return False
        self._reopened()
        failed = f"attempt {n} on {self._control.label(old)} failed ({why})"
        if target.waiting_until is not None:
            wait = max(0.0, target.waiting_until - time.monotonic())
            self._run.renderer.message(
                f"{failed}; no other worker is live: waiting up to {wait:.0f} s for one"
            )
        else:
            self._run.renderer.message(
                f"{failed}; retrying on {self._label(target)} ({n} of {self._run.retries} retries used)"
            )
        return True

    def resume_waiting(self) -> None:
        """Targets waiting for a worker to retry on: start them, or give up at their deadline."""
        now = time.monotonic()
        for t in self._targets:
            if t.waiting_until is None:
                continue
            if now > t.waiting_until:
                t.waiting_until = None
                t.lost = t.gave_up = True  # no worker came back in time: the share ends as lost
            elif now >= self._resume_at:
                self._resume_at = now + 0.5  # each try asks the scheduler for its workers
                if self._control.resume(self._run, t):
                    self._run.renderer.message(
                        f"a worker is live again: retrying on {self._label(t)} "
                        f"({t.attempts - 1} of {self._run.retries} retries used)"
                    )


def _lost_connection(future: Any) -> bool:
    """Whether Dask cancelled ``future`` because the client lost its scheduler (not a cancel)."""
    try:
        future.result()
    except concurrent.futures.CancelledError as e:
        return getattr(e, "reason", None) == "scheduler-connection-lost"
    except BaseException:  # noqa: BLE001 - any other outcome is not a lost connection
        return False
    return False

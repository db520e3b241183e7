"""A run's two interfaces: what it asks of its mesh (:class:`Control`) and what it tells
the objects that watch it (:class:`RunObserver`).

:class:`Control` is all a :class:`~.run.MeshRun` knows of the mesh that runs it: worker
labels, retries, cancels, its start and end. The :class:`~.dispatch.Dispatcher`
implements it.

A run knows nothing of dashboards, widgets or the history database.
It calls its observers, in the order they were attached, on the thread that pumps it
(the kernel's main thread for a blocking cell, the run's daemon thread with
``--noblock``): the core attaches telemetry (:mod:`.telemetry`) and the history
recorder (:mod:`.recorder`); the composition root (:mod:`mesh_magics.session`) attaches
views such as the in-cell dashboard. An observer that raises is reported in the cell and
detached; the run carries on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from .run import MeshRun
    from .target import Target

__all__ = ["Control", "RunObserver"]


class Control(Protocol):
    """What a run asks of the mesh that runs it (:class:`~.dispatch.Dispatcher`)."""

    @property
    def connected(self) -> bool:
        """Whether the mesh is connected (Dask cancels every future when it is not)."""

    def label(self, address: str) -> str:
        """A worker's name for display."""

    def retry(self, run: MeshRun, target: Target, why: str, *, worker_left: bool = False) -> bool:
        """Start another attempt of ``target`` if the run's retries allow (or let it wait
        for a live worker: ``target.waiting``); whether it did."""

    def resume(self, run: MeshRun, target: Target) -> bool:
        """Start the attempt a waiting ``target`` waits for, if a worker is there now."""

    def cancel(self, run: MeshRun, targets: Sequence[Target]) -> None:
        """Interrupt the targets' code and cancel their futures (in the background)."""

    def started(self, run: MeshRun) -> None:
        """The run's cell began executing (called once)."""

    def ended(self, run: MeshRun) -> None:
        """The run has ended (called once, after ``done()`` turned true)."""


class RunObserver:
    """Every hook is optional: the base class does nothing."""

    def on_start(self, run: MeshRun) -> None:
        """The cell began executing on its first worker."""

    def on_chunk(self, run: MeshRun, worker: str, stream: str, text: str) -> None:
        """Output arrived: ``stream`` is stdout, stderr or log; ``worker`` is its label."""

    def on_progress(self, run: MeshRun, msg: dict[str, Any]) -> None:
        """Task counts of the run's Dask work (the scheduler plugin's ``progress``)."""

    def on_nodes(self, run: MeshRun, msg: dict[str, Any]) -> None:
        """The state of every worker (the scheduler plugin's ``nodes``)."""

    def on_tick(self, run: MeshRun) -> None:
        """The pump went round (at least every 50 ms while the run lives)."""

    def settled(self, run: MeshRun, since: float) -> bool:
        """Whether the run may end now that every target returned at ``since``."""
        return True

    def on_end(self, run: MeshRun) -> None:
        """The run ended: ``run.status``, ``run.error`` and ``run.summary`` are final."""

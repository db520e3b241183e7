"""What one item of a batch run (``%%mesh map``) runs on a worker: :func:`run_item`.

A batch is one Dask task per item, submitted with ``Client.map`` (distinct keys, see
:func:`item_key`); the scheduler spreads them over the workers, each task holding one of
the worker's threads while it runs (unlike a plain cell, an item does not secede: a batch
of a thousand items runs ``nthreads`` at a time per worker, not a thousand threads).

An item runs the cell's code in a namespace of its own: a shallow copy of the session's
namespace on that worker (what earlier ``%%mesh`` cells defined there, if any ran there),
then the pushed notebook variables, then the item bound to its name. What an item assigns
stays in its copy, so items never see each other's variables, whichever worker they share.
Its output is captured and streamed as a cell's is, under the id ``<batch id>/<index>``,
which :func:`~.cell.interrupt` of the batch's id reaches too.

Imports only the standard library and distributed (the rule of :mod:`mesh_magics.worker`).
"""

from __future__ import annotations

from typing import Any

from .cell import _run, fresh_namespace, session_namespace
from .keys import run_key_prefix

__all__ = ["item_id", "item_key", "run_item"]


def item_key(batch_id: str, index: int, attempt: int) -> tuple[str, str, int]:
    """The Dask key of one attempt of item ``index``: the batch's prefix (the side panel's
    cancel finds a run's tasks by it), so each batch is one task group on the dashboard."""
    return (run_key_prefix(batch_id), f"item-{index}", attempt)


def item_id(batch_id: str, index: int) -> str:
    """The id an item's output and interrupts go by on the worker."""
    return f"{batch_id}/{index}"


def run_item(index: int, item: Any, common: dict[str, Any]) -> dict[str, Any]:
    """Run the batch's cell for one item (the body of the item's Dask task)."""
    from distributed import get_worker

    spec = dict(common)
    spec["run_id"] = item_id(common["run_id"], index)
    ns = dict(session_namespace(common["session"]) or fresh_namespace())
    ns.update(common.get("push") or {})
    ns[common["as_name"]] = item
    spec["push"] = None
    out = _run(spec, get_worker(), before=None, ns=ns)
    out.pop("names", None)  # the item's copy, not the session's namespace
    out["index"] = index
    return out

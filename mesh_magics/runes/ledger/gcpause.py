"""Pause Python's cyclic garbage collector around the ledger's allocation-heavy steps.

The ledger's steps build and drop millions of small tuples, dicts and ints that never
form reference cycles, so reference counting frees them all; meanwhile the cyclic
collector, triggered by the allocation count alone, keeps walking every object alive in
the process (on a worker: the live sets and the prepared ranges held there), which took
about half the time of :func:`~.prepare.prepare_range` on a busy worker. :func:`paused_gc`
disables it for the duration of a call and restores the previous setting; a collection
runs afterwards only as usual.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["paused_gc"]

F = TypeVar("F", bound=Callable[..., Any])


def paused_gc(func: F) -> F:
    """``func`` with the cyclic garbage collector disabled while it runs."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        was = gc.isenabled()
        gc.disable()
        try:
            return func(*args, **kwargs)
        finally:
            if was:
                gc.enable()

    return wrapper  # type: ignore[return-value]  # functools.wraps keeps the signature F promises

"""numba when it is installed, plain Python when it is not: one kernel, two ways to run it.

Kernels are written in the subset of Python numba compiles (scalar loops over arrays).
:func:`kernel` compiles one with ``numba.njit`` (cached on disk, GIL released) when numba
imports, and leaves it as it is otherwise; :func:`run` calls the compiled form, or the
plain function (``.py_func``) when numba is missing, disabled with the environment
variable ``MESH_MAGICS_NUMBA=0``, or switched off for a block of code with
:func:`python_only` (how the tests run both paths in one process). Plain mode hands the
kernel ``memoryview`` s instead of uint8 arrays, so bytes read as Python ints.
"""

from __future__ import annotations

import os
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np

__all__ = ["HAVE_NUMBA", "active", "kernel", "python_only", "run"]

F = TypeVar("F", bound=Callable[..., Any])


def _import_numba() -> Any:
    if os.environ.get("MESH_MAGICS_NUMBA", "1") == "0":
        return None
    try:
        import numba
    except ImportError:  # numba is optional: the same kernels run as plain Python
        return None
    return numba


_numba = _import_numba()

#: whether numba imported (and was not disabled)
HAVE_NUMBA = _numba is not None
_state = {"jit": HAVE_NUMBA}


def kernel(fn: F, *, cache: bool = True) -> F:
    """``fn`` compiled by numba when available (``cache=False`` for kernels that call ctypes)."""
    if _numba is None:
        fn.py_func = fn  # type: ignore[attr-defined]  # the same attribute numba's dispatchers have
        return fn
    return _numba.njit(cache=cache, nogil=True)(fn)


def active() -> bool:
    """Whether :func:`run` calls compiled kernels now."""
    return _state["jit"]


@contextmanager
def python_only() -> Iterator[None]:
    """Run every kernel as plain Python inside the block (tests compare the two paths)."""
    before = _state["jit"]
    _state["jit"] = False
    try:
        yield
    finally:
        _state["jit"] = before


_PURE: dict[int, Any] = {}


def _pure(fn: Any) -> Any:
    """``fn.py_func`` with every compiled kernel it can reach (its module's) swapped for its plain form."""
    if id(fn) not in _PURE:
        py = fn.py_func
        g = dict(py.__globals__)
        for name, value in list(g.items()):
            inner = getattr(value, "py_func", None)
            if inner is not None and inner is not value:
                g[name] = types.FunctionType(inner.__code__, g, name, inner.__defaults__, inner.__closure__)
        _PURE[id(fn)] = types.FunctionType(py.__code__, g, py.__name__, py.__defaults__, py.__closure__)
    return _PURE[id(fn)]


def _plain(arg: Any) -> Any:
    if isinstance(arg, np.ndarray) and arg.dtype == np.uint8 and arg.ndim == 1:
        return arg.data
    return arg


def run(fn: Any, *args: Any) -> Any:
    """Call kernel ``fn``: compiled, or as plain Python (see the module doc)."""
    if _state["jit"]:
        return fn(*args)
    return _pure(fn)(*(_plain(a) for a in args))

"""Which notebook variables a ``%%mesh`` cell needs on the worker.

A name is pushed automatically when the cell reads it, the cell does not assign
it itself, it is not a builtin, it exists in the notebook's namespace, and the
target worker's namespace does not have it yet. ``--push`` forces names even
when the worker has them. Every value is pickled up front, so an un-picklable
variable is refused with its name and the fix before anything runs.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import MeshUsageError, PushError, named

__all__ = ["names_read", "pickle_check", "select_pushes"]

_SKIP = frozenset({"In", "Out", "get_ipython", "exit", "quit", "get_client"})


def names_read(code: str) -> set[str]:
    """Names the cell loads but never stores (at any depth), minus builtins."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()  # the worker reports the syntax error with its line
    loaded: set[str] = set()
    stored: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else stored).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            stored.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                stored.add((a.asname or a.name).split(".")[0])
        elif isinstance(node, ast.arg):
            stored.add(node.arg)
    return {n for n in loaded - stored if not hasattr(builtins, n)}


def pickle_check(name: str, value: Any) -> None:
    import cloudpickle

    try:
        cloudpickle.dumps(value)
    except Exception as e:
        raise PushError(
            named(
                "cannot send {var!r} ({kind}) to the mesh: {why}. Create it inside a %%mesh cell "
                "instead, or leave it out of the cell and of {push}.",
                var=name,
                kind=type(value).__name__,
                why=f"{type(e).__name__}: {e}",
            ),
            name=name,
        ) from e


def select_pushes(
    code: str,
    user_ns: Mapping[str, Any] | None,
    remote_names: set[str],
    forced: Iterable[str] = (),
) -> dict[str, Any]:
    """The ``{name: value}`` to send to one worker (values already checked picklable)."""
    user_ns = user_ns or {}
    out: dict[str, Any] = {}
    for name in forced:
        if name not in user_ns:
            raise MeshUsageError(
                named(
                    "{push} {var}: no variable {var!r} in the notebook; define it first or remove it from {push}",
                    var=name,
                )
            )
        out[name] = user_ns[name]
    for name in sorted(names_read(code)):
        if name in out or name in remote_names or name in _SKIP or name.startswith("_"):
            continue
        if name in user_ns:  # modules travel by reference: the worker imports them
            out[name] = user_ns[name]
    for name, value in out.items():
        pickle_check(name, value)
    return out

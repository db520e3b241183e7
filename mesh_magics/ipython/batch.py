"""``%%mesh map ITEMS``: the magic's shell over :meth:`mesh_magics.core.mesh.Mesh.map`.

ITEMS is evaluated in the notebook's namespace (a name, a list, ``range(100)``, any
expression; quote it when it holds spaces the shell would split oddly); the batch's
values come back as the cell's value, in item order, and ``--results NAME`` binds them
when the batch ends (with ``--noblock`` too; failed items are None there).
"""

from __future__ import annotations

import argparse
from typing import Any

from .. import session
from ..core.batching import materialise
from ..errors import MeshUsageError
from .render import default_renderer

__all__ = ["evaluate_items", "map_cell"]


def evaluate_items(expr: str, user_ns: dict[str, Any]) -> Any:
    """The value of ITEMS in the notebook; a usage error naming the problem and the fix."""
    try:
        return eval(compile(expr, "<%%mesh map ITEMS>", "eval"), user_ns)  # the user's own expression
    except NameError as e:
        raise MeshUsageError(
            f"%%mesh map {expr}: {e} in the notebook; define it first, or give an expression such as range(10)"
        ) from None
    except SyntaxError as e:
        raise MeshUsageError(
            f"%%mesh map {expr}: ITEMS is not a Python expression ({e.msg}); quote it if it holds spaces: "
            f'%%mesh map "[1, 2, 3]"'
        ) from None
    except Exception as e:
        raise MeshUsageError(f"%%mesh map {expr}: evaluating ITEMS raised {type(e).__name__}: {e}") from None


def _name(flag: str, value: str | None) -> str | None:
    if value is not None and not value.isidentifier():
        raise MeshUsageError(f"{flag} {value!r} is not a variable name")
    return value


def map_cell(user_ns: dict[str, Any], a: argparse.Namespace, cell: str) -> Any:
    """Run the cell once per item; the cell's value is the values in item order."""
    if a.pull:
        raise MeshUsageError(
            "--pull does not apply to %%mesh map: each item's value is its cell's last expression; "
            "end the cell with what you need and use --results NAME"
        )
    out, results = _name("-o", a.out), _name("--results", a.results)
    _name("--as", a.as_name)
    expr = " ".join(a.items)
    items = materialise(evaluate_items(expr, user_ns), f"%%mesh map {expr}")
    on: Any = a.on if a.on in ("any", "all") else [s for s in a.on.split(",") if s.strip()]
    push = [n.strip() for n in a.push.split(",") if n.strip()]
    mesh = session.current()
    batch = mesh.map(
        cell, items, block=None, as_name=a.as_name, name=a.name, on=on, push=push, user_ns=user_ns,
        resources=a.resources, timeout=a.timeout, retries=a.retries, priority=a.priority,
        renderer=default_renderer(),
    )  # fmt: skip
    if out:
        user_ns[out] = batch
    if results:
        batch.add_done_callback(lambda b: user_ns.__setitem__(results, b.values()))
    if a.noblock:
        batch.pump_in_background()
        return batch
    batch.wait_or_cancel()  # Ctrl-C cancels the whole batch; -o and --results have what finished
    return batch.result()  # a BatchError lists the first failures; its .results has the other values

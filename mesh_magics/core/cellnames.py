"""What a cell touches in its worker namespace, for the result cache: :func:`cache_names`.

``reads`` are the names whose value may come from the namespace as it was before the cell:
every name loaded where no binding of it by the cell itself surely came first. The cell's
top-level statements are followed in order (``y = f(x)`` then ``y + 1`` reads ``x`` only;
a ``for`` target is bound in its body, an ``if`` binds what both branches bind); loads inside
functions, classes, lambdas and comprehensions count where they are defined, whatever the
cell binds later, and ``x += 1`` reads ``x``. Each rule can only add names, so ``reads`` is a
superset of what the cell can read from the namespace: an extra name costs at most a miss.

``binds`` are the names whose state after the run a hit must find: every name bound,
deleted or declared ``global`` at any depth, and every name loaded (a value can change in
place). Dynamic access (``globals()``, ``locals()``, ``vars()``, ``exec``, ``eval``, ``from m
import *``) hides both, and is refused with a :class:`~mesh_magics.errors.MeshUsageError`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import MeshUsageError, named

__all__ = ["CacheNames", "cache_names"]

#: names through which a cell reads or writes its namespace without naming what
_DYNAMIC = ("globals", "locals", "vars", "exec", "eval")
#: try statements (``try``/``except*`` since Python 3.11)
_TRY: tuple[type[ast.stmt], ...] = (ast.Try, getattr(ast, "TryStar", ast.Try))


@dataclass(frozen=True)
class CacheNames:
    """What a cell touches: ``reads`` and ``binds`` (see the module doc), sorted."""

    reads: tuple[str, ...]
    binds: tuple[str, ...]


def cache_names(code: str, forced: Iterable[str] = ()) -> CacheNames:
    """The names ``code`` reads and binds; ``forced`` (pushed by name) are read too. A syntax
    error touches nothing: the worker reports it, and a failed run is never cached."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return CacheNames((), ())
    loaded: set[str] = set()
    binds: set[str] = set()
    # vars(obj) reads obj only; vars() alone is the namespace
    plain = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call) and n.args}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                if node.id in _DYNAMIC and not (node.id == "vars" and id(node) in plain):
                    raise _refused(f"{node.id}()", node)
                loaded.add(node.id)
            else:
                binds.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if any(a.name == "*" for a in node.names):
                raise _refused("`from ... import *`", node)
            binds.update(_imported(node))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            binds.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            binds.update(node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            binds.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            binds.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            binds.add(node.rest)
    flow = _Flow()
    flow.block(tree.body, frozenset())
    reads = flow.reads | set(forced)
    return CacheNames(tuple(sorted(reads)), tuple(sorted(binds | loaded | reads)))


def _refused(what: str, node: ast.AST) -> MeshUsageError:
    return MeshUsageError(
        named(
            "{cache=True}: this cell uses {what} (line {line}), so the result cache cannot see which "
            "namespace names it reads or binds. Run it without {cache=True}, or name its inputs and "
            "outputs plainly (x = ..., f(x)).",
            what=what,
            line=getattr(node, "lineno", "?"),
        )
    )


def _imported(node: ast.Import | ast.ImportFrom) -> set[str]:
    return {(a.asname or a.name).split(".")[0] for a in node.names}


def _targets(node: ast.AST | None) -> set[str]:
    """The plain names an assignment target binds (``a``, ``a, *b``), not ``a.x`` or ``a[i]``."""
    if isinstance(node, ast.Name):
        return {node.id}
    if isinstance(node, (ast.Tuple, ast.List)):
        return set().union(*(_targets(e) for e in node.elts))
    if isinstance(node, ast.Starred):
        return _targets(node.value)
    return set()


class _Flow:
    """Follows statements in order, collecting the loads no binding surely came before."""

    def __init__(self) -> None:
        self.reads: set[str] = set()

    def loads(self, node: ast.AST | None, bound: frozenset[str]) -> None:
        """Every name ``node`` loads at any depth (nested scopes included) not in ``bound``."""
        if node is None:
            return
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
                name = n.id
            elif isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name):
                name = n.target.id  # x += 1 reads x
            else:
                continue
            if name not in bound:
                self.reads.add(name)

    def block(self, body: Sequence[ast.stmt], bound: frozenset[str]) -> frozenset[str]:
        """The names surely bound after ``body`` runs from ``bound``."""
        for s in body:
            bound = self.statement(s, bound)
        return bound

    def statement(self, s: ast.stmt, bound: frozenset[str]) -> frozenset[str]:
        if isinstance(s, (ast.For, ast.AsyncFor)):
            self.loads(s.iter, bound)
            self.loads(s.target, bound)  # a.x / a[i] targets load a
            self.block(s.body, bound | _targets(s.target))
            self.block(s.orelse, bound)
            return bound
        if isinstance(s, ast.While):
            self.loads(s.test, bound)
            self.block(s.body, bound)
            self.block(s.orelse, bound)
            return bound
        if isinstance(s, ast.If):
            self.loads(s.test, bound)
            return self.block(s.body, bound) & self.block(s.orelse, bound)
        if isinstance(s, (ast.With, ast.AsyncWith)):
            inner = bound
            for item in s.items:
                self.loads(item.context_expr, inner)
                self.loads(item.optional_vars, inner)
                inner = inner | _targets(item.optional_vars)
            return self.block(s.body, inner)
        if isinstance(s, _TRY):
            t: Any = s  # ast.Try or ast.TryStar: the same fields
            after = self.block(t.body, bound)
            for h in t.handlers:
                self.loads(h.type, bound)
                self.block(h.body, bound | ({h.name} if h.name else set()))
            self.block(t.orelse, after)
            return self.block(t.finalbody, bound)
        if isinstance(s, ast.Match):
            self.loads(s.subject, bound)
            for case in s.cases:  # captures bind only in their case: every load counts before them
                self.loads(case.pattern, bound)
                self.loads(case.guard, bound)
                self.block(case.body, bound)
            return bound
        self.loads(s, bound)  # a simple statement; a def/class body's loads count here
        if isinstance(s, ast.Delete):
            return bound - set().union(*(_targets(t) for t in s.targets))
        return bound | _binds(s)


def _binds(s: ast.stmt) -> set[str]:
    """What a simple statement surely binds once it has run."""
    if isinstance(s, ast.Assign):
        return set().union(*(_targets(t) for t in s.targets))
    if isinstance(s, (ast.AugAssign, ast.AnnAssign)) and getattr(s, "value", None) is not None:
        return _targets(s.target)
    if isinstance(s, (ast.Import, ast.ImportFrom)):
        return _imported(s)
    if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {s.name}
    return set()

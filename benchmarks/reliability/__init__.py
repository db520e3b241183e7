"""The fault, load, bad-input and security cases behind ``benchmarks/faults.py``.

A case is a function registered with :func:`case`. It gets a :class:`Context` (a fresh
temporary directory, the mesh-magics settings that keep its history and registry there)
and returns a :class:`Outcome` with its figure (what it measured, in words and numbers);
an ``AssertionError`` is a failed case, :class:`Skip` a case this machine cannot run
(with the reason). Cases use real processes, real files and real sockets. ``quick`` cases
(a few seconds each) also run as tests (``tests/test_reliability.py``).
"""

from __future__ import annotations

import contextlib
import importlib
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CASES", "Case", "Context", "Outcome", "Skip", "case", "load_all", "run_case"]

CATEGORIES = ("fault", "load", "bad-input", "security")
MODULES = ("faults_cases", "load_cases", "cell_cases", "input_cases", "security_cases")


class Skip(Exception):
    """This machine cannot run the case (the message says why)."""


@dataclass
class Outcome:
    figure: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    dir: Path
    quick: bool

    @property
    def settings(self) -> dict[str, Any]:
        return {
            "mesh.history.path": str(self.dir / "history.sqlite3"),
            "mesh.registry.path": str(self.dir / "registry"),
        }

    @contextlib.contextmanager
    def config(self, **extra: Any) -> Iterator[None]:
        import dask

        with dask.config.set({**self.settings, **extra}):
            yield

    def env(self) -> dict[str, str]:
        """Environment for a kernel or subprocess using this context's files."""
        return {
            "DASK_MESH__HISTORY__PATH": str(self.dir / "history.sqlite3"),
            "DASK_MESH__REGISTRY__PATH": str(self.dir / "registry"),
        }


@dataclass
class Case:
    name: str
    category: str
    fn: Callable[[Context], Outcome]
    quick: bool
    doc: str


CASES: dict[str, Case] = {}


def case(
    category: str, *, quick: bool = False
) -> Callable[[Callable[[Context], Outcome]], Callable[[Context], Outcome]]:
    """Register a case (its name is the function's, its description the docstring's first line)."""
    assert category in CATEGORIES, category

    def register(fn: Callable[[Context], Outcome]) -> Callable[[Context], Outcome]:
        name = fn.__name__
        assert name not in CASES, name
        CASES[name] = Case(name, category, fn, quick, (fn.__doc__ or name).strip().splitlines()[0])
        return fn

    return register


def load_all() -> dict[str, Case]:
    for mod in MODULES:
        importlib.import_module(f"reliability.{mod}")
    return CASES


def run_case(c: Case, quick: bool) -> dict[str, Any]:
    """Run one case in a fresh directory: its row for the table and the JSON."""
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"mesh-{c.name}-") as d:
        try:
            out = c.fn(Context(Path(d), quick))
            status, figure, data = "ok", out.figure, out.data
        except Skip as e:
            status, figure, data = "skipped", str(e), {}
        except AssertionError as e:
            status, figure, data = (
                "FAILED",
                str(e) or "assertion failed",
                {"traceback": traceback.format_exc()},
            )
        except Exception as e:  # a case that raises what it did not expect fails, with its traceback
            status, figure, data = "FAILED", f"{type(e).__name__}: {e}", {"traceback": traceback.format_exc()}
    return {
        "case": c.name,
        "category": c.category,
        "what": c.doc,
        "status": status,
        "figure": figure,
        "seconds": round(time.monotonic() - t0, 2),
        "data": data,
    }

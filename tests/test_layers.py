"""The package's layers and their import rules, checked by walking every module's imports.

Each sub-package says in its docstring what it may import; this test holds it to that.
Imports are read with ``ast`` (module level and inside functions alike: a lazy import is
still a dependency), except those under ``if TYPE_CHECKING:``, which never run. A second
check imports the worker side in a fresh interpreter and looks at what got loaded.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mesh_magics"
STDLIB = frozenset(sys.stdlib_module_names) | {"__future__"}

#: front-end packages the plain layers must never import
FRONT_ENDS = frozenset({"IPython", "ipykernel", "ipywidgets", "anywidget", "traitlets", "bokeh"})
SERVER = frozenset({"tornado", "jupyter_server"})
#: the shared modules every kernel-side layer may use
SHARED = ("mesh_magics.config", "mesh_magics.errors", "mesh_magics._version")
#: what every Runes sub-package but the protocol may use
RUNES_BASE = ("mesh_magics.runes.protocol", "mesh_magics.runes.tables", "mesh_magics.errors")


@dataclass(frozen=True)
class Rule:
    """What a layer may import: ``third`` third-party top-level packages (None: any but
    ``banned``), and internal modules under one of the ``internal`` prefixes."""

    third: frozenset[str] | None
    internal: tuple[str, ...]
    banned: frozenset[str] = field(default_factory=frozenset)


RULES: dict[str, Rule] = {
    # what Dask's processes import: workers and the scheduler
    "mesh_magics.worker": Rule(
        # dask: what distributed runs on (worker/tokens.py: the result cache's Dask tokens)
        frozenset({"distributed", "dask", "tornado", "cloudpickle"}),
        ("mesh_magics.worker", "mesh_magics._version"),
    ),
    # files on disk, read by the kernels and the Jupyter server alike
    "mesh_magics.store": Rule(
        frozenset({"jupyter_core", "psutil", "pandas"}), ("mesh_magics.store", *SHARED)
    ),
    # meshes and runs in plain Python
    "mesh_magics.core": Rule(
        None, ("mesh_magics.core", "mesh_magics.worker", "mesh_magics.store", *SHARED), FRONT_ENDS | SERVER
    ),
    # the in-cell dashboard: the core's telemetry drawn with anywidget
    "mesh_magics.dashboard": Rule(
        None,
        ("mesh_magics.dashboard", "mesh_magics.core", "mesh_magics.worker", *SHARED),
        frozenset({"IPython", "ipykernel", "bokeh"}) | SERVER,
    ),
    # the IPython shell over the core
    "mesh_magics.ipython": Rule(
        None,
        (
            "mesh_magics.ipython",
            "mesh_magics.session",
            "mesh_magics.core",
            "mesh_magics.dashboard",
            "mesh_magics.store",
            # %mesh follow: runes.follow behind the alert table (imported when the magic runs)
            "mesh_magics.runes.tip",
            # %mesh template, %mesh audit, the plugins' tiles
            "mesh_magics.templates",
            "mesh_magics.plugins",
            *SHARED,
        ),
        SERVER,
    ),  # fmt: skip
    # the Jupyter server extension: files on disk, cancels through the scheduler
    "mesh_magics.server": Rule(
        None,
        (
            "mesh_magics.server",
            "mesh_magics.store",
            "mesh_magics.core.cancel",
            "mesh_magics.worker",
            "mesh_magics.plugins",
            *SHARED,
        ),
        FRONT_ENDS,
    ),
    # the composition root (plugins: the worker setup they register)
    "mesh_magics.session": Rule(
        None,
        ("mesh_magics.session", "mesh_magics.core", "mesh_magics.dashboard", "mesh_magics.plugins", *SHARED),
        SERVER,
    ),
    # plugins through entry points, and the templates they may register
    "mesh_magics.plugins": Rule(frozenset(), ("mesh_magics.plugins", "mesh_magics.templates", *SHARED)),
    # run templates: plain files, read and rendered; run() goes through the session
    "mesh_magics.templates": Rule(
        frozenset(), ("mesh_magics.templates", "mesh_magics.plugins", "mesh_magics.session", *SHARED)
    ),
    # the template files that ship: cells that run on the workers, with the package's payload
    "mesh_magics.templates.builtin": Rule(None, ("mesh_magics",), FRONT_ENDS | SERVER),
    # Runes: the lazy public API over pure-Python protocol, schema, decoders, loaders, queries
    "mesh_magics.runes": Rule(frozenset(), ("mesh_magics.runes",)),
    "mesh_magics.runes.protocol": Rule(frozenset(), ("mesh_magics.runes.protocol", "mesh_magics.errors")),
    "mesh_magics.runes.tables": Rule(
        frozenset({"numpy", "pandas", "dask"}), ("mesh_magics.runes.tables", "mesh_magics.errors")
    ),
    "mesh_magics.runes.decode": Rule(
        frozenset({"numpy", "pandas", "pyarrow"}),
        ("mesh_magics.runes.decode", *RUNES_BASE),
    ),
    "mesh_magics.runes.io": Rule(
        # pyarrow: read_parquet reads row groups itself, to set aside what cannot be decoded
        frozenset({"numpy", "pandas", "dask", "fsspec", "pyarrow"}),
        ("mesh_magics.runes.io", "mesh_magics.runes.decode", *RUNES_BASE),
    ),
    "mesh_magics.runes.synth": Rule(
        frozenset({"numpy", "pandas", "dask", "cudf", "dask_cudf"}), ("mesh_magics.runes.synth", *RUNES_BASE)
    ),
    "mesh_magics.runes.whale": Rule(
        frozenset({"numpy", "pandas", "pyarrow", "dask", "distributed", "cudf", "dask_cudf"}),
        ("mesh_magics.runes.whale", "mesh_magics.runes.tables", "mesh_magics.errors"),
    ),
    "mesh_magics.runes.ledger": Rule(
        frozenset({"numpy", "pandas", "pyarrow", "dask", "distributed"}),
        (
            "mesh_magics.runes.ledger",
            "mesh_magics.runes.decode",
            "mesh_magics.chain.format",
            # index_blocks builds its tables with from_blocks; the mesh ledger reads their columns
            "mesh_magics.chain.blocklist",
            "mesh_magics.chain.schema",
            *RUNES_BASE,
        ),
    ),
    # following the tip: the ledger over the chain's sources and readers, whale alerts
    "mesh_magics.runes.tip": Rule(
        frozenset({"numpy", "pandas", "pyarrow", "dask", "distributed"}),
        ("mesh_magics.runes.tip", "mesh_magics.runes.ledger", "mesh_magics.chain", *RUNES_BASE),
    ),
    # Bitcoin's own data: the formats in plain Python, the readers and tables on the mesh
    "mesh_magics.chain": Rule(
        None, ("mesh_magics.chain", "mesh_magics.errors", "mesh_magics.config"), FRONT_ENDS | SERVER
    ),
    "mesh_magics.chain.format": Rule(
        frozenset({"numpy", "numba"}), ("mesh_magics.chain.format", "mesh_magics.errors")
    ),
    "mesh_magics.errors": Rule(frozenset({"IPython"}), ()),  # MeshUsageError is an IPython UsageError
    "mesh_magics.config": Rule(frozenset({"dask", "yaml"}), ("mesh_magics.errors",)),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path, source: str | None = None) -> list[tuple[int, str]]:
    """``(line, absolute module)`` of every import that runs (``TYPE_CHECKING`` blocks skipped)."""
    tree = ast.parse(path.read_text() if source is None else source)
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for a in node.names:  # `from pkg import mod` imports the sub-module
                sub = f"{target}.{a.name}"
                is_module = (ROOT / Path(*sub.split("."))).is_dir() or (
                    ROOT / Path(*sub.split("."))
                ).with_suffix(".py").is_file()
                found.append((node.lineno, sub if is_module else target))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def rule_for(name: str) -> tuple[str, Rule] | None:
    for prefix in sorted(RULES, key=len, reverse=True):
        if name == prefix or name.startswith(prefix + "."):
            return prefix, RULES[prefix]
    return None


def violations(path: Path, source: str | None = None) -> list[str]:
    """What ``path`` imports against its layer's rule, as readable lines."""
    name = module_name(path)
    found = rule_for(name)
    if found is None:
        return []
    layer, rule = found
    out = []
    for line, target in imports_of(path, source):
        top = target.split(".")[0]
        where = f"{path.relative_to(ROOT)}:{line} imports {target}"
        if top == "mesh_magics":
            if target != "mesh_magics" and not any(
                target == p or target.startswith(p + ".") for p in rule.internal
            ):
                out.append(f"{where}: {layer} may import only {', '.join(rule.internal)} of the package")
        elif top in STDLIB:
            continue
        elif top in rule.banned or (rule.third is not None and top not in rule.third):
            out.append(f"{where}: {layer} must not import {top}")
    return out


def all_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "labextension" not in p.parts)


def test_every_module_has_a_layer():
    top_level = {"mesh_magics", "mesh_magics.__main__", "mesh_magics._version"}  # the public API, the CLI
    orphans = [
        module_name(p)
        for p in all_modules()
        if module_name(p) not in top_level and rule_for(module_name(p)) is None
    ]
    assert orphans == []


def test_every_layer_keeps_its_import_rule():
    found = [v for p in all_modules() for v in violations(p)]
    assert found == [], "\n".join(found)


@pytest.mark.parametrize(
    ("module", "planted", "complaint"),
    [
        ("mesh_magics/worker/cell.py", "import IPython", "must not import IPython"),
        ("mesh_magics/worker/cell.py", "import pandas", "must not import pandas"),
        ("mesh_magics/worker/cell.py", "from ..core import run", "may import only"),
        ("mesh_magics/core/run.py", "import ipywidgets", "must not import ipywidgets"),
        (
            "mesh_magics/core/dispatch.py",
            "def f():\n    from ..dashboard.widget import MeshDashboard",
            "may import only",
        ),
        ("mesh_magics/core/mesh.py", "from IPython.display import display", "must not import IPython"),
        ("mesh_magics/store/history.py", "import distributed", "must not import distributed"),
        ("mesh_magics/runes/__init__.py", "import anywidget", "must not import anywidget"),
        ("mesh_magics/runes/protocol/runestone.py", "import numpy", "must not import numpy"),
        ("mesh_magics/runes/decode/scan.py", "from ..whale import queries", "may import only"),
        ("mesh_magics/runes/whale/queries.py", "from ..io import etl", "may import only"),
        ("mesh_magics/chain/format/walk.py", "import pandas", "must not import pandas"),
        ("mesh_magics/chain/reader.py", "import IPython", "must not import IPython"),
        ("mesh_magics/chain/whale.py", "from ..runes import tables", "may import only"),
    ],
)
def test_a_planted_import_is_caught(module, planted, complaint):
    """The rule bites: the same module with one forbidden import added fails it."""
    path = ROOT / module
    source = path.read_text() + "\n" + planted + "\n"
    assert violations(path) == []
    found = violations(path, source)
    assert found and complaint in found[0], found


def test_type_checking_imports_do_not_count():
    path = PACKAGE / "core" / "run.py"
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import ipywidgets\n"
    assert violations(path, source) == []


def test_the_worker_side_loads_nothing_of_the_kernel():
    """What a worker or the scheduler imports, in a fresh interpreter."""
    code = textwrap.dedent(
        """
        import sys
        import mesh_magics.worker.cell, mesh_magics.worker.plugin, mesh_magics.worker.preload
        kernel_side = ("IPython", "ipykernel", "ipywidgets", "anywidget", "pandas", "mesh_magics.core",
                       "mesh_magics.config", "mesh_magics.errors", "mesh_magics.store", "mesh_magics.runes")
        print(sorted(m for m in sys.modules if m.split(".")[0] in kernel_side or m in kernel_side))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_the_runes_kernels_load_no_front_end():
    """The whale and ledger kernels run on Dask's workers: unpickling one imports its module
    there, and IPython (once pulled in by the error tree) cost each worker ~85 ms on its first
    whale task. The error tree still makes ``MeshUsageError`` an IPython ``UsageError``."""
    code = textwrap.dedent(
        """
        import sys
        import mesh_magics.runes.whale.general, mesh_magics.runes.whale.coded, mesh_magics.runes.ledger
        front = ("IPython", "ipykernel", "ipywidgets", "anywidget", "traitlets", "bokeh", "mesh_magics.core",
                 "mesh_magics.ipython", "mesh_magics.dashboard", "mesh_magics.server")
        print(sorted(m for m in sys.modules if any(m == f or m.startswith(f + ".") for f in front)))
        from mesh_magics.errors import MeshConfigError, MeshUsageError
        from IPython.core.error import UsageError
        print(issubclass(MeshUsageError, UsageError) and issubclass(MeshUsageError, MeshConfigError))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["[]", "True"]


def test_the_core_loads_no_widgets_or_server():
    code = textwrap.dedent(
        """
        import sys
        import mesh_magics.core.mesh, mesh_magics.core.cancel, mesh_magics.store.history
        front = ("ipywidgets", "anywidget", "ipykernel", "jupyter_server", "bokeh", "mesh_magics.ipython",
                 "mesh_magics.dashboard", "mesh_magics.server")
        print(sorted(m for m in sys.modules if any(m == f or m.startswith(f + ".") for f in front)))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


# -- composition: a class is built from the parts it holds, not from mixin base classes ---------
#: the project's classes another may derive from: interfaces with a default for each hook, and
#: a cached run that stands in for a live one wherever a run is expected
BASES_ALLOWED = {
    "mesh_magics.core.interfaces.RunObserver",
    "mesh_magics.core.render.NullRenderer",
    "mesh_magics.core.run.MeshRun",
    "mesh_magics.runes.whale.engine.WhaleEngine",
    "mesh_magics.server.handlers.MeshAPIHandler",  # tornado's way: handlers share a base
}


def _mixins(classes: list[type]) -> list[str]:
    """``module.Class: Base`` for each project base a class has outside :data:`BASES_ALLOWED`
    (errors derive from the :class:`~mesh_magics.errors.MeshError` tree, as they must)."""
    found = []
    for cls in classes:
        if issubclass(cls, BaseException):
            continue
        for base in cls.__bases__:
            name = f"{base.__module__}.{base.__qualname__}"
            if base.__module__.startswith("mesh_magics") and name not in BASES_ALLOWED:
                found.append(f"{cls.__module__}.{cls.__qualname__}: {name}")
    return found


def _project_classes() -> list[type]:
    import importlib
    import inspect
    import pkgutil

    import mesh_magics

    classes = []
    for info in pkgutil.walk_packages(mesh_magics.__path__, "mesh_magics."):
        if info.name.startswith(("mesh_magics.labextension", "mesh_magics.server.proxy")):
            continue  # no modules / tornado's own mixins (WebSocketMixin) are that file's idiom
        mod = importlib.import_module(info.name)
        classes += [c for c in vars(mod).values() if inspect.isclass(c) and c.__module__ == info.name]
    return classes


def test_no_class_is_built_from_mixin_base_classes():
    assert _mixins(_project_classes()) == []


def test_a_planted_mixin_is_caught():
    from mesh_magics.core.mesh_wiring import SchedulerWiring

    Planted = type("Planted", (SchedulerWiring,), {"__module__": "mesh_magics.core.planted"})
    assert _mixins([Planted]) == [
        "mesh_magics.core.planted.Planted: mesh_magics.core.mesh_wiring.SchedulerWiring"
    ]

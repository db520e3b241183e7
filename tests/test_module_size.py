"""The package's size rule: a module stays around 400 lines at most.

A module that grows past it is split by responsibility (a cohesive group of helpers, a
sub-concern of a class) into a sibling module, its public names re-exported where they were.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mesh_magics"
MAX_LINES = 400


def line_count(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for _ in f)


def test_every_module_is_at_most_400_lines():
    sizes = {p.relative_to(ROOT).as_posix(): line_count(p) for p in sorted(PACKAGE.rglob("*.py"))}
    assert sizes, "no modules found"
    offenders = {name: n for name, n in sizes.items() if n > MAX_LINES}
    listing = "\n".join(
        f"  {name}: {n} lines" for name, n in sorted(offenders.items(), key=lambda kv: -kv[1])
    )
    assert not offenders, f"modules over {MAX_LINES} lines (split them by responsibility):\n{listing}"

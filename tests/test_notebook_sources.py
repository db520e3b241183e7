"""The example notebooks' text sources and their ``.ipynb`` agree.

Each ``notebooks/NN-name.py`` (jupytext percent format) is the source people edit; the
paired ``notebooks/NN-name.ipynb`` carries the outputs that readers, strict nbval and
``python -m mesh_magics demo`` use. ``jupytext --sync`` keeps the two together (see
``notebooks/README.md``). These tests fail when one side was changed without the other:
a file without its pair, or cells that differ in type, source, tags or ``demo_title``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jupytext
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PATTERN = "[0-9][0-9]-*"
FORMATS = "ipynb,py:percent"
SYNC = "run `jupytext --sync notebooks/{name}.py` (see notebooks/README.md)"


def _names(suffix: str) -> set[str]:
    return {p.stem for p in NOTEBOOKS.glob(PATTERN + suffix)}


def _cells(nb: Any) -> list[tuple[str, str, list[str], str | None]]:
    return [
        (c.cell_type, c.source, list(c.metadata.get("tags", [])), c.metadata.get("demo_title"))
        for c in nb.cells
    ]


PAIRED = sorted(_names(".py") & _names(".ipynb"))


def test_every_notebook_has_its_source_and_back():
    sources, notebooks = _names(".py"), _names(".ipynb")
    assert notebooks, f"no {PATTERN}.ipynb in {NOTEBOOKS}"
    assert sorted(notebooks - sources) == [], "notebooks without a .py source"
    assert sorted(sources - notebooks) == [], "sources without their .ipynb"


@pytest.mark.parametrize("name", PAIRED)
def test_source_gives_the_same_cells(name: str):
    text = jupytext.read(NOTEBOOKS / f"{name}.py")
    stored = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)

    assert text.metadata.get("jupytext", {}).get("formats") == FORMATS, f"{name}.py is not paired"
    assert stored.metadata.get("jupytext", {}).get("formats") == FORMATS, f"{name}.ipynb is not paired"

    want, got = _cells(text), _cells(stored)
    for i, (a, b) in enumerate(zip(want, got)):
        assert a == b, (
            f"cell {i} differs: {name}.py has\n{a}\nbut {name}.ipynb has\n{b}\n{SYNC.format(name=name)}"
        )
    assert len(want) == len(got), (
        f"{name}.py has {len(want)} cells, {name}.ipynb {len(got)}: {SYNC.format(name=name)}"
    )


@pytest.mark.parametrize("name", PAIRED)
def test_key_results_have_titles(name: str):
    """``python -m mesh_magics demo`` prints the ``key-result`` cells under their ``demo_title``."""
    for i, (kind, _, tags, title) in enumerate(_cells(jupytext.read(NOTEBOOKS / f"{name}.py"))):
        assert ("key-result" in tags) == (title is not None), (
            f"{name}.py cell {i}: a demo_title goes with the key-result tag, and back"
        )
        assert title is None or kind == "code", f"{name}.py cell {i}: only code cells are key results"

"""``python -m mesh_magics demo [NOTEBOOK]``: run a notebook headless on the embedded mesh.

Executes the notebook in a real IPython kernel (nbclient), so the demo goes
through exactly what a JupyterLab user gets — ``%load_ext``, ``%mesh up``, the
``%%mesh`` cells. The default is ``notebooks/06-chain-to-runes.ipynb``: a regtest chain written
by Bitcoin Core's own validation engine, read from its files on the mesh, indexed into a Runes
ledger and questioned with the whale suite.

What it prints: the output of the cells tagged ``key-result`` (each under the
title in its ``demo_title`` metadata), with a one-line note on stderr for every
other cell that took a while. A notebook without such tags, or ``--all``,
prints every cell with the text it displayed.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["main"]

_NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
_DEFAULT = _NOTEBOOKS / "06-chain-to-runes.ipynb"
_KEY = "key-result"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_MAX_LINES = 40  # per key result; the notebook has the rest


def _text(output: dict[str, Any]) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        return str(output.get("text", ""))
    if kind in ("display_data", "execute_result"):
        text = str(output.get("data", {}).get("text/plain", ""))
        return text + "\n" if text else ""
    if kind == "error":
        return _ANSI.sub("", "\n".join(output.get("traceback", []))) + "\n"
    return ""


def _indent(text: str, limit: int | None = None) -> str:
    lines = text.rstrip("\n").splitlines()
    if limit is not None and len(lines) > limit:
        lines = lines[:limit] + [f"… ({len(lines) - limit} more lines in the notebook)"]
    return "\n".join("    " + ln for ln in lines)


def _first_line(cell: Any) -> str:
    src = cell.source.strip().splitlines()
    return src[0][:70] if src else ""


def demo(notebook: Path, timeout: int, show_all: bool = False) -> int:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(notebook, as_version=4)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    keyed = any(_KEY in c.get("metadata", {}).get("tags", []) for c in code_cells)
    show_all = show_all or not keyed
    print(
        f"mesh-magics demo: running {notebook.name} on the embedded mesh ({len(code_cells)} code cells)\n",
        flush=True,
    )
    t0 = time.time()
    started: dict[int, float] = {}

    def on_start(cell: Any, cell_index: int, **_: Any) -> None:
        started[cell_index] = time.time()

    def on_done(cell: Any, cell_index: int, execute_reply: Any = None, **_: Any) -> None:
        took = time.time() - started.get(cell_index, time.time())
        out = "".join(_text(o) for o in cell.get("outputs", []))
        meta = cell.get("metadata", {})
        if show_all:
            src = cell.source.strip().splitlines()
            print(f"In [{cell_index}]: " + "\n         ".join(src), flush=True)
            if out.strip():
                print(_indent(out), flush=True)
            print(flush=True)
        elif _KEY in meta.get("tags", []):
            title = meta.get("demo_title") or _first_line(cell)
            print(f"== {title}" + (f" ({took:.1f} s)" if took >= 0.5 else ""), flush=True)
            print(_indent(out, _MAX_LINES) if out.strip() else "    (no output)", flush=True)
            print(flush=True)
        elif took >= 2.0:
            print(f"   … {_first_line(cell)}  ({took:.1f} s)", file=sys.stderr, flush=True)

    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(notebook.parent)}},
        on_cell_start=on_start,
        on_cell_executed=on_done,
        allow_errors=False,
    )
    try:
        client.execute()
    except CellExecutionError as e:
        print(f"demo failed after {time.time() - t0:.1f} s:\n{_ANSI.sub('', str(e))}", file=sys.stderr)
        return 1
    print(f"demo finished in {time.time() - t0:.1f} s; the full notebook: {notebook}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mesh_magics")
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("demo", help="run a notebook headless on the embedded mesh and print its key results")
    d.add_argument(
        "notebook",
        nargs="?",
        type=Path,
        default=Path(os.environ.get("MESH_DEMO", _DEFAULT)),
        help="a notebook path, or the name of one in notebooks/ (default: 06-chain-to-runes)",
    )
    d.add_argument("--all", action="store_true", help="print every cell and its output")
    d.add_argument("--timeout", type=int, default=600, help="per-cell timeout, seconds")
    a = p.parse_args(argv)
    nb = a.notebook
    if nb.suffix == ".py":  # a jupytext source: run its paired notebook
        nb = nb.with_suffix(".ipynb")
    if not nb.exists():  # `demo 03-runestone-decoding` finds notebooks/03-runestone-decoding.ipynb
        named = _NOTEBOOKS / (nb.name if nb.suffix == ".ipynb" else f"{nb.name}.ipynb")
        if not named.exists():
            p.error(f"no notebook at {a.notebook}")
        nb = named
    return demo(nb, a.timeout, show_all=a.all)


if __name__ == "__main__":
    sys.exit(main())

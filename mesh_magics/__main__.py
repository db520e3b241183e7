"""``python -m mesh_magics demo``: run a notebook headless on the embedded mesh.

Executes the notebook in a real IPython kernel (nbclient), so the demo goes
through exactly what a JupyterLab user gets — ``%load_ext``, ``%mesh up``, the
``%%mesh`` cells — and prints each cell with the text it displayed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["main"]

_DEFAULT = Path(__file__).resolve().parent.parent / "notebooks" / "01-quickstart.ipynb"


def _text(output: dict[str, Any]) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        return str(output.get("text", ""))
    if kind in ("display_data", "execute_result"):
        return str(output.get("data", {}).get("text/plain", "")) + "\n"
    if kind == "error":
        import re

        tb = "\n".join(output.get("traceback", []))
        return re.sub(r"\x1b\[[0-9;]*m", "", tb) + "\n"
    return ""


def demo(notebook: Path, timeout: int) -> int:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    print(f"mesh-magics demo: executing {notebook} on the embedded mesh\n", flush=True)
    t0 = time.time()

    def show(cell: Any, cell_index: int, execute_reply: Any = None, **_: Any) -> None:
        src = cell.source.strip().splitlines()
        print(f"In [{cell_index}]: " + "\n         ".join(src), flush=True)
        out = "".join(_text(o) for o in cell.get("outputs", []))
        if out.strip():
            print("\n".join("    " + ln for ln in out.rstrip("\n").splitlines()), flush=True)
        print(flush=True)

    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(notebook.parent)}},
                            on_cell_executed=show, allow_errors=False)
    client.execute()
    print(f"demo finished in {time.time() - t0:.1f} s", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mesh_magics")
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("demo", help="run a notebook headless on the embedded mesh and print its output")
    d.add_argument("notebook", nargs="?", type=Path, default=Path(os.environ.get("MESH_DEMO", _DEFAULT)))
    d.add_argument("--timeout", type=int, default=600, help="per-cell timeout, seconds")
    a = p.parse_args(argv)
    if not a.notebook.exists():
        p.error(f"no notebook at {a.notebook}")
    return demo(a.notebook, a.timeout)


if __name__ == "__main__":
    sys.exit(main())

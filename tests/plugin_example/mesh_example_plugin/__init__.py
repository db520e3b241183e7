"""The example plugin: everything a plugin can register (see mesh_magics.plugins)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["register"]


class _Tile:
    """What the dashboard tile returns: anything IPython displays (here text and HTML)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __repr__(self) -> str:
        return f"example tile: {self.n} worker(s)"

    def _repr_html_(self) -> str:
        return f"<b>example tile</b>: {self.n} worker(s)"


def read_lines(path: str) -> list[str]:
    """The example loader: a file's non-empty lines."""
    return [line for line in Path(path).read_text().splitlines() if line.strip()]


def synthetic_transfers(rows: str):
    """The example table loader: ``rows`` synthetic Runes transfers (a dask DataFrame)."""
    from mesh_magics import runes

    return runes.synthetic(n_rows=int(rows), n_runes=5, n_addresses=200, seed=1)[0]


def register(api) -> None:
    api.templates("templates")
    api.preload("mesh_example_plugin.bad_setup")  # fails on the workers: logged, the next still runs
    api.preload("mesh_example_plugin.worker_setup")
    api.tile("example", lambda mesh: _Tile(len(mesh.worker_addresses())))
    api.loader("lines", read_lines)
    api.loader("example-synthetic", synthetic_transfers)

"""Peer implementations of the whale suite, written from the contract alone.

Each module (``pandas_peer``, ``polars_peer``, ``duckdb_peer``) exposes
``QUERIES``: query name -> ``fn(src, params) -> pandas.DataFrame`` and
``source(data_dir, memory=False)``. With ``src`` the dataset directory every
function reads what it needs from ``data_dir/transfers`` and ``data_dir/runes``
(Parquet) itself, so the time of a query includes its scan; with
``source(data_dir, memory=True)`` the tables are loaded once (DuckDB tables,
polars / pandas frames in memory) and the queries run on them.
Integer results are exact (Python ints where a value may exceed int64).
"""

from __future__ import annotations

__all__ = ["ENGINES", "PARAMS", "load", "source"]

#: the suite's parameters (the contract's defaults)
PARAMS = {"min_share": 0.001, "n": 10, "top": 10, "freq": "1h", "flows_top": 100}

ENGINES = ("pandas", "polars", "duckdb")


def _module(engine: str):
    import importlib

    if engine not in ENGINES:
        raise ValueError(f"unknown peer engine {engine!r}; choose from {ENGINES}")
    return importlib.import_module(f"{__name__}.{engine}_peer")


def load(engine: str) -> dict:
    """The ``QUERIES`` table of one peer engine."""
    return _module(engine).QUERIES


def source(engine: str):
    """The ``source(data_dir, memory=False)`` function of one peer engine."""
    return _module(engine).source

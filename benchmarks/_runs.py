"""The mesh side of the whale-suite benchmark: the six queries on fresh workers, warm or cold.

Used by ``whale_suite.py`` (not by the library).
"""

from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Any

from _answers import to_host
from peers import PARAMS

__all__ = ["byte_compile", "maxrss_mib", "mesh_queries", "run_mesh", "run_mesh_cold", "worker_peaks"]


def byte_compile() -> None:
    """Byte-compile mesh_magics where it is imported from, as ``pip install`` leaves a wheel.

    An editable checkout run with ``PYTHONDONTWRITEBYTECODE`` (this project's machines set it)
    has no ``.pyc``: every process, each worker included, compiled the package's modules from
    source on first import, ~0.1 s on a whale query's first call. The peers are installed and
    compiled; so is the mesh now."""
    import compileall
    import importlib.util

    spec = importlib.util.find_spec("mesh_magics")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            compileall.compile_dir(folder, quiet=1)


def maxrss_mib() -> float:
    """Peak resident set size of this process, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_peaks(client: Any) -> dict[str, float]:
    return {addr.split("//")[-1]: round(v, 1) for addr, v in sorted(client.run(maxrss_mib).items())}


# --------------------------------------------------------------------------- the mesh


def mesh_queries() -> dict[str, Any]:
    from mesh_magics.runes import (
        concentration,
        daily_activity,
        top_holders,
        whale_flows,
        whale_netflow,
        whale_transfers,
    )

    p = PARAMS
    return {
        "Q1": lambda t, r: whale_transfers(t, r, min_share=p["min_share"]),
        "Q2": lambda t, r: top_holders(t, n=p["n"]),
        "Q3": lambda t, r: concentration(t, top=p["top"]),
        "Q4": lambda t, r: whale_netflow(t, freq=p["freq"], top=p["top"]),
        "Q5": lambda t, r: whale_flows(t, r, min_share=p["min_share"], top=p["flows_top"]),
        "Q6": lambda t, r: daily_activity(t),
    }


def _warm() -> None:
    import mesh_magics.runes.whale  # noqa: F401


def _fresh(client: Any) -> None:
    from mesh_magics.runes import whale

    whale.clear_cache()
    client.restart()  # fresh worker processes: their peak RSS is the queries' alone
    client.run(_warm)  # imports, as the peers import their engine before the clock starts


def _load(data: Path, persist: bool) -> tuple[Any, Any]:
    """The two tables as dask frames, one partition per file; persisted on the workers if asked."""
    import dask.dataframe as dd
    from distributed import wait

    # one partition per file (filesystem="arrow" reads faster per file but merged the 20
    # files into 7 partitions, unbalanced on 2 workers: slower overall, see BENCHMARKS.md)
    transfers = dd.read_parquet(data / "transfers")
    runes = dd.read_parquet(data / "runes")
    if persist:
        transfers, runes = transfers.persist(), runes.persist()
        wait([transfers, runes])
    return transfers, runes


def run_mesh(data: Path, backend: str, client: Any, mode: str, only: list[str]) -> dict:
    """The six queries in a row (``mode`` memory: on the persisted tables, load timed apart)."""
    import dask

    from mesh_magics.runes import whale

    _fresh(client)
    times, answers = {}, {}
    with dask.config.set({"dataframe.backend": backend}):
        t0 = time.perf_counter()
        transfers, runes = _load(data, persist=mode == "memory")
        load = time.perf_counter() - t0
        for name, q in mesh_queries().items():
            if name not in only:
                continue
            t0 = time.perf_counter()
            out = q(transfers, runes)
            times[name] = time.perf_counter() - t0
            answers[name] = to_host(out)
    return {
        "times": times,
        "load": round(load, 3),
        "answers": answers,
        "client_peak_rss_mib": round(maxrss_mib(), 1),
        "worker_peak_rss_mib": worker_peaks(client),
        "cache": whale.cache_info(),
    }


def run_mesh_cold(data: Path, backend: str, client: Any, only: list[str]) -> dict:
    """Each query alone on fresh workers and an empty cache: read Parquet, persist, the query."""
    import dask

    times, loads, answers, peaks = {}, {}, {}, {}
    for name, q in mesh_queries().items():
        if name not in only:
            continue
        _fresh(client)
        with dask.config.set({"dataframe.backend": backend}):
            t0 = time.perf_counter()
            transfers, runes = _load(data, persist=True)
            loads[name] = round(time.perf_counter() - t0, 3)
            out = q(transfers, runes)
            times[name] = time.perf_counter() - t0
        answers[name] = to_host(out)
        peaks[name] = worker_peaks(client)
        del transfers, runes, out
    return {
        "times": times,
        "load": loads,
        "answers": answers,
        "client_peak_rss_mib": round(maxrss_mib(), 1),
        "worker_peak_rss_mib": {q: round(sum(p.values()), 1) for q, p in peaks.items()},
    }

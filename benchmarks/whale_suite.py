"""The whale suite (Q1–Q6) on the Dask mesh beside pandas, polars and DuckDB, on the same Parquet files.

One command: the project's generator writes the dataset once (on the mesh's
workers) as Parquet; then each engine answers the six queries from those files,
every query reading what it needs itself. The mesh runs in this process's
embedded mesh (``mesh_magics.up``); each peer runs in a fresh subprocess so its
peak RSS is its own. All answers are checked equal to the mesh's (exact
integers, floats to rel 1e-9, same order) before any time is printed; a
mismatch exits with status 1 and prints no table. Results go to
``benchmarks/results/whale_suite-<rows>-<backend>.json`` (or ``--out``).

Usage::

    .venv/bin/python benchmarks/whale_suite.py --rows 10_000_000
    .venv/bin/python benchmarks/whale_suite.py --rows 1_000_000 --engines mesh,duckdb
    .venv/bin/python benchmarks/whale_suite.py --rows 100_000_000 --backend cudf --engines mesh,pandas,duckdb
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]

from _answers import compare, to_host  # noqa: E402
from peers import PARAMS  # noqa: E402

QUERY_NAMES = ["Q1", "Q2", "Q3", "Q4", "Q5", "Q6"]


def _maxrss_mib() -> float:
    """Peak resident set size of this process, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _worker_peaks(client: Any) -> dict[str, float]:
    return {addr.split("//")[-1]: round(v, 1) for addr, v in sorted(client.run(_maxrss_mib).items())}


# --------------------------------------------------------------------------- data


def make_data(args: argparse.Namespace, client: Any) -> tuple[Path, dict]:
    """Write the dataset once as Parquet with ``mesh_magics.runes.synthetic`` (on the workers)."""
    from mesh_magics.runes import synthetic

    spec = dict(
        n_rows=args.rows,
        n_runes=args.runes,
        n_addresses=args.addresses,
        seed=args.seed,
        npartitions=max(2, -(-args.rows // args.partition_rows)),
        n_blocks=args.blocks,
    )
    data = Path(args.data) if args.data else HERE / "results" / f"data-{args.rows}-s{args.seed}"
    stamp = data / "spec.json"
    if args.reuse and stamp.exists() and json.loads(stamp.read_text()).get("spec") == spec:
        return data, json.loads(stamp.read_text())
    shutil.rmtree(data, ignore_errors=True)
    t0 = time.perf_counter()
    synthetic(**spec, path=data, backend="pandas")
    seconds = time.perf_counter() - t0
    size = sum(f.stat().st_size for f in data.rglob("*.parquet"))
    info = {
        "spec": spec,
        "seconds": round(seconds, 2),
        "rows_per_s": round(args.rows / seconds),
        "parquet_mib": round(size / 2**20, 1),
        "worker_peak_rss_mib": _worker_peaks(client),
    }
    stamp.write_text(json.dumps(info))
    return data, info


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


def run_mesh(data: Path, backend: str, client: Any) -> dict:
    import dask
    import dask.dataframe as dd

    from mesh_magics.runes import whale

    whale.clear_cache()
    client.restart()  # fresh worker processes: their peak RSS is the queries' alone
    client.run(_warm)  # imports, as the peers import their engine before the clock starts
    times, answers = {}, {}
    with dask.config.set({"dataframe.backend": backend}):
        # one partition per file (filesystem="arrow" reads faster per file but merged the 20
        # files into 7 partitions, unbalanced on 2 workers: slower overall, see BENCHMARKS.md)
        transfers = dd.read_parquet(data / "transfers")
        runes = dd.read_parquet(data / "runes")
        for name, q in mesh_queries().items():
            t0 = time.perf_counter()
            out = q(transfers, runes)
            times[name] = time.perf_counter() - t0
            answers[name] = to_host(out)
    return {
        "times": times,
        "answers": answers,
        "client_peak_rss_mib": round(_maxrss_mib(), 1),
        "worker_peak_rss_mib": _worker_peaks(client),
        "cache": whale.cache_info(),
    }


# --------------------------------------------------------------------------- peers (subprocesses)


def peer_main(engine: str, data: Path, result: Path) -> None:
    """Subprocess side: answer Q1–Q6 with one peer engine, pickle times and answers."""
    from peers import load

    queries = load(engine)
    times, answers = {}, {}
    for name in QUERY_NAMES:
        t0 = time.perf_counter()
        out = queries[name](data, PARAMS)
        times[name] = time.perf_counter() - t0
        answers[name] = out
    with open(result, "wb") as f:
        pickle.dump({"times": times, "answers": answers, "peak_rss_mib": round(_maxrss_mib(), 1)}, f)


def run_peer(engine: str, data: Path) -> dict:
    with tempfile.TemporaryDirectory() as d:
        result = Path(d) / "r.pkl"
        cmd = [sys.executable, __file__, "--peer", engine, "--data", str(data), "--result", str(result)]
        subprocess.run(cmd, check=True)
        with open(result, "rb") as f:
            return pickle.load(f)


# --------------------------------------------------------------------------- report


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for mod in ("dask", "distributed", "pandas", "pyarrow", "polars", "duckdb", "numpy", "cudf"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001  (not installed here)
            pass
    return out


def table(results: dict, rows: int) -> str:
    engines = list(results)
    lines = [
        "engine    "
        + "".join(f"{q:>8}" for q in QUERY_NAMES)
        + f"{'total':>9}{'Mrows/s':>9}"
        + "".join(f"{'mesh/' + e:>14}" for e in engines if e != "mesh")
    ]
    for e in engines:
        t = results[e]["times"]
        total = sum(t.values())
        line = f"{e:<10}" + "".join(f"{t[q]:8.2f}" for q in QUERY_NAMES) + f"{total:9.2f}"
        line += f"{rows * len(QUERY_NAMES) / total / 1e6:9.2f}"
        lines.append(line)
    if "mesh" in results:
        m = results["mesh"]["times"]
        for e in engines:
            if e == "mesh":
                continue
            p = results[e]["times"]
            lines.append(
                f"mesh/{e:<5}"
                + "".join(f"{m[q] / p[q]:8.2f}" for q in QUERY_NAMES)
                + f"{sum(m.values()) / sum(p.values()):9.2f}"
            )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=lambda s: int(s.replace("_", "")), default=1_000_000)
    ap.add_argument("--engines", default="mesh,pandas,polars,duckdb")
    ap.add_argument("--backend", choices=("pandas", "cudf"), default="pandas")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="threads per mesh worker")
    ap.add_argument(
        "--out", help="JSON result path (default benchmarks/results/whale_suite-ROWS-BACKEND.json)"
    )
    ap.add_argument("--data", help="dataset directory (default benchmarks/results/data-ROWS-sSEED)")
    ap.add_argument("--reuse", action="store_true", help="reuse the dataset if --data holds the same spec")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runes", type=int, default=2_000)
    ap.add_argument("--addresses", type=int, default=1_000_000)
    ap.add_argument("--blocks", type=int, default=52_560, help="blocks spanned (default: one year)")
    ap.add_argument("--partition-rows", type=int, default=500_000)
    ap.add_argument("--peer", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peer:
        peer_main(args.peer, Path(args.data), Path(args.result))
        return 0

    import mesh_magics

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    kind = "gpu" if args.backend == "cudf" else "cpu"
    mesh = mesh_magics.up(workers=args.workers, threads=args.threads, kind=kind)
    try:
        data, gen = make_data(args, mesh.client)
        print(
            f"dataset: {args.rows:,} rows in {data} ({gen['parquet_mib']} MiB Parquet), written in "
            f"{gen['seconds']} s ({gen['rows_per_s']:,} rows/s), worker peak RSS {gen['worker_peak_rss_mib']} MiB",
            flush=True,
        )
        results: dict[str, dict] = {}
        for e in engines:
            print(f"running {e} ...", flush=True)
            results[e] = run_mesh(data, args.backend, mesh.client) if e == "mesh" else run_peer(e, data)
    finally:
        mesh.down()
    ref = "mesh" if "mesh" in results else engines[0]
    bad = []
    for e in engines:
        for q in QUERY_NAMES:
            diff = compare(results[e]["answers"][q], results[ref]["answers"][q]) if e != ref else None
            if diff:
                bad.append(f"{e} {q}: {diff}")
    if bad:
        print("ANSWERS DIFFER — no times reported:\n  " + "\n  ".join(bad))
        return 1
    sizes = {q: len(results[ref]["answers"][q]) for q in QUERY_NAMES}
    print(f"answers equal across {', '.join(engines)} (rows per answer: {sizes})\n")
    print(table(results, args.rows))
    print("\npeak RSS (MiB):")
    for e in engines:
        r = results[e]
        if e == "mesh":
            print(f"  mesh: client {r['client_peak_rss_mib']}, workers {r['worker_peak_rss_mib']}")
        else:
            print(f"  {e}: {r['peak_rss_mib']}")
    out = Path(args.out) if args.out else HERE / "results" / f"whale_suite-{args.rows}-{args.backend}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "versions": versions(),
        "args": vars(args),
        "params": PARAMS,
        "dataset": gen,
        "answer_rows": sizes,
        "engines": {e: {k: v for k, v in r.items() if k != "answers"} for e, r in results.items()},
    }
    out.write_text(json.dumps(doc, indent=2, default=str))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

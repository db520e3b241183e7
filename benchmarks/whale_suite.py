"""The whale suite (Q1–Q6) on the Dask mesh beside pandas, polars and DuckDB, on the same Parquet files.

One command: the project's generator writes the dataset once (on the mesh's
workers) as Parquet; then each engine answers the six queries from those files,
every query reading what it needs itself. The mesh runs in this process's
embedded mesh (``mesh_magics.up``); each peer runs in a fresh subprocess so its
peak RSS is its own. All answers are checked equal to the mesh's (exact
integers, floats to rel 1e-9, same order) before any time is printed; a
mismatch exits with status 1 and prints no table. Results go to
``benchmarks/results/whale_suite-<rows>-<backend>.json`` (or ``--out``).

Other dataset shapes (``--matrix``, ``--shapes``; see ``_shapes.py``) run with the
tables loaded once (``--mode memory``: persisted on the mesh, DuckDB tables,
polars frames), and ``--cold`` adds each query alone on fresh workers / a fresh
process (load + that query).

Usage::

    .venv/bin/python benchmarks/whale_suite.py --rows 10_000_000 --matrix --cold --engines mesh,polars,duckdb
    .venv/bin/python benchmarks/whale_suite.py --rows 10_000_000 --shapes r200-a1M-zipf-f16 --cold
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

from _answers import compare  # noqa: E402
from _runs import byte_compile, maxrss_mib, run_mesh, run_mesh_cold, worker_peaks  # noqa: E402
from _shapes import SAMPLE, Shape, parse, summary  # noqa: E402
from peers import PARAMS  # noqa: E402

QUERY_NAMES = ["Q1", "Q2", "Q3", "Q4", "Q5", "Q6"]


# --------------------------------------------------------------------------- data


def make_data(args: argparse.Namespace, client: Any, shape: Shape | None) -> tuple[Path, dict]:
    """Write the dataset once as Parquet with ``mesh_magics.runes.synthetic`` (on the workers)."""
    from mesh_magics.runes import synthetic

    spec: dict[str, Any] = dict(
        n_rows=args.rows,
        n_runes=shape.runes if shape else args.runes,
        n_addresses=shape.addresses if shape else args.addresses,
        seed=args.seed,
        npartitions=max(2, -(-args.rows // args.partition_rows)),
        n_blocks=args.blocks,
    )
    if shape is not None:
        spec.update(rune_share=shape.share, zipf_s=shape.zipf_s, files=shape.files)
        default = HERE / "results" / f"data-{args.rows}-{shape.name}-s{args.seed}"
    else:
        default = HERE / "results" / f"data-{args.rows}-s{args.seed}"
    data = Path(args.data) if args.data else default
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
        "files": len(list((data / "transfers").glob("*.parquet"))),
        "worker_peak_rss_mib": worker_peaks(client),
    }
    stamp.write_text(json.dumps(info))
    return data, info


# --------------------------------------------------------------------------- peers (subprocesses)


def peer_main(engine: str, data: Path, result: Path, mode: str, only: list[str]) -> None:
    """Subprocess side: answer the queries with one peer engine, pickle times and answers."""
    from peers import load, source

    queries = load(engine)
    t0 = time.perf_counter()
    src = source(engine)(data, memory=mode == "memory")
    load_s = time.perf_counter() - t0
    times, answers = {}, {}
    for name in QUERY_NAMES:
        if name not in only:
            continue
        t0 = time.perf_counter()
        out = queries[name](src, PARAMS)
        times[name] = time.perf_counter() - t0
        answers[name] = out
    with open(result, "wb") as f:
        doc = {
            "times": times,
            "load": round(load_s, 3),
            "answers": answers,
            "peak_rss_mib": round(maxrss_mib(), 1),
        }
        pickle.dump(doc, f)


def run_peer(engine: str, data: Path, mode: str, only: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as d:
        result = Path(d) / "r.pkl"
        cmd = [sys.executable, __file__, "--peer", engine, "--data", str(data), "--result", str(result)]
        cmd += ["--mode", mode, "--queries", ",".join(only)]
        subprocess.run(cmd, check=True)
        with open(result, "rb") as f:
            return pickle.load(f)


def run_peer_cold(engine: str, data: Path, only: list[str]) -> dict:
    """Each query in a fresh subprocess: the tables loaded in memory, then that query."""
    times, loads, answers, peaks = {}, {}, {}, {}
    for q in only:
        r = run_peer(engine, data, "memory", [q])
        times[q], loads[q] = r["load"] + r["times"][q], r["load"]
        answers[q], peaks[q] = r["answers"][q], r["peak_rss_mib"]
    return {"times": times, "load": loads, "answers": answers, "peak_rss_mib": peaks}


# --------------------------------------------------------------------------- report


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for mod in ("dask", "distributed", "pandas", "pyarrow", "polars", "duckdb", "numpy", "cudf"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001  (not installed here)
            pass
    return out


def table(results: dict, rows: int, queries: list[str]) -> str:
    engines = list(results)
    lines = [
        "engine    "
        + "".join(f"{q:>8}" for q in queries)
        + f"{'total':>9}{'Mrows/s':>9}{'load':>8}"
        + "".join(f"{'mesh/' + e:>14}" for e in engines if e != "mesh")
    ]
    for e in engines:
        t = results[e]["times"]
        total = sum(t.values())
        load = results[e].get("load")
        line = f"{e:<10}" + "".join(f"{t[q]:8.2f}" for q in queries) + f"{total:9.2f}"
        line += f"{rows * len(queries) / total / 1e6:9.2f}"
        line += f"{load:8.2f}" if isinstance(load, (int, float)) else f"{'(in)':>8}"
        lines.append(line)
    if "mesh" in results:
        m = results["mesh"]["times"]
        for e in engines:
            if e == "mesh":
                continue
            p = results[e]["times"]
            lines.append(
                f"mesh/{e:<5}"
                + "".join(f"{m[q] / p[q]:8.2f}" for q in queries)
                + f"{sum(m.values()) / sum(p.values()):9.2f}"
            )
    return "\n".join(lines)


def _check(runs: dict[str, dict], ref: dict, queries: list[str]) -> list[str]:
    bad = []
    for e, r in runs.items():
        for q in queries:
            diff = compare(r["answers"][q], ref["answers"][q]) if r is not ref else None
            if diff:
                bad.append(f"{e} {q}: {diff}")
    return bad


def _rss_lines(runs: dict[str, dict]) -> list[str]:
    out = []
    for e, r in runs.items():
        if e == "mesh":
            out.append(f"  mesh: client {r['client_peak_rss_mib']}, workers {r['worker_peak_rss_mib']}")
        else:
            out.append(f"  {e}: {r['peak_rss_mib']}")
    return out


def run_shape(args: argparse.Namespace, mesh: Any, shape: Shape | None, engines: list[str]) -> dict | None:
    """One dataset: the warm suite (and the cold one); ``None`` when answers differ."""
    only = [q.strip() for q in args.queries.split(",")]
    data, gen = make_data(args, mesh.client, shape)
    label = shape.name if shape else "default"
    print(
        f"\n=== {label}: {args.rows:,} rows in {data} ({gen['parquet_mib']} MiB Parquet, "
        f"{gen.get('files', '?')} files), written in {gen['seconds']} s; load average {_load_average()}",
        flush=True,
    )
    cell: dict[str, Any] = {"shape": label, "dataset": gen, "load_average": _load_average()}
    warm: dict[str, dict] = {}
    for e in engines:
        print(f"running {e} ({args.mode}) ...", flush=True)
        if e == "mesh":
            warm[e] = run_mesh(data, args.backend, mesh.client, args.mode, only)
        else:
            warm[e] = run_peer(e, data, args.mode, only)
    ref = warm["mesh"] if "mesh" in warm else warm[engines[0]]
    bad = _check(warm, ref, only)
    cold: dict[str, dict] = {}
    if args.cold:
        for e in engines:
            print(f"running {e} cold ...", flush=True)
            if e == "mesh":
                cold[e] = run_mesh_cold(data, args.backend, mesh.client, only)
            else:
                cold[e] = run_peer_cold(e, data, only)
        bad += [f"cold {b}" for b in _check(cold, ref, only)]
    if bad:
        print("ANSWERS DIFFER — no times reported:\n  " + "\n  ".join(bad))
        return None
    sizes = {q: len(ref["answers"][q]) for q in only}
    print(f"answers equal across {', '.join(engines)}{' (warm and cold)' if cold else ''} (rows: {sizes})\n")
    print(
        f"warm ({args.mode}; load = read{' + persist' if args.mode == 'memory' else ''}, not in the totals):"
    )
    print(table(warm, args.rows, only))
    print("peak RSS (MiB):\n" + "\n".join(_rss_lines(warm)))
    if cold:
        print("\ncold (each query alone, fresh workers / process: load + that query):")
        print(table(cold, args.rows, only))
        print("peak RSS (MiB) per query:\n" + "\n".join(_rss_lines(cold)))
    if args.drop_data:
        shutil.rmtree(data, ignore_errors=True)
    strip = lambda runs: {e: {k: v for k, v in r.items() if k != "answers"} for e, r in runs.items()}  # noqa: E731
    cell.update(answer_rows=sizes, warm=strip(warm), cold=strip(cold))
    return cell


def _load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


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
    ap.add_argument("--data", help="dataset directory (default benchmarks/results/data-ROWS-[SHAPE-]sSEED)")
    ap.add_argument("--reuse", action="store_true", help="reuse the dataset if --data holds the same spec")
    ap.add_argument("--drop-data", action="store_true", help="delete each dataset after its shape's runs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runes", type=int, default=2_000)
    ap.add_argument("--addresses", type=int, default=1_000_000)
    ap.add_argument("--blocks", type=int, default=52_560, help="blocks spanned (default: one year)")
    ap.add_argument("--partition-rows", type=int, default=500_000)
    ap.add_argument(
        "--mode",
        choices=("files", "memory"),
        help="files: every query reads the Parquet files (the default without --matrix); memory: the "
        "tables loaded once (mesh: persisted; DuckDB tables; polars/pandas frames), the default with --matrix",
    )
    ap.add_argument("--queries", default=",".join(QUERY_NAMES), help="a subset, e.g. Q1,Q6")
    ap.add_argument("--cold", action="store_true", help="also each query alone: load + that query, fresh")
    ap.add_argument("--matrix", action="store_true", help=f"run the sample of shapes: {', '.join(SAMPLE)}")
    ap.add_argument("--shapes", help="comma-separated shape names (r200-a1M-zipf-f16, ...); implies --matrix")
    ap.add_argument("--peer", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peer:
        peer_main(args.peer, Path(args.data), Path(args.result), args.mode, args.queries.split(","))
        return 0
    byte_compile()
    shapes: list[Shape | None] = [None]
    if args.matrix or args.shapes:
        shapes = [parse(n) for n in (args.shapes.split(",") if args.shapes else SAMPLE)]
        if args.data and len(shapes) > 1:
            ap.error("--data names one dataset; a matrix writes one per shape")
    args.mode = args.mode or ("memory" if shapes != [None] else "files")

    import mesh_magics

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    kind = "gpu" if args.backend == "cudf" else "cpu"
    mesh = mesh_magics.up(workers=args.workers, threads=args.threads, kind=kind)
    cells = []
    try:
        for shape in shapes:
            cell = run_shape(args, mesh, shape, engines)
            if cell is None:
                return 1
            cells.append(cell)
    finally:
        mesh.down()
    if len(cells) > 1:
        print("\nmatrix (warm totals, s; rss = peak MiB, mesh = client + workers):")
        print(summary(cells))
    name = (
        f"whale_matrix-{args.rows}.json"
        if shapes != [None]
        else f"whale_suite-{args.rows}-{args.backend}.json"
    )
    out = Path(args.out) if args.out else HERE / "results" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "versions": versions(),
        "args": vars(args),
        "params": PARAMS,
        "cells": cells,
    }
    out.write_text(json.dumps(doc, indent=2, default=str))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

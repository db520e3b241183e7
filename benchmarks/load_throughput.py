"""Loading a transfers table from Parquet: the checked loader against what a user would use instead.

For each dataset shape (``benchmarks/_shapes.py`` names, generated once by
``mesh_magics.runes.synthetic``), on a fresh mesh of ``--workers`` worker processes:

* ``mesh_magics.runes.read_parquet(path).table`` persisted: every row typed and checked
  (ids, operations, parties, amounts), bad rows set aside;
* ``dask.dataframe.read_parquet(path)`` persisted: the same files, no checks (what the whale
  suite's benchmark reads with);

and, each in a fresh subprocess, DuckDB's ``CREATE TABLE ... AS SELECT * FROM read_parquet``
and polars' ``read_parquet`` into memory. Every engine must report the same row count and sum
of amounts (modulo 2**64: dask's int64 sum wraps; and the checked loader no bad rows) before a time is printed. Prints one table per
run, best and worst ratio across shapes, and writes JSON (``--out``).

    python benchmarks/load_throughput.py --rows 2_000_000 --shapes r200-a1M-zipf-f4,r20000-a1M-uniform-f16
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _runs import maxrss_mib, worker_peaks
from _shapes import parse

HERE = Path(__file__).resolve().parent
DEFAULT_SHAPES = "r200-a1M-zipf-f4,r20000-a1M-uniform-f16,r40-a100k-zipf-f8"


def make_data(rows: int, shape: str, seed: int, root: Path) -> Path:
    from mesh_magics.runes import synthetic

    s = parse(shape)
    data = root / f"load-{rows}-{shape}-s{seed}"
    stamp = data / "spec.json"
    spec = {"n_rows": rows, "n_runes": s.runes, "n_addresses": s.addresses, "rune_share": s.share,
            "files": s.files, "seed": seed, "npartitions": max(2, -(-rows // 500_000))}  # fmt: skip
    if stamp.exists() and json.loads(stamp.read_text()) == spec:
        return data
    shutil.rmtree(data, ignore_errors=True)
    synthetic(**spec, path=data, backend="pandas")
    stamp.write_text(json.dumps(spec))
    return data


def _mesh_load(client: Any, data: Path, loader: str) -> dict[str, Any]:
    import dask.dataframe as dd
    from distributed import wait

    client.restart()
    t0 = time.perf_counter()
    if loader == "checked":
        from mesh_magics.runes import read_parquet

        res = read_parquet(data / "transfers")
        table = res.table.persist()
        wait(table)
        seconds = time.perf_counter() - t0
        bad = int(res.bad_rows.shape[0].compute())
    else:
        table = dd.read_parquet(data / "transfers").persist()
        wait(table)
        seconds = time.perf_counter() - t0
        bad = 0
    rows, total = int(table.shape[0].compute()), int(table["amount"].sum().compute())
    return {"seconds": seconds, "rows": rows, "amount_sum": total, "bad_rows": bad,
            "partitions": table.npartitions, "worker_peak_rss_mib": worker_peaks(client)}  # fmt: skip


def peer_main(engine: str, data: Path) -> None:
    """Subprocess side: load the transfers with one peer engine, print a JSON line."""
    files = str(data / "transfers" / "*.parquet")
    if engine == "duckdb":
        import duckdb

        con = duckdb.connect()
        t0 = time.perf_counter()
        con.execute(f"CREATE TABLE t AS SELECT * FROM read_parquet('{files}')")
        seconds = time.perf_counter() - t0
        rows, total = con.execute("SELECT count(*), sum(amount)::HUGEINT FROM t").fetchone()
    else:
        import polars as pl

        t0 = time.perf_counter()
        df = pl.read_parquet(files)
        seconds = time.perf_counter() - t0
        rows, total = df.height, int(df["amount"].cast(pl.Int128).sum())
    print(json.dumps({"seconds": seconds, "rows": int(rows), "amount_sum": int(total),
                      "peak_rss_mib": round(maxrss_mib(), 1)}))  # fmt: skip


def run_peer(engine: str, data: Path) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--peer", engine, "--data", str(data)],
                         capture_output=True, text=True, check=True, cwd=HERE)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=lambda s: int(s.replace("_", "")), default=2_000_000)
    ap.add_argument("--shapes", default=DEFAULT_SHAPES)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2, help="runs per engine and shape (the best is kept)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--root", default=str(HERE / "results"))
    ap.add_argument("--out", default=str(HERE / "results" / "load_throughput.json"))
    ap.add_argument("--peer", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peer:
        return peer_main(args.peer, Path(args.data))

    import mesh_magics

    engines = ("checked", "dask", "duckdb", "polars")
    cells = []
    mesh = mesh_magics.up(workers=args.workers, threads=1, kind="cpu")
    client = mesh.client
    try:
        for shape in args.shapes.split(","):
            data = make_data(args.rows, shape, args.seed, Path(args.root))
            runs: dict[str, list[dict[str, Any]]] = {e: [] for e in engines}
            for _ in range(args.repeat):  # engines alternate within a round
                for e in engines:
                    runs[e].append(
                        _mesh_load(client, data, e) if e in ("checked", "dask") else run_peer(e, data)
                    )
            best = {e: min(r, key=lambda x: x["seconds"]) for e, r in runs.items()}
            first = best["dask"]
            for e, b in best.items():
                key = (b["rows"], b["amount_sum"] % 2**64, b.get("bad_rows", 0))  # dask sums wrap in int64
                if key != (first["rows"], first["amount_sum"] % 2**64, 0):
                    raise SystemExit(f"{shape}: {e} loaded {b} but dask loaded {first}: answers differ")
            cells.append({"shape": shape, "rows": args.rows, "best": best,
                          "all_seconds": {e: [round(x["seconds"], 3) for x in r] for e, r in runs.items()}})  # fmt: skip
    finally:
        mesh.down()
    print(
        f"\nload of the transfers table, {args.rows:,} rows, {args.workers} workers (best of {args.repeat})\n"
    )
    print(
        "| shape | checked s | dask s | DuckDB s | polars s | checked/dask | checked/DuckDB | checked Mrows/s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for c in cells:
        b = {e: c["best"][e]["seconds"] for e in engines}
        print(f"| {c['shape']} | {b['checked']:.2f} | {b['dask']:.2f} | {b['duckdb']:.2f} | {b['polars']:.2f} "
              f"| {b['checked'] / b['dask']:.2f} | {b['checked'] / b['duckdb']:.2f} | {args.rows / b['checked'] / 1e6:.2f} |")  # fmt: skip
    ratios = [c["best"]["checked"]["seconds"] / c["best"]["duckdb"]["seconds"] for c in cells]
    print(f"\nchecked/DuckDB: best {min(ratios):.2f}, worst {max(ratios):.2f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps({"rows": args.rows, "workers": args.workers, "cells": cells}, indent=1)
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Latency of the core loop, beside raw Dask in the same run.

Measured in a real IPython kernel (jupyter_client), on the embedded mesh:

* round trip of an empty ``%%mesh`` cell (execute request → execute reply)
  beside a cell doing ``client.submit(noop).result()`` on the same mesh, and
  beside an empty local cell (the kernel's own overhead);
* the same in-process through the core API (``mesh.run("pass")``) beside
  ``client.submit(noop).result()``, without the kernel;
* print-to-display latency: a remote cell prints ``time.time()``; the latency is
  the arrival time of the display message at the client minus that stamp
  (same machine, same clock).

Prints a table and writes JSON under benchmarks/results/. Usage:
    python benchmarks/magic_latency.py [--n 200] [--prints 50]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BLOCK = 25  # calls of one kind in a row (core measurements)
sys.path.insert(0, str(HERE.parent / "tests"))


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def row(name: str, xs: list[float]) -> dict:
    return {
        "case": name,
        "n": len(xs),
        "p50_ms": pct(xs, 0.5) * 1e3,
        "p95_ms": pct(xs, 0.95) * 1e3,
        "mean_ms": statistics.fmean(xs) * 1e3,
    }


def in_kernel(n: int, prints: int) -> list[dict]:
    from _kernel import Kernel

    d = tempfile.mkdtemp()
    k = Kernel({"DASK_MESH__HISTORY__PATH": f"{d}/h.sqlite3", "DASK_MESH__REGISTRY__PATH": f"{d}/r"})
    try:
        k.run("%load_ext mesh_magics\n%mesh up --workers 2 --threads 1 --cpu", timeout=120)
        k.run("import mesh_magics\n_c = mesh_magics.current().client\ndef _noop():\n    return None")
        k.run("%%mesh\npass")  # warm: first run picks the worker, imports on it
        k.run("_c.submit(_noop, pure=False).result()")

        def cells(code: str) -> list[float]:
            out = []
            for _ in range(n):
                c = k.run(code)
                assert c.status == "ok", c.all_text
                out.append(c.replied - c.sent)
            return out

        rows = [
            row("kernel: empty local cell", cells("pass")),
            row("kernel: client.submit(noop).result()", cells("_c.submit(_noop, pure=False).result()")),
            row("kernel: empty %%mesh cell", cells("%%mesh\npass")),
        ]
        c = k.run(
            f"%%mesh\nimport time\nfor i in range({prints}):\n"
            "    print(repr(time.time()), flush=True)\n    time.sleep(0.05)",
            timeout=120,
        )
        lat, seen = [], 0
        for m in c.msgs:
            if (
                m.type in ("display_data", "update_display_data")
                and "application/vnd.jupyter.stdout" in m.content["data"]
            ):  # not the dashboard
                lines = m.content["data"]["text/plain"].splitlines()
                for line in lines[seen:]:
                    lat.append(m.t - float(line))
                seen = len(lines)
        rows.append(row("kernel: print on worker -> display message", lat))
        return rows
    finally:
        k.close()


def in_process(n: int) -> list[dict]:
    import dask

    import mesh_magics

    d = tempfile.mkdtemp()
    with dask.config.set({"mesh.history.path": f"{d}/h.sqlite3", "mesh.registry.path": f"{d}/r"}):
        mesh = mesh_magics.up(workers=2, threads=1, kind="cpu")
        try:
            client = mesh.client

            def noop() -> None:
                return None

            mesh.run("pass")
            client.submit(noop, pure=False).result()
            # Alternating blocks, not alternating calls: the client batches what it sends to the
            # scheduler every 10 ms, so a call right after a different one lands in another
            # phase of that window than a call after its own kind (as cells follow each other).
            raw, core = [], []
            for _ in range(0, n, BLOCK):
                for _ in range(BLOCK):
                    t = time.perf_counter()
                    client.submit(noop, pure=False).result()
                    raw.append(time.perf_counter() - t)
                for _ in range(BLOCK):
                    t = time.perf_counter()
                    mesh.run("pass")
                    core.append(time.perf_counter() - t)
            return [row("core: client.submit(noop).result()", raw), row("core: mesh.run('pass')", core)]
        finally:
            mesh.down()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--prints", type=int, default=50)
    a = p.parse_args()
    rows = in_process(a.n) + in_kernel(a.n, a.prints)
    by = {r["case"]: r for r in rows}
    ratio_core = by["core: mesh.run('pass')"]["p50_ms"] / by["core: client.submit(noop).result()"]["p50_ms"]
    ratio_kernel = (
        by["kernel: empty %%mesh cell"]["p50_ms"] / by["kernel: client.submit(noop).result()"]["p50_ms"]
    )
    print(f"\n{'case':48} {'n':>5} {'p50 ms':>9} {'p95 ms':>9} {'mean ms':>9}")
    for r in rows:
        print(f"{r['case']:48} {r['n']:>5} {r['p50_ms']:>9.2f} {r['p95_ms']:>9.2f} {r['mean_ms']:>9.2f}")
    print(
        f"\np50 ratio mesh/raw: core {ratio_core:.2f}x, in the kernel {ratio_kernel:.2f}x "
        f"(goal <= 1.5x and <= 5 ms); print-to-display p50 "
        f"{by['kernel: print on worker -> display message']['p50_ms']:.1f} ms (goal <= 100 ms)"
    )
    import dask
    import distributed

    out = HERE / "results"
    out.mkdir(exist_ok=True)
    path = out / "magic_latency.json"
    path.write_text(
        json.dumps(
            {
                "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "machine": platform.platform(),
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "dask": dask.__version__,
                "distributed": distributed.__version__,
                "rows": rows,
                "ratio_p50_core": ratio_core,
                "ratio_p50_kernel": ratio_kernel,
            },
            indent=2,
        )
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

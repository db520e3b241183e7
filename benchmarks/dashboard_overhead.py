"""Cost of the live dashboard: the same ~10 s Dask workload with it on and off, in one run.

Two embedded meshes of 2 workers side by side would compete for this machine's
2 cores, so the script runs one mesh at a time, alternating off/on for
``--reps`` rounds: "off" is a mesh with ``mesh.dashboard.enabled: false`` (no
scheduler plugin, no model, no widget); "on" has the plugin, the model and a
real widget (its traits sync through a comm, as in a kernel) refreshed at 2 Hz.

Figures: wall time of the run, and CPU seconds of this process (the notebook
kernel's side: client, scheduler plugin included since LocalCluster's scheduler
lives in this process, model, widget) per wall second. Prints a table, writes
JSON under benchmarks/results/. Goal: <= 2 % wall-time overhead, <= 5 % of one
core in the kernel.
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

WORKLOAD = """
import dask.array as da
x = da.random.RandomState(0).random_sample(({n}, {n}), chunks=({c}, {c}))
float((x @ x.T).mean().compute())
"""


class WidgetSink:
    """Renders into a real widget (no front end attached), like a kernel would."""

    def __init__(self) -> None:
        self.widgets = []

    def chunk(self, *a):
        pass

    def render(self, *a):
        pass

    def message(self, *a, **k):
        pass

    def widget(self, w, key):
        self.widgets.append(w)

    def update_widget(self, w, key):
        pass


def one(enabled: bool, code: str) -> tuple[float, float, int]:
    import dask

    import mesh_magics

    d = tempfile.mkdtemp()
    with dask.config.set(
        {
            "mesh.dashboard.enabled": enabled,
            "mesh.history.path": f"{d}/h.sqlite3",
            "mesh.registry.path": f"{d}/r",
        }
    ):
        mesh = mesh_magics.up(workers=2, threads=1, kind="cpu")
        try:
            mesh.run("1")  # warm
            sink = WidgetSink()
            c0, t0 = time.process_time(), time.perf_counter()
            run = mesh.run(code, renderer=sink)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            assert run.status == "finished", run.error
            tasks = run.dashboard.progress.total if run.dashboard else 0
            return wall, cpu, tasks
        finally:
            mesh.down()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=5200, help="matrix side (5200: ~10 s on 2 quiet cores)")
    p.add_argument("--chunk", type=int, default=500)
    p.add_argument("--reps", type=int, default=3)
    a = p.parse_args()
    code = WORKLOAD.format(n=a.n, c=a.chunk)
    rows = {"off": [], "on": []}
    for _ in range(a.reps):
        for mode in ("off", "on"):
            rows[mode].append(one(mode == "on", code))
    res = {}
    for mode, xs in rows.items():
        walls, cpus = [x[0] for x in xs], [x[1] for x in xs]
        res[mode] = {
            "wall_s": statistics.median(walls),
            "kernel_cpu_s": statistics.median(cpus),
            "kernel_core_pct": 100 * statistics.median(c / w for w, c, _ in xs),
            "tasks": max(x[2] for x in xs),
            "walls": walls,
            "cpus": cpus,
        }
    over_wall = 100 * (res["on"]["wall_s"] / res["off"]["wall_s"] - 1)
    over_core = res["on"]["kernel_core_pct"] - res["off"]["kernel_core_pct"]
    print(
        f"\n{'dashboard':10} {'wall s (median)':>16} {'kernel CPU s':>13} {'kernel % of a core':>19} {'tasks':>6}"
    )
    for mode in ("off", "on"):
        r = res[mode]
        print(
            f"{mode:10} {r['wall_s']:>16.2f} {r['kernel_cpu_s']:>13.2f} {r['kernel_core_pct']:>19.1f} {r['tasks']:>6}"
        )
    print(
        f"\noverhead: wall {over_wall:+.1f} % (goal <= 2 %), kernel {over_core:+.1f} % of one core "
        f"(goal <= 5 %); {a.reps} alternating rounds, medians"
    )
    import dask
    import distributed

    out = HERE / "results"
    out.mkdir(exist_ok=True)
    path = out / "dashboard_overhead.json"
    path.write_text(
        json.dumps(
            {
                "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "machine": platform.platform(),
                "cpus": os.cpu_count(),
                "dask": dask.__version__,
                "distributed": distributed.__version__,
                "n": a.n,
                "chunk": a.chunk,
                "results": res,
                "overhead_wall_pct": over_wall,
                "overhead_kernel_core_pct": over_core,
            },
            indent=2,
        )
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

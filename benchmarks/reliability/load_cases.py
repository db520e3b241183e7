"""Load: a cell flooding its output, a thousand background runs, several kernels with many
cells each on one mesh, a large push, the dashboard with hundreds of workers."""

from __future__ import annotations

import contextlib
import json
import threading
import time

from . import Context, Outcome, case
from ._procs import kernel, local_mesh, scheduler, wait_for, worker

FLOOD = """
import sys, time
t0 = time.monotonic()
i = 0
while time.monotonic() - t0 < {seconds}:
    for _ in range(100):
        print('line', i, 'x' * 40)
        i += 1
    time.sleep(0.01)
print('printed', i, 'lines', flush=True)
"""


def _rss(pid: int) -> int:
    import psutil

    return int(psutil.Process(pid).memory_info().rss)


@case("load", quick=True)
def print_flood(ctx: Context) -> Outcome:
    """A cell printing ~10,000 lines/s: the kernel keeps answering, memory stays bounded, output is elided."""
    seconds = 5 if ctx.quick else 60
    with kernel(ctx.env()) as k:
        assert (
            k.run("%load_ext mesh_magics\n%mesh up --workers 1 --threads 1 --cpu", timeout=120).status == "ok"
        )
        pid = k.km.provisioner.process.pid
        base = _rss(pid)
        flood = k.submit(f"%%mesh --noblock --name flood\n{FLOOD.format(seconds=seconds)}")
        worst, peak, pings = 0.0, base, 0
        t_end = time.time() + seconds + 30
        while time.time() < t_end:
            t0 = time.monotonic()
            ping = k.run("1 + 1", timeout=30)
            worst = max(worst, time.monotonic() - t0)
            pings += 1
            assert ping.status == "ok"
            peak = max(peak, _rss(pid))
            done = k.run("import mesh_magics\nprint('DONE', mesh_magics.current().get_run('flood').done())")
            if "DONE True" in done.all_text:
                break
            time.sleep(0.5)
        k.pump(2.0)
        texts = [
            m.content["data"]["application/vnd.jupyter.stdout"]
            for m in flood.msgs
            if m.type in ("display_data", "update_display_data")
            and "application/vnd.jupyter.stdout" in m.content.get("data", {})
        ]
        final = texts[-1] if texts else ""
        printed = int(final.rsplit("printed", 1)[1].split()[0]) if "printed" in final else 0
    assert printed > 0, "the run did not end"
    assert worst < 1.0, f"the kernel stalled {worst:.2f} s"
    assert "characters elided" in final
    grown = (peak - base) / 2**20
    assert grown < 400, f"the kernel grew by {grown:.0f} MiB"
    rate = printed / seconds
    return Outcome(
        f"{printed:,} lines in {seconds} s ({rate:,.0f}/s): slowest of {pings} pings {worst * 1e3:.0f} ms, "
        f"kernel +{grown:.0f} MiB, display bounded with the elided notice",
        {"lines": printed, "lines_per_s": rate, "worst_ping_s": worst, "kernel_growth_mib": grown},
    )


@case("load", quick=True)
def thousand_background_runs(ctx: Context) -> Outcome:
    """1,000 runs submitted at once (``block=False``): every one ends, history has them all."""
    n = 200 if ctx.quick else 1000
    with local_mesh(ctx) as m:
        t0 = time.monotonic()
        runs = [m.run(f"{i} * 2", block=False) for i in range(n)]
        submitted = time.monotonic() - t0
        threads_peak = threading.active_count()
        assert all(r.wait(300) for r in runs), sum(not r.done() for r in runs)
        took = time.monotonic() - t0
        assert [r.result() for r in runs] == [2 * i for i in range(n)]
        rows = m.history.count(status="finished")
        assert rows >= n, rows
    return Outcome(
        f"{n} runs: submitted in {submitted:.1f} s, all finished in {took:.1f} s ({n / took:.0f} runs/s), "
        f"{rows} history rows, at most {threads_peak} threads in the process",
        {"runs": n, "seconds": took, "threads_peak": threads_peak},
    )


CONCURRENT = """%%mesh --noblock --name k{k}c{c}
import time
for i in range(3):
    print('k{k}c{c}', i, flush=True)
    time.sleep(0.2)
'k{k}c{c}'
"""


@case("load", quick=True)
def kernels_sharing_a_mesh(ctx: Context) -> Outcome:
    """4 kernels on one mesh, 16 concurrent cells each: all finish, each output in its own cell."""
    n_kernels, n_cells = (2, 4) if ctx.quick else (4, 16)
    with scheduler() as (address, _s), worker(address, name="w0"), worker(address, name="w1"):
        with contextlib.ExitStack() as stack:
            kernels = [stack.enter_context(kernel(ctx.env())) for _ in range(n_kernels)]
            for k in kernels:
                assert k.run(f"%load_ext mesh_magics\n%mesh connect {address}", timeout=60).status == "ok"
            t0 = time.monotonic()
            cells = {
                (i, c): kernels[i].submit(CONCURRENT.format(k=i, c=c))
                for i in range(n_kernels)
                for c in range(n_cells)
            }
            check = "import mesh_magics\nprint('ALL', all(r.done() for r in mesh_magics.current().runs()))"
            for k in kernels:
                assert wait_for(lambda k=k: "ALL True" in k.run(check, timeout=60).all_text, 300, every=0.5)
                k.pump(1.0)
            took = time.monotonic() - t0
            for (i, c), cell in cells.items():
                text = "\n".join(cell.texts("display_data", "update_display_data"))
                mine = f"k{i}c{c}"
                assert f"{mine} 2" in text, (mine, text[-300:])
                others = {f"k{j}c{d}" for j in range(n_kernels) for d in range(n_cells)} - {mine}
                assert not any(f"{o} " in text for o in others), (mine, text[-300:])
    total = n_kernels * n_cells
    return Outcome(
        f"{n_kernels} kernels x {n_cells} cells on 2 workers: all {total} finished in {took:.1f} s, "
        f"every output in its own cell",
        {"kernels": n_kernels, "cells": total, "seconds": took},
    )


@case("load", quick=True)
def large_push(ctx: Context) -> Outcome:
    """A 1 GiB variable pushed to a worker (--push): it arrives whole."""
    size = (64 if ctx.quick else 1024) * 2**20
    blob = bytes(size)
    with local_mesh(ctx, workers=1, memory_limit="6GiB") as m:
        t0 = time.monotonic()
        run = m.run("len(blob), blob[:4], blob[-4:]", user_ns={"blob": blob}, push=["blob"], timeout=600)
        took = time.monotonic() - t0
        assert run.result() == (size, b"\0" * 4, b"\0" * 4), run.error
        again = m.run("len(blob)", user_ns={"blob": blob})  # on the worker already: not pushed again
        assert again.result() == size
    return Outcome(
        f"{size / 2**20:.0f} MiB pushed in {took:.1f} s ({size / 2**20 / took:.0f} MiB/s); not sent again after",
        {"mib": size / 2**20, "seconds": took},
    )


@case("load", quick=True)
def dashboard_with_many_workers(ctx: Context) -> Outcome:
    """The dashboard of a run on 256 workers (threads-1 workers in one process): tiles, payload, time."""
    from distributed import Client, LocalCluster

    from mesh_magics.core.connection import Opened
    from mesh_magics.core.mesh import Mesh
    from mesh_magics.dashboard.controller import RunDashboard

    n = 32 if ctx.quick else 256
    widgets: list = []

    class Recorder:
        def chunk(self, *a):
            pass

        def render(self, *a):
            pass

        def message(self, *a, **k):
            pass

        def widget(self, w, key):
            widgets.append(w)

        def update_widget(self, w, key):
            pass

    with ctx.config(**{"mesh.progress.after": 0.2}):
        # one process: no per-worker memory limit (each would count the whole process and pause)
        cluster = LocalCluster(
            n_workers=n, threads_per_worker=1, processes=False, dashboard_address=":0", memory_limit=0
        )
        try:
            client = Client(cluster)
            m = Mesh(Opened(client, "connected", cluster=cluster), views=[RunDashboard])
            try:
                code = "from distributed import get_client\nimport time\nc = get_client()\nfs = c.map(time.sleep, [0.01] * 512, pure=False)\nc.gather(fs)\n'ok'"
                t0 = time.monotonic()
                run = m.run(code, renderer=Recorder(), timeout=300)
                took = time.monotonic() - t0
                assert run.result() == "ok" and widgets, run.error
                w = widgets[0]
                tiles = sum(len(g["tiles"]) for g in w.node_groups)
                payload = len(json.dumps(w.get_state(), default=str))
                t1 = time.perf_counter()
                w.set_state(run.telemetry.progress, run.telemetry.nodes, run.telemetry.logs, set())
                render_ms = (time.perf_counter() - t1) * 1e3
            finally:
                m.down()
        finally:
            cluster.close()
    assert tiles == n and w.compact == (n > 64), (tiles, w.compact)
    return Outcome(
        f"{n} workers: {tiles} tiles ({'compact' if w.compact else 'full'}), 512 tasks in {took:.1f} s, "
        f"widget state {payload / 1024:.0f} KiB, one refresh {render_ms:.1f} ms",
        {"workers": n, "tiles": tiles, "state_kib": payload / 1024, "refresh_ms": render_ms, "seconds": took},
    )

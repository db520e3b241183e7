"""Latency of the cockpit: ``%%mesh`` beside ipyparallel's ``%%px`` and raw Dask, in one run.

Measured in a real IPython kernel (jupyter_client), on the embedded mesh (2 workers, 1 thread
each) and, in the same kernel, an ipyparallel cluster of 2 engines
(``ipp.Cluster(n=2).start_and_connect_sync()``, stopped at the end):

* **peers** (the headline): in ``--rounds`` alternating rounds, ``--per-round`` round trips
  (execute request sent -> execute reply read, the reply read as soon as it arrives) of each
  of: an empty local cell, an empty ``%%px --block --targets 0`` cell, an empty ``%%mesh``
  cell, and the same three printing one line (the line is checked to reach the cell before
  its idle status). The round trips of one case run in a row (cells follow each other like
  that; the Dask client batches its sends every 10 ms, see BENCHMARKS.md). p50/p95 per round
  and over all rounds; the ratio ``%%mesh`` / ``%%px`` of the p50s per round;
* unless ``--peers-only``: an empty ``%%mesh`` cell beside a ``client.submit(noop).result()``
  cell; the same in-process through the core API (``mesh.run("pass")``) without a kernel;
  print-to-display latency (a remote cell prints ``time.time()``; the display message's
  arrival minus that stamp, same machine, same clock).

Prints a table and writes JSON under benchmarks/results/. Usage:
    python benchmarks/magic_latency.py [--rounds 3] [--per-round 20] [--peers-only] [--n 200] [--prints 50]
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
from typing import Any

HERE = Path(__file__).resolve().parent
BLOCK = 25  # calls of one kind in a row (core measurements)
# session actors (mesh.run.session-actors) are on by default; DASK_MESH__RUN__SESSION_ACTORS=false
# measures the task path
ACTORS = {k: v for k, v in os.environ.items() if k == "DASK_MESH__RUN__SESSION_ACTORS"}
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
    k = Kernel(
        {"DASK_MESH__HISTORY__PATH": f"{d}/h.sqlite3", "DASK_MESH__REGISTRY__PATH": f"{d}/r", **ACTORS}
    )
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


#: the peer cases: (case, code)
PEER_CASES = (
    ("empty local cell", "pass"),
    ("empty %%px --block --targets 0", "%%px --block --targets 0\npass"),
    ("empty %%mesh", "%%mesh\npass"),
    ("print local cell", "print('one line')"),
    ("print %%px --block --targets 0", "%%px --block --targets 0\nprint('one line')"),
    ("print %%mesh", "%%mesh\nprint('one line')"),
)


def round_trip(kc: Any, code: str, timeout: float = 60) -> tuple[float, str]:
    """One execute request: seconds until its reply is read, and the text its cell showed.

    The reply is read the moment it arrives (a blocking read of the shell channel); then
    iopub is read until the cell's idle status, so the next cell starts from a quiet kernel."""
    t0 = time.perf_counter()
    msg_id = kc.execute(code)
    while True:
        reply = kc.get_shell_msg(timeout=timeout)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    dt = time.perf_counter() - t0
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"{code!r} failed: {reply['content']}")
    texts = []
    while True:
        m = kc.get_iopub_msg(timeout=timeout)
        if m["parent_header"].get("msg_id") != msg_id:
            continue
        c = m["content"]
        if m["msg_type"] == "stream":
            texts.append(c["text"])
        elif m["msg_type"] in ("display_data", "update_display_data", "execute_result"):
            texts.append(c["data"].get("text/plain", ""))
        elif m["msg_type"] == "status" and c["execution_state"] == "idle":
            return dt, "".join(texts)


def peers(rounds: int, per_round: int) -> dict[str, Any]:
    """``%%mesh`` beside ``%%px`` and a local cell in one kernel (see the module doc)."""
    from _kernel import Kernel

    d = tempfile.mkdtemp()
    k = Kernel(
        {"DASK_MESH__HISTORY__PATH": f"{d}/h.sqlite3", "DASK_MESH__REGISTRY__PATH": f"{d}/r", **ACTORS}
    )
    kc = k.kc
    started_ipp = False
    try:
        round_trip(kc, "%load_ext mesh_magics\n%mesh up --workers 2 --threads 1 --cpu", timeout=120)
        round_trip(kc, "import ipyparallel as ipp\n_ipp = ipp.Cluster(n=2, log_level=40)", timeout=30)
        started_ipp = True
        round_trip(
            kc, "_rc = _ipp.start_and_connect_sync()\n_rc.wait_for_engines(2, timeout=60)", timeout=120
        )
        for _, code in PEER_CASES:  # warm: imports, the session's worker, the engines' first task
            for _ in range(3):
                round_trip(kc, code)
        per_case: dict[str, list[list[float]]] = {name: [] for name, _ in PEER_CASES}
        for r in range(rounds):
            order = PEER_CASES if r % 2 == 0 else PEER_CASES[::-1]
            for name, code in order:
                xs = []
                for _ in range(per_round):
                    dt, text = round_trip(kc, code)
                    if "print" in code and "one line" not in text:
                        raise RuntimeError(f"{name}: the printed line did not reach the cell: {text!r}")
                    xs.append(dt)
                per_case[name].append(xs)
        rows = []
        for name, _ in PEER_CASES:
            per = [row(name, xs) for xs in per_case[name]]
            every = row(name, [x for xs in per_case[name] for x in xs])
            every["rounds"] = [{"p50_ms": p["p50_ms"], "p95_ms": p["p95_ms"]} for p in per]
            rows.append(every)
        return {"rows": rows, "ratios": _ratios(rows)}
    finally:
        if started_ipp:
            try:
                round_trip(kc, "try:\n    _rc.close()\nfinally:\n    _ipp.stop_cluster_sync()", timeout=60)
            except Exception as e:  # the kernel may be gone: the cluster's processes go with it
                print(f"could not stop the ipyparallel cluster cleanly: {e}", file=sys.stderr)
        k.close()


def _ratios(rows: list[dict[str, Any]]) -> dict[str, list[float]]:
    """``%%mesh`` / ``%%px`` p50 per round, empty and printing."""
    by = {r["case"]: r for r in rows}
    out = {}
    for kind in ("empty", "print"):
        mesh, px = by[f"{kind} %%mesh"]["rounds"], by[f"{kind} %%px --block --targets 0"]["rounds"]
        out[kind] = [m["p50_ms"] / p["p50_ms"] for m, p in zip(mesh, px)]
    return out


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--per-round", type=int, default=20)
    p.add_argument("--peers-only", action="store_true", help="only the %%px / %%mesh / local rounds")
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--prints", type=int, default=50)
    p.add_argument("--out", default="magic_latency.json", help="file name under benchmarks/results/")
    a = p.parse_args()
    load = os.getloadavg()
    peer = peers(a.rounds, a.per_round)
    rows = [] if a.peers_only else in_process(a.n) + in_kernel(a.n, a.prints)
    print(f"\nload average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"\n{'peer case (' + str(a.rounds) + ' rounds of ' + str(a.per_round) + ')':36} "
          + " ".join(f"{'r' + str(i + 1) + ' p50/p95':>14}" for i in range(a.rounds))
          + f" {'all p50':>8} {'all p95':>8}")  # fmt: skip
    for r in peer["rows"]:
        per = " ".join(f"{x['p50_ms']:>6.2f}/{x['p95_ms']:<7.2f}" for x in r["rounds"])
        print(f"{r['case']:36} {per} {r['p50_ms']:>8.2f} {r['p95_ms']:>8.2f}")
    for kind, xs in peer["ratios"].items():
        print(f"%%mesh / %%px p50, {kind}: " + ", ".join(f"{x:.2f}x" for x in xs) + "  (goal <= 1.0x)")
    result: dict[str, Any] = {"peers": peer}
    if rows:
        by = {r["case"]: r for r in rows}
        ratio_core = (
            by["core: mesh.run('pass')"]["p50_ms"] / by["core: client.submit(noop).result()"]["p50_ms"]
        )
        ratio_kernel = (
            by["kernel: empty %%mesh cell"]["p50_ms"] / by["kernel: client.submit(noop).result()"]["p50_ms"]
        )
        print(f"\n{'case':48} {'n':>5} {'p50 ms':>9} {'p95 ms':>9} {'mean ms':>9}")
        for r in rows:
            print(f"{r['case']:48} {r['n']:>5} {r['p50_ms']:>9.2f} {r['p95_ms']:>9.2f} {r['mean_ms']:>9.2f}")
        print(
            f"\np50 ratio mesh/raw: core {ratio_core:.2f}x, in the kernel {ratio_kernel:.2f}x; "
            f"print-to-display p50 {by['kernel: print on worker -> display message']['p50_ms']:.1f} ms"
        )
        result.update(rows=rows, ratio_p50_core=ratio_core, ratio_p50_kernel=ratio_kernel)
    import dask
    import distributed
    import ipyparallel

    out = HERE / "results"
    out.mkdir(exist_ok=True)
    path = out / a.out
    meta = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_at_start": load,
        "python": platform.python_version(),
        "dask": dask.__version__,
        "distributed": distributed.__version__,
        "ipyparallel": ipyparallel.__version__,
        "rounds": a.rounds,
        "per_round": a.per_round,
    }
    path.write_text(json.dumps({**meta, **result}, indent=2))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

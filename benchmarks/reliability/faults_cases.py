"""Faults: workers killed and stopped, a scheduler and a kernel killed with runs in flight,
a degraded network, a history database read-only, full or corrupted, broken registry files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from . import Context, Outcome, Skip, case
from ._procs import degraded_link, kernel, local_mesh, scheduler, wait_for, worker, worker_pid

# the cell kills its own worker process; with a marker path it does so only the first time
KILL = """
import os, time
marker = {marker!r}
print('on', os.getpid(), flush=True)
time.sleep(0.3)
if not marker or not os.path.exists(marker):
    if marker:
        open(marker, 'w').close()
    os.kill(os.getpid(), 9)
'survived'
"""


@case("fault", quick=True)
def worker_sigkill_rounds(ctx: Context) -> Outcome:
    """A worker SIGKILLed mid-cell, round after round, alternating with and without retries."""
    from mesh_magics.errors import WorkerLostError

    rounds = 6 if ctx.quick else 20
    retried, lost, worst = 0, 0, 0.0
    with local_mesh(ctx) as m:
        for r in range(rounds):
            retries = r % 2
            marker = str(ctx.dir / f"m{r}") if retries else ""
            t0 = time.monotonic()
            run = m.run(KILL.format(marker=marker), retries=retries, timeout=60)
            worst = max(worst, time.monotonic() - t0)
            if retries:
                assert run.status == "finished", f"round {r}: the retry did not finish: {run.error}"
                retried += 1
            else:
                assert run.status == "lost" and isinstance(run.error, WorkerLostError), (
                    f"round {r}: {run.error}"
                )
                lost += 1
            assert len(m.history.query(None, status=["queued", "running"])) == 0
        assert wait_for(lambda: len(m.workers()) == 2, 60), f"{len(m.workers())} workers at the end"
        assert len(m.client.nthreads()) == 2
        assert m.run("40 + 2").result() == 42
    return Outcome(
        f"{rounds} rounds: {retried}/{retried} retries finished, {lost}/{lost} without retries ended as "
        f"WorkerLostError, slowest round {worst:.1f} s, 2 workers at the end",
        {"rounds": rounds, "retried_ok": retried, "lost": lost, "worst_s": worst},
    )


STEPS = """
import time
for i in range({n}):
    print('step', i, flush=True)
    time.sleep(0.25)
'done'
"""


@case("fault", quick=True)
def worker_sigstop_then_sigcont(ctx: Context) -> Outcome:
    """A worker SIGSTOPped mid-cell for a while, then SIGCONTed: the cell ends, its output whole."""
    pause = 3.0 if ctx.quick else 30.0
    with local_mesh(ctx) as m:
        pid = worker_pid(m, "0")
        run = m.run(STEPS.format(n=12), on=["0"], block=False)
        assert wait_for(lambda: "step 1" in run.stdout, 20), "the cell did not start"
        os.kill(pid, signal.SIGSTOP)
        time.sleep(pause)
        os.kill(pid, signal.SIGCONT)
        assert run.wait(60), "the run did not end after SIGCONT"
        assert run.status == "finished", run.error
        lines = run.stdout.splitlines()
        assert lines == [f"step {i}" for i in range(12)], lines  # every line once, in order
        took = run.duration or 0
        # a stopped worker past --timeout: the run ends as timeout, the worker is fine after
        run2 = m.run(STEPS.format(n=40), on=["0"], timeout=2.0, block=False)
        assert wait_for(lambda: "step 0" in run2.stdout, 20)
        os.kill(pid, signal.SIGSTOP)
        t0 = time.monotonic()
        ended = run2.wait(30)
        waited = time.monotonic() - t0
        os.kill(pid, signal.SIGCONT)
        assert ended and run2.status == "timeout", (run2.status, run2.error)
        assert m.run("1 + 1", on=["0"]).result() == {"0": 2}
    return Outcome(
        f"stopped {pause:.0f} s mid-cell: finished in {took:.1f} s with all 12 lines once; "
        f"stopped past --timeout 2: timeout after {waited:.1f} s, the worker fine after SIGCONT",
        {"pause_s": pause, "duration_s": took, "timeout_wait_s": waited},
    )


@case("fault", quick=True)
def scheduler_killed_with_runs_in_flight(ctx: Context) -> Outcome:
    """The scheduler killed with two runs in flight: each ends as lost, none stays running."""
    from mesh_magics.core.connection import remote_client
    from mesh_magics.core.mesh import Mesh

    with scheduler() as (address, sched), worker(address, name="w0"), worker(address, name="w1"):
        with ctx.config(**{"mesh.reconnect.enabled": False}):
            m = Mesh(remote_client(address, timeout=10))
            try:
                assert wait_for(lambda: len(m.workers()) == 2, 30)
                runs = [m.run(STEPS.format(n=400), on=[w], block=False) for w in ("w0", "w1")]
                assert wait_for(lambda: all("step 1" in r.stdout for r in runs), 30)
                sched.kill()
                t0 = time.monotonic()
                assert all(r.wait(30) for r in runs), [r.status for r in runs]
                took = time.monotonic() - t0
                statuses = [r.status for r in runs]
                assert statuses == ["lost", "lost"], statuses
                assert all("left the mesh" in str(r.error) for r in runs), [str(r.error) for r in runs]
                rows = [m.history.get(r.id) for r in runs]
                assert [row["status"] for row in rows] == ["lost", "lost"]
                assert m.history.query(None, status=["queued", "running"]) == []
            finally:
                m.down()
    return Outcome(
        f"2 runs in flight: both lost (WorkerLostError) {took:.1f} s after the kill; history says lost",
        {"seconds": took},
    )


@case("fault", quick=True)
def kernel_killed_with_runs_in_flight(ctx: Context) -> Outcome:
    """A kernel SIGKILLed with a run in flight: its history row reads lost, in the panel and after."""
    from mesh_magics.server.histories import RunQuery, RunStore
    from mesh_magics.store.history import History

    with kernel(ctx.env()) as k:
        assert (
            k.run("%load_ext mesh_magics\n%mesh up --workers 1 --threads 1 --cpu", timeout=120).status == "ok"
        )
        assert k.run("%%mesh --noblock --name doomed\nimport time\ntime.sleep(600)").status == "ok"
        path = ctx.dir / "history.sqlite3"
        with History(path) as h:
            assert wait_for(lambda: h.query(1)[0]["status"] == "running", 30)
        k.km.provisioner.process.kill()  # SIGKILL: nothing of the kernel runs or cleans up
        k.km.provisioner.process.wait()
    store = RunStore(default=lambda: path)
    try:
        shown = store.page(RunQuery(limit=5))["runs"][0]
    finally:
        store.close()
    assert shown["name"] == "doomed" and shown["status"] == "lost", shown
    with History(path) as h:
        closed = h.close_orphans()
        row = h.query(1)[0]
    assert closed == 1 and row["status"] == "lost" and "kernel exited" in row["error"]
    return Outcome("the killed kernel's run: lost in the panel at once, closed as lost by the next history")


@case("fault", quick=True)
def network_degraded(ctx: Context) -> Outcome:
    """Cells over a degraded link client <-> scheduler: 100 +- 30 ms per chunk, 2 % of chunks stalled 1 s."""
    from mesh_magics.core.connection import remote_client
    from mesh_magics.core.mesh import Mesh

    n = 6 if ctx.quick else 30
    with scheduler() as (address, _s), worker(address, name="w0"), worker(address, name="w1"):
        port = int(address.rsplit(":", 1)[1])
        with degraded_link(port, delay=0.1, jitter=0.03, stall_p=0.02, stall=1.0) as slow:
            with ctx.config():
                m = Mesh(remote_client(f"tcp://127.0.0.1:{slow}", timeout=30))
                try:
                    assert wait_for(lambda: len(m.workers()) == 2, 60)
                    times = []
                    for i in range(n):
                        t0 = time.monotonic()
                        run = m.run(f"print('x' * 100)\n{i}", timeout=120)
                        assert run.result() == i and run.stdout == "x" * 100 + "\n", (run.status, run.error)
                        times.append(time.monotonic() - t0)
                    assert m.state == "connected"
                finally:
                    m.down()
    times.sort()
    median, worst = times[len(times) // 2], times[-1]
    return Outcome(
        f"{n} cells through a link adding 100+-30 ms per chunk and 1 s stalls on 2 % of chunks "
        f"(netem is not in this kernel; a user-space forwarder does it): all finished with their "
        f"output, median {median:.2f} s, worst {worst:.2f} s",
        {"median_s": median, "worst_s": worst, "cells": n},
    )


def _mount_tmpfs(where: Path, size: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        raise Skip("needs root to mount a small tmpfs")
    p = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True, text=True
    )
    if p.returncode != 0:
        raise Skip(f"cannot mount a tmpfs here: {p.stderr.strip()}")


def _umount(where: Path) -> None:
    subprocess.run(["umount", "-l", str(where)], capture_output=True)


def _runs_execute(ctx: Context, history: Path) -> tuple[list[str], list[str]]:
    """Start a mesh whose history is ``history``, run three cells; (statuses, warnings)."""
    with local_mesh(ctx, {"mesh.history.path": str(history)}, workers=1) as m:
        statuses = [m.run(f"{i} * 2").status for i in range(3)]
        return statuses, list(m.warnings)


@case("fault", quick=True)
def history_read_only(ctx: Context) -> Outcome:
    """The history on a read-only file system: runs execute, the mesh says history is off and why."""
    where = ctx.dir / "ro"
    _mount_tmpfs(where, "1m")
    try:
        from mesh_magics.store.history import History

        History(where / "h.sqlite3").close()
        subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)
        statuses, warnings = _runs_execute(ctx, where / "h.sqlite3")
    finally:
        _umount(where)
    assert statuses == ["finished"] * 3, statuses
    assert any("run history disabled" in w and "read-only file system" in w.lower() for w in warnings), (
        warnings
    )
    return Outcome(f"3 runs finished; the mesh warned: {warnings[0][:110]}")


@case("fault", quick=True)
def history_full_disk(ctx: Context) -> Outcome:
    """The history on a full disk (a 256 KiB tmpfs): runs execute, the mesh says why history stopped."""
    where = ctx.dir / "full"
    _mount_tmpfs(where, "256k")
    try:
        filler = where / "filler"
        try:
            with open(filler, "wb") as f:
                while True:
                    f.write(b"\0" * 4096)
                    f.flush()
        except OSError:
            pass  # the disk is full
        statuses, warnings = _runs_execute(ctx, where / "h.sqlite3")
    finally:
        _umount(where)
    assert statuses == ["finished"] * 3, statuses
    assert any("run history disabled" in w for w in warnings), warnings
    return Outcome(f"3 runs finished on a full disk; the mesh warned: {warnings[0][:110]}")


@case("fault", quick=True)
def history_corrupted(ctx: Context) -> Outcome:
    """A history file that is not a database: kept aside byte for byte, a new one started, runs recorded."""
    path = ctx.dir / "history.sqlite3"
    garbage = b"this is not a database\x00" * 200
    path.write_bytes(garbage)
    with ctx.config():
        with local_mesh(ctx, workers=1) as m:
            run = m.run("6 * 7")
            assert run.result() == 42
            assert m.history is not None and m.history.get(run.id)["status"] == "finished"
            warnings = list(m.warnings)
    aside = [p for p in ctx.dir.iterdir() if p.name.startswith("history.sqlite3.unreadable-")]
    assert len(aside) == 1 and aside[0].read_bytes() == garbage, aside
    assert any(str(aside[0]) in w for w in warnings), warnings
    return Outcome(f"the bad file kept as {aside[0].name}, a new history started and recorded the run")


@case("fault", quick=True)
def registry_truncated_or_from_another_version(ctx: Context) -> Outcome:
    """Truncated registry files and one from another version: listed as such, never a crash."""
    import asyncio

    from mesh_magics.server.manager import MeshManager
    from mesh_magics.store import registry

    with ctx.config():
        d = registry.registry_dir()
        (d / "mesh-truncated.json").write_text('{"id": "truncated", "scheduler_add')
        (d / "mesh-empty.json").write_bytes(b"")
        other = {"id": "future", "scheduler_address": "tcp://127.0.0.1:1", "kind": "local-cpu", "pid": os.getpid(),
                 "version": "99.0.0", "created": "2030-01-01T00:00:00+00:00", "a_new_field": {"x": [1, 2]}}  # fmt: skip
        (d / "mesh-future.json").write_text(json.dumps(other))
        found = {e["id"]: e for e in registry.entries()}
        assert found["truncated"]["stale"] and "unreadable" in found["truncated"]["error"]
        assert found["empty"]["stale"] and not found["future"]["stale"]
        manager = MeshManager(probe_timeout=0.5)
        try:
            meshes = {m["id"]: m for m in asyncio.run(manager.meshes())}
        finally:
            manager.close()
        assert meshes["truncated"]["state"] == "gone" and meshes["future"]["state"] == "unreachable"
        with local_mesh(ctx, workers=1) as m:  # a mesh still registers beside them
            assert m.run("1").result() == 1
            assert any(e.get("scheduler_address") == m.address for e in registry.entries())
        removed = registry.prune()
    assert removed == 2, removed
    return Outcome(
        "a truncated and an empty file read as gone, another version's entry is listed; prune removed 2"
    )

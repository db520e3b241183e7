"""Cells sent straight to the session's actor on their worker (mesh_magics.core.direct), with
real processes: what a cell task does, the direct path must do too (output streamed while the
cell runs, history rows, the dashboard plugin's view, cancels from here and from another
client, timeouts, worker loss with and without retries), and what needs the scheduler still
takes the task path."""

from __future__ import annotations

import time

import numpy as np
import pytest
from _cells import KILL_ONCE
from _mesh import isolated_mesh, ready

from mesh_magics.errors import WorkerLostError
from mesh_magics.worker import cell


class Recorder:
    def __init__(self) -> None:
        self.chunks: list[tuple[float, str]] = []
        self.messages: list[str] = []

    def chunk(self, key, label, text):
        self.chunks.append((time.monotonic(), text))

    def render(self, key, label, stream):
        pass

    def message(self, text, stream="stderr"):
        self.messages.append(text)


def is_direct(run) -> list[bool]:
    """Whether each target's current attempt is a direct call (read while the run lives)."""
    return [getattr(t.future, "direct", False) for t in run._targets]


@pytest.fixture()
def mesh(tmp_path):
    # session actors are the default; set here so that these tests keep to the actors
    with isolated_mesh(tmp_path, run__session_actors=True) as m:
        yield m


def test_a_direct_cell_streams_records_and_counts_its_dask_work(mesh):
    ready(mesh)
    rec = Recorder()
    code = (
        "import time\nfrom distributed import get_client\n"
        "for i in range(3):\n    print('tick', i, flush=True)\n    time.sleep(0.3)\n"
        "c = get_client()\nsum(c.gather(c.map(lambda x: x + 1, range(10))))"
    )
    run = mesh.run(code, renderer=rec, block=False)
    assert is_direct(run) == [True]
    deadline = time.time() + 0.8  # the row reads running while the cell runs
    while mesh.history.get(run.id)["status"] != "running" and time.time() < deadline:
        time.sleep(0.02)
    assert mesh.history.get(run.id)["status"] == "running" and not run.done()
    assert run.wait(30) and run.status == "finished", run.error
    assert run.result() == 55 and run.stdout == "tick 0\ntick 1\ntick 2\n"
    first = rec.chunks[0][0]
    assert first < run.finished and rec.chunks[-1][0] - first > 0.4  # streamed, not at the end
    assert run.summary["tasks"] == 10  # the span: the plugin attributes the cell's work to the run
    row = mesh.history.get(run.id)
    assert row["status"] == "finished" and row["stdout_tail"] == run.stdout and row["result"] == "55"
    assert row["started"] is not None and list(row["summary"]["attempts"].values()) == [1]
    quick = mesh.run("pass")  # its start and its result are read together: one write at the end
    row = mesh.history.get(quick.id)
    assert row["status"] == "finished" and row["submitted"] <= row["started"] <= row["finished"]


def test_the_plugin_keeps_nodes_live_while_a_direct_cell_runs(mesh):
    address = ready(mesh)
    seen: list[dict] = []
    mesh.client.subscribe_topic("mesh-dashboard", lambda e: seen.append(e[1]))
    run = mesh.run("import time\ntime.sleep(2.5)", block=False)
    assert is_direct(run) == [True]
    time.sleep(1.8)  # past the plugin's two intervals after the last transition
    late = [m for m in seen if m.get("kind") == "nodes" and m["t"] > time.time() - 0.8]
    assert late, "no node state while the cell ran"
    tile = next(n for n in late[-1]["nodes"] if n["address"] == address)
    assert tile["processing"] >= 1  # the worker's tile shows it busy, as with a cell task
    assert run.wait(10) and run.status == "finished"


def test_cancel_while_a_direct_cell_sleeps_in_c_ends_at_once(mesh):
    """The interrupt lands when the sleep returns; the run must not wait for it."""
    from distributed import Client

    from mesh_magics.core.cancel import cancel_run

    ready(mesh)
    run = mesh.run("import time\nprint('in', flush=True)\ntime.sleep(8)", block=False)
    deadline = time.time() + 10
    while "in" not in run.stdout and time.time() < deadline:
        time.sleep(0.05)
    t0 = time.monotonic()
    with Client(mesh.address, set_as_default=False) as other:
        out = cancel_run(other, run.id)
    assert out["interrupted"] and not out["cancelled_keys"]
    assert run.wait(3) and run.status == "cancelled" and time.monotonic() - t0 < 3
    assert mesh.history.get(run.id)["status"] == "cancelled"
    # a cancel from this kernel (Ctrl-C calls the same) and a timeout end direct cells too
    run = mesh.run("import time\ntime.sleep(8)", block=False)
    assert is_direct(run) == [True]
    time.sleep(0.3)
    assert run.cancel() and run.status == "cancelled"
    run = mesh.run("import time\nwhile True:\n    time.sleep(0.01)", timeout=1)
    assert run.status == "timeout"
    deadline = time.time() + 5  # a loop of Python is interrupted at once (a sleep when it returns)

    def running() -> set[str]:
        return {r for ids in mesh.client.run(cell.running).values() for r in ids}

    while run.id in running() and time.time() < deadline:
        time.sleep(0.1)
    assert run.id not in running()


def test_direct_cells_of_several_runs_proceed_at_once_on_one_worker(mesh):
    address = ready(mesh)
    t0 = time.monotonic()
    runs = [mesh.run("import time\ntime.sleep(1.0)\n1", on=[address], block=False) for _ in range(3)]
    assert all(is_direct(r) == [True] for r in runs)
    assert all(r.wait(10) and r.status == "finished" for r in runs)
    assert time.monotonic() - t0 < 2.5  # not one after the other


def test_a_worker_lost_under_a_direct_cell_is_lost_then_the_mesh_goes_direct_again(mesh, tmp_path):
    ready(mesh)
    run = mesh.run(KILL_ONCE.format(marker=str(tmp_path / "m1")), block=False, timeout=60)
    assert is_direct(run) == [True]
    assert run.wait(30) and run.status == "lost", run.error
    with pytest.raises(WorkerLostError, match="set retries"):
        run.result()
    deadline = time.time() + 30
    while len(mesh.workers()) < 2 and time.time() < deadline:
        time.sleep(0.2)
    addresses = mesh.worker_addresses()
    assert len(addresses) == 2
    for a in addresses:  # the new worker process gets an actor of its own
        ready(mesh, a)
    run = mesh.run("40 + 2", block=False)
    assert is_direct(run) == [True] and run.wait(10) and run.result() == 42


def test_a_direct_cell_whose_worker_dies_runs_again_elsewhere_with_retries(mesh, tmp_path):
    ready(mesh)
    rec = Recorder()
    run = mesh.run(KILL_ONCE.format(marker=str(tmp_path / "m2")), retries=1, renderer=rec, block=False)
    assert is_direct(run) == [True]
    assert run.wait(60) and run.status == "finished", run.error
    assert "survived" in run.stdout and any("retrying" in m for m in rec.messages)
    assert list(run.attempts().values()) == [2]


def test_what_needs_the_scheduler_takes_the_task_path(mesh):
    import dask

    ready(mesh)
    run = mesh.run("import time\ntime.sleep(0.5)", block=False, priority=1)  # ordered among tasks
    assert is_direct(run) == [False] and run.wait(10) and run.status == "finished"
    big = np.ones(2 * 2**20)  # 16 MiB: scattered to the worker, a task reads it from memory
    run = mesh.run("import time\ntime.sleep(0.5)\nfloat(big.sum())", user_ns={"big": big}, block=False)
    assert is_direct(run) == [False] and run.wait(20) and run.result() == float(big.sum())
    small = {"a": 1}
    run = mesh.run("import time\ntime.sleep(0.5)\nsmall['a'] + 1", user_ns={"small": small}, block=False)
    assert is_direct(run) == [True] and run.wait(10) and run.result() == 2
    with dask.config.set({"mesh.run.session-actors": False}):
        run = mesh.run("import time\ntime.sleep(0.5)", block=False)
    assert is_direct(run) == [False] and run.wait(10) and run.status == "finished"


def test_a_direct_cell_on_every_worker_shares_the_namespaces_of_the_task_path(mesh):
    import dask

    addresses = mesh.worker_addresses()
    with dask.config.set({"mesh.run.session-actors": False}):
        assert mesh.run("x = 20", on="all").status == "finished"  # a cell task on each worker
    for a in addresses:
        ready(mesh, a)
    run = mesh.run("import os\nx + 1, os.getpid() != 0", on="all", block=False)
    assert is_direct(run) == [True, True]
    assert run.wait(10) and run.result() == {"0": (21, True), "1": (21, True)}
    assert all("x" in ns for ns in mesh.client.run(cell.namespace_names, mesh.session).values())

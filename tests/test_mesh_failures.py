"""Failures with real processes: a worker killed mid-run, a scheduler that goes away."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
from _cells import KILL_ONCE

import mesh_magics
from mesh_magics.errors import WorkerLostError


@pytest.fixture()
def mesh(tmp_path):
    import dask

    with dask.config.set(
        {"mesh.history.path": str(tmp_path / "h.sqlite3"), "mesh.registry.path": str(tmp_path / "reg")}
    ):
        m = mesh_magics.up(workers=2, threads=1, kind="cpu")
        yield m
        m.down()


def test_worker_lost_without_retries_is_worker_lost_error(mesh, tmp_path):
    events: list[str] = []
    for e in ("worker_left", "worker_joined", "run_failed"):
        mesh.on(e, lambda p: events.append(p["event"]))
    t0 = time.monotonic()
    run = mesh.run(KILL_ONCE.format(marker=str(tmp_path / "m1")), timeout=60)
    assert run.status == "lost", run.error
    assert time.monotonic() - t0 < 30  # never a hung cell
    with pytest.raises(WorkerLostError, match="set retries"):
        run.result()
    assert "attempt on pid" in run.stdout
    # the mesh recovers: the next cell runs on a live worker
    deadline = time.time() + 20
    while len(mesh.workers()) < 2 and time.time() < deadline:
        time.sleep(0.2)
    assert mesh.run("40 + 2").result() == 42
    # the nanny replaced the dead worker: the mesh saw it leave and a new one join
    assert events.index("worker_left") < events.index("worker_joined") and "run_failed" in events


def test_worker_lost_with_retries_runs_again_elsewhere(mesh, tmp_path):
    messages = []

    class R:
        def chunk(self, *a):
            pass

        def render(self, *a):
            pass

        def message(self, text, stream="stderr"):
            messages.append(text)

    run = mesh.run(KILL_ONCE.format(marker=str(tmp_path / "m2")), retries=1, renderer=R(), timeout=60)
    assert run.status == "finished", run.error
    assert "survived" in run.stdout
    assert any("retrying" in m for m in messages)


# A cell with a side effect: one line per execution in a file.
COUNTED = """
import os
with open({path!r}, "a") as f:
    f.write(str(os.getpid()) + "\\n")
'counted'
"""


def test_a_finished_cell_never_runs_again_when_its_worker_is_lost(mesh, tmp_path):
    """Distributed recomputes a lost task that a client still holds: a finished cell's task
    must be released, or killing its worker later runs the cell (and its side effects) again."""
    from mesh_magics.worker.keys import is_cell_key

    path = tmp_path / "executions.txt"
    run = mesh.run(COUNTED.format(path=str(path)), on=["0"])
    assert run.result() == {"0": "counted"}

    def held():
        return mesh.client.run_on_scheduler(
            lambda dask_scheduler: [k for k in dask_scheduler.tasks if is_cell_key(k)]
        )

    deadline = time.time() + 5  # releases travel in the client's batched stream
    while held() and time.time() < deadline:
        time.sleep(0.05)
    assert held() == []  # nothing of the finished run is left on the scheduler
    worker = next(w.address for w in mesh.workers() if w.name == "0")
    mesh.client.run(lambda: os._exit(1), workers=[worker], on_error="ignore")
    deadline = time.time() + 30
    while len(mesh.workers()) < 2 and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    assert len(path.read_text().splitlines()) == 1  # executed once, never again


def test_a_retry_waits_for_a_worker_when_none_is_left(tmp_path):
    """On a one-worker mesh the only worker dies mid-cell: the retry waits for its nanny to
    bring it back (mesh.run.retry-wait) instead of ending at once as lost."""
    import dask

    from mesh_magics.core.connection import local_client
    from mesh_magics.core.mesh import Mesh

    messages: list[str] = []

    class R:
        def chunk(self, *a):
            pass

        def render(self, *a):
            pass

        def message(self, text, stream="stderr"):
            messages.append(text)

    cfg = {"mesh.history.path": str(tmp_path / "h.sqlite3"), "mesh.registry.path": str(tmp_path / "r")}
    with dask.config.set(cfg):
        m = Mesh(local_client(workers=1, threads=1, kind="cpu"))
        try:
            run = m.run(KILL_ONCE.format(marker=str(tmp_path / "m3")), retries=1, renderer=R(), timeout=90)
            assert run.status == "finished", (run.error, messages)
            assert "survived" in run.stdout
            assert any("waiting up to" in t for t in messages) and any("live again" in t for t in messages)
            assert run.attempts() and list(run.attempts().values()) == [2]
        finally:
            m.down()


def test_the_embedded_mesh_keeps_its_size_when_distributed_drops_a_worker(tmp_path):
    """distributed closes a local worker for good when it stays away longer than
    distributed.deploy.lost-worker-timeout; the embedded mesh starts it again."""
    import dask

    from mesh_magics.core.connection import local_client
    from mesh_magics.core.mesh import Mesh

    cfg = {
        "mesh.history.path": str(tmp_path / "h.sqlite3"),
        "mesh.registry.path": str(tmp_path / "r"),
        "distributed.deploy.lost-worker-timeout": "100ms",  # shorter than a worker's restart
    }
    with dask.config.set(cfg):
        m = Mesh(local_client(workers=2, threads=1, kind="cpu"))
        try:
            victim = m.workers()[0].address
            m.client.run(lambda: os._exit(1), workers=[victim], on_error="ignore")
            deadline = time.time() + 10
            while len(m.cluster.workers) == 2 and time.time() < deadline:
                time.sleep(0.05)
            assert len(m.cluster.workers) == 1  # distributed gave the worker up
            deadline = time.time() + 60
            while (len(m.cluster.workers) < 2 or len(m.workers()) < 2) and time.time() < deadline:
                time.sleep(0.2)
            assert len(m.cluster.workers) == 2 and len(m.workers()) == 2
            assert m.run("40 + 2").result() == 42
        finally:
            m.down()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_scheduler(port: int) -> subprocess.Popen:
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "distributed.cli.dask_scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--dashboard-address",
            ":0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return p
        time.sleep(0.1)
    p.kill()
    raise RuntimeError("scheduler did not start")


def test_reconnects_with_backoff_after_the_scheduler_restarts(tmp_path):
    import dask

    port = _free_port()
    sched = _start_scheduler(port)
    events: list[tuple[str, object]] = []
    cfg = {
        "mesh.history.path": str(tmp_path / "h.sqlite3"),
        "mesh.audit.path": str(tmp_path / "a.sqlite3"),
        "mesh.registry.path": str(tmp_path / "r"),
        "mesh.reconnect.initial-delay": 0.2,
        "mesh.reconnect.max-delay": 1.0,
        "mesh.reconnect.max-attempts": 30,
    }
    with dask.config.set(cfg):
        m = mesh_magics.connect(f"tcp://127.0.0.1:{port}", timeout=5)
        try:
            for e in ("disconnected", "reconnecting", "connected"):
                m.on(e, lambda p: events.append((p["event"], p.get("attempt"))))
            assert m.state == "connected"
            sched.kill()
            sched.wait()
            deadline = time.time() + 30
            while m.state == "connected" and time.time() < deadline:
                time.sleep(0.05)
            assert m.state in ("reconnecting",)
            assert "reconnecting" in repr(m.status()) or m.status().summary()["state"] == "reconnecting"
            assert "(connected)" not in repr(m.status())  # the kind is not mistaken for a state
            time.sleep(1.0)
            sched = _start_scheduler(port)
            deadline = time.time() + 60
            while m.state != "connected" and time.time() < deadline:
                time.sleep(0.1)
            assert m.state == "connected", m.last_error
            names = [e for e, _ in events]
            assert names[0] == "disconnected" and "reconnecting" in names and names[-1] == "connected"
            # the audit trail holds the reconnection (the metrics page counts these)
            assert [e["mesh"] for e in m.audit.events(event="reconnected")] == [m.address]
        finally:
            m.down()
            sched.kill()

"""A broadcast scatter (or ``Client.replicate``) on the embedded mesh keeps its client connected.

The scheduler's ``replicate`` logs an event on its ``all`` topic that holds ``WorkerState``
objects, which do not serialize: a client subscribed to ``all`` has its stream closed
(a cell's own broadcast; ``index_chain`` no longer broadcasts). The mesh reads workers
joining and leaving from its own scheduler plugin instead (``worker/plugin.py``)."""

from __future__ import annotations

import time

import dask

import mesh_magics


def test_a_broadcast_scatter_keeps_the_mesh_connected_and_worker_events_arrive(tmp_path):
    with dask.config.set(
        {"mesh.history.path": str(tmp_path / "h.sqlite3"), "mesh.registry.path": str(tmp_path / "r")}
    ):
        mesh = mesh_magics.up(workers=2, threads=1, kind="cpu")
        try:
            client = mesh.client
            [big] = client.scatter([list(range(1000))], broadcast=True)
            client.replicate([big])
            assert client.submit(len, big).result() == 1000
            assert mesh.run("6 * 7").result() == 42 and mesh.state == "connected"
            left = []
            mesh.on("worker_left", lambda e: left.append(e["worker"]))
            victim = sorted(client.nthreads())[0]
            client.retire_workers([victim], close_workers=True)
            deadline = time.monotonic() + 60
            while not left and time.monotonic() < deadline:
                time.sleep(0.1)
            assert left == [victim]  # from the mesh's own topic
            assert mesh.state == "connected"
        finally:
            mesh.down()

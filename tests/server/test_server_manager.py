"""The server extension's core against a real scheduler, real registry files and real SQLite."""

from __future__ import annotations

import asyncio
import os
import socket
import time

import pytest
from _server_helpers import SLOW_CODE, dead_pid, wait_for_status

from mesh_magics.server.errors import BadRequest, Conflict, Forbidden, NotFound
from mesh_magics.server.feed import ChangeFeed
from mesh_magics.server.histories import RunQuery, parse_query
from mesh_magics.server.manager import MESH_FIELDS, MeshManager
from mesh_magics.store import registry
from mesh_magics.store.history import History


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def manager():
    m = MeshManager(probe_timeout=0.5, probe_ttl=0.0)
    yield m
    m.close()


@pytest.fixture()
def extra_entries(mesh_env):
    """Registry entries besides the busy kernel's: gone, unreachable, TLS; removed afterwards."""
    ids = {"gone": "test-gone", "unreachable": "test-unreachable", "tls": "test-tls"}
    registry.register(
        {"id": ids["gone"], "scheduler_address": "tcp://127.0.0.1:1", "kind": "connected", "pid": dead_pid()}
    )
    registry.register(
        {
            "id": ids["unreachable"],
            "kind": "connected",
            "pid": os.getpid(),
            "scheduler_address": f"tcp://127.0.0.1:{closed_port()}",
        }
    )
    registry.register(
        {"id": ids["tls"], "scheduler_address": "tls://127.0.0.1:1", "kind": "connected", "pid": os.getpid()}
    )
    yield ids
    for entry_id in ids.values():
        registry.unregister(entry_id)


def test_meshes_have_a_state(manager, busy_kernel, extra_entries):
    t0 = time.monotonic()
    meshes = {m["id"]: m for m in asyncio.run(manager.meshes())}
    assert time.monotonic() - t0 < 3  # probes run concurrently, each bounded
    live = meshes[busy_kernel.id]
    assert set(live) == {*MESH_FIELDS, "stale", "state", "reason", "metrics_link"}
    assert live["state"] == "connected" and live["scheduler_address"] == busy_kernel.address
    assert live["kind"] == "local-cpu" and live["stale"] is False and live["reason"] is None
    gone = meshes[extra_entries["gone"]]
    assert gone["state"] == "gone" and gone["stale"] is True and "exited" in gone["reason"]
    down = meshes[extra_entries["unreachable"]]
    assert down["state"] == "unreachable" and down["stale"] is False and "did not answer" in down["reason"]
    tls = meshes[extra_entries["tls"]]
    assert tls["state"] == "unreachable" and "TLS" in tls["reason"]


def test_nodes_read_from_the_scheduler(manager, busy_kernel, extra_entries):
    nodes = asyncio.run(manager.nodes(busy_kernel.id))
    assert nodes["mesh"] == busy_kernel.id
    [worker] = nodes["workers"]
    assert set(worker) == {
        "address",
        "name",
        "host",
        "threads",
        "memory",
        "memory_limit",
        "cpu",
        "tasks",
        "spilled",
        "gpu",
    }
    assert worker["threads"] == 1 and worker["address"].startswith("tcp://")
    assert worker["memory"] > 0 and worker["gpu"] is None and worker["spilled"] == 0
    with pytest.raises(NotFound):
        asyncio.run(manager.nodes("no-such-mesh"))
    with pytest.raises(Conflict, match="gone"):
        asyncio.run(manager.nodes(extra_entries["gone"]))
    with pytest.raises(BadRequest):
        asyncio.run(manager.nodes("../etc/passwd"))


@pytest.fixture()
def second_history(mesh_env, tmp_path):
    """A second database, found only through a registry entry's history_path."""
    path = tmp_path / "other.sqlite3"
    with History(path) as h:
        for i in range(3):
            h.add(
                f"other-{i}",
                mesh="tcp://10.1.1.1:8786",
                source=f"x = {i}",
                name=f"other{i}",
                submitted=1000.0 + i,
                status="finished",
            )
        h.update("other-2", stdout_tail="out", stderr_tail="err", summary={"workers": 1})
    registry.register(
        {
            "id": "test-other-history",
            "scheduler_address": "tcp://10.1.1.1:8786",
            "kind": "connected",
            "pid": os.getpid(),
            "history_path": str(path),
        }
    )
    with History(mesh_env.history) as h:
        h.add(
            "main-failed",
            mesh="tcp://10.2.2.2:8786",
            source="1/0",
            name="boom",
            submitted=2000.0,
            status="failed",
        )
    yield path
    registry.unregister("test-other-history")


def test_runs_merge_the_databases_of_the_registry(manager, second_history):
    page = asyncio.run(manager.list_runs(RunQuery(limit=500)))
    ids = [r["id"] for r in page["runs"]]
    assert {"other-0", "other-1", "other-2", "main-failed"} <= set(ids)
    assert page["total"] == len(ids) and page["offset"] == 0 and page["limit"] == 500
    submitted = [r["submitted"] for r in page["runs"]]
    assert submitted == sorted(submitted, reverse=True)
    assert all("stdout_tail" not in r and "stderr_tail" not in r for r in page["runs"])
    other = next(r for r in page["runs"] if r["id"] == "other-1")
    assert other["mesh_id"] == "test-other-history"  # a live registry entry has that address

    q = asyncio.run(manager.list_runs(RunQuery(q="OTHER", limit=2, offset=1)))
    assert [r["id"] for r in q["runs"]] == ["other-1", "other-0"] and q["total"] == 3
    failed = asyncio.run(manager.list_runs(RunQuery(status=("failed",))))
    assert [r["id"] for r in failed["runs"]] == ["main-failed"]
    by_id = asyncio.run(manager.list_runs(RunQuery(mesh="test-other-history")))  # a mesh id or an address
    assert {r["id"] for r in by_id["runs"]} == {"other-0", "other-1", "other-2"}

    full = asyncio.run(manager.get_run("other-2"))
    assert full["stdout_tail"] == "out" and full["stderr_tail"] == "err" and full["summary"] == {"workers": 1}
    with pytest.raises(NotFound):
        asyncio.run(manager.get_run("nope"))


def test_a_missing_database_is_not_created(manager, mesh_env, tmp_path):
    registry.register(
        {
            "id": "test-missing-db",
            "scheduler_address": "tcp://10.3.3.3:1",
            "kind": "connected",
            "pid": os.getpid(),
            "history_path": str(tmp_path / "absent.sqlite3"),
        }
    )
    try:
        assert str(tmp_path / "absent.sqlite3") not in map(str, manager.runs.paths())
        assert not (tmp_path / "absent.sqlite3").exists()
    finally:
        registry.unregister("test-missing-db")


@pytest.mark.parametrize(
    "params, match",
    [
        ({"limit": "0"}, "limit=0 is out of range"),
        ({"limit": "501"}, "out of range"),
        ({"limit": "ten"}, "not an integer"),
        ({"offset": "-1"}, "out of range"),
        ({"status": "running,bogus"}, "unknown status 'bogus'"),
        ({"q": "x" * 501}, "longer than"),
        ({"address": "tcp://evil:1"}, "unknown query parameter"),
    ],
)
def test_run_queries_are_validated(params, match):
    with pytest.raises(BadRequest, match=match):
        parse_query(params)


def test_run_query_defaults():
    assert parse_query({}) == RunQuery(None, None, None, 0, 50)
    assert parse_query({"status": "queued,running", "token": "t"}).status == ("queued", "running")
    assert parse_query({"1700000000000": ""}) == RunQuery()  # JupyterLab's cache-buster


def test_cancel_while_the_kernel_is_busy_in_that_run(manager, busy_kernel, mesh_env):
    """The kernel blocks in the run; the manager cancels it through the scheduler alone."""
    busy_kernel.start_run(SLOW_CODE, name="slow")
    row = wait_for_status(mesh_env.history, "running")
    assert row["mesh"] == busy_kernel.address
    time.sleep(0.3)  # let the cell start printing on the worker
    out = asyncio.run(manager.cancel(row["id"]))
    assert out["cancelled"] is True and out["interrupted"] and out["cancelled_keys"]
    ended = busy_kernel.read(15)  # the blocking call in the busy process returns...
    assert ended["id"] == row["id"] and ended["status"] == "cancelled"  # ...as a cancelled run
    assert asyncio.run(manager.get_run(row["id"]))["status"] == "cancelled"
    with pytest.raises(Conflict, match="already ended"):
        asyncio.run(manager.cancel(row["id"]))


def test_cancel_refuses_unknown_runs_and_unregistered_meshes(manager, mesh_env, extra_entries):
    with pytest.raises(NotFound):
        asyncio.run(manager.cancel("no-such-run"))
    with History(mesh_env.history) as h:
        h.add("elsewhere", mesh="tcp://203.0.113.9:8786", source="x", status="running")
        h.add("on-gone", mesh="tcp://127.0.0.1:1", source="x", status="running")
    with pytest.raises(Forbidden, match="not in the mesh registry"):
        asyncio.run(manager.cancel("elsewhere"))
    with pytest.raises(Conflict, match="gone"):
        asyncio.run(manager.cancel("on-gone"))


def test_feed_pushes_registry_and_history_changes(mesh_env, busy_kernel):
    async def scenario() -> list[dict]:
        manager = MeshManager(probe_timeout=0.5)
        feed = ChangeFeed(manager, interval=0.05, probe_every=60)
        got: list[dict] = []
        unsubscribe = feed.subscribe(got.append)
        try:
            await asyncio.sleep(0.3)  # baseline taken
            registry.register(
                {
                    "id": "test-feed",
                    "scheduler_address": busy_kernel.address,
                    "kind": "connected",
                    "pid": os.getpid(),
                }
            )
            with History(mesh_env.history) as h:
                h.add("feed-run", mesh=busy_kernel.address, source="x", name="fed", status="queued")
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not ({"meshes", "runs"} <= {m["type"] for m in got}):
                await asyncio.sleep(0.05)
            assert feed.running
        finally:
            unsubscribe()
            registry.unregister("test-feed")
            manager.close()
        await asyncio.sleep(0)
        assert not feed.running  # polls only while someone listens
        return got

    got = asyncio.run(scenario())
    meshes = next(m for m in got if m["type"] == "meshes")
    assert "test-feed" in {m["id"] for m in meshes["meshes"]}
    runs = next(m for m in got if m["type"] == "runs")
    assert [r["id"] for r in runs["changed"]] == ["feed-run"] and "stdout_tail" not in runs["changed"][0]


def test_listed_runs_carry_progress_from_the_summary():
    from mesh_magics.server.histories import _listed

    row = {
        "id": "r",
        "status": "running",
        "stdout_tail": "x",
        "summary": {"progress": {"done": 30, "total": 120}},
    }
    listed = _listed(row)
    assert listed["progress"] == 0.25 and "stdout_tail" not in listed
    assert _listed({"id": "r", "summary": {"duration": 1.0}})["progress"] is None
    assert _listed({"id": "r", "summary": None})["progress"] is None

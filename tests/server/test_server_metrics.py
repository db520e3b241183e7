"""``GET mesh/api/metrics``: Prometheus metrics of the meshes and runs, through a real Jupyter
server, read by prometheus-client's own parser, after real runs of a real kernel-like process."""

from __future__ import annotations

import asyncio
import json

import pytest
from _server_helpers import SLOW_CODE, wait_for_status
from traitlets.config import Config

from mesh_magics.server.metrics import MeshMetrics, Snapshot
from mesh_magics.store.audit import AuditLog
from mesh_magics.store.stats import DURATION_BUCKETS, MeshRunStats


@pytest.fixture()
def jp_server_config(mesh_env):
    return Config({"ServerApp": {"jpserver_extensions": {"mesh_magics": True}}})


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``{(sample name, sorted labels): value}`` as Prometheus itself would parse the page."""
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(found, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    assert key in found, f"{key} not in {sorted(k for k in found if k[0] == name)}"
    return found[key]


async def _run(kernel, code: str, name: str) -> dict:
    kernel.start_run(code, name=name)
    return await asyncio.get_running_loop().run_in_executor(None, kernel.read, 60)


async def test_metrics_of_real_runs(jp_fetch, jp_base_url, busy_kernel, mesh_env):
    assert (await _run(busy_kernel, "print('x' * 99)", "printer"))["status"] == "finished"
    assert (await _run(busy_kernel, "1/0", "broken"))["status"] == "failed"
    busy_kernel.start_run(SLOW_CODE, name="slow")
    row = wait_for_status(mesh_env.history, "running")

    page = await jp_fetch("mesh", "api", "metrics")
    assert page.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    found = samples(page.body.decode())
    mesh = busy_kernel.address
    assert value(found, "mesh_magics_runs_in_flight", mesh=mesh) == 1
    assert value(found, "mesh_magics_meshes", state="connected") >= 1

    await asyncio.sleep(0.3)
    r = await jp_fetch("mesh", "api", "runs", row["id"], "cancel", method="POST", body="{}")
    assert json.loads(r.body)["cancelled"] is True
    ended = await asyncio.get_running_loop().run_in_executor(None, busy_kernel.read, 20)
    assert ended["status"] == "cancelled"

    found = samples((await jp_fetch("mesh", "api", "metrics")).body.decode())
    assert value(found, "mesh_magics_runs_total", mesh=mesh, status="finished") == 1
    assert value(found, "mesh_magics_runs_total", mesh=mesh, status="failed") == 1
    assert value(found, "mesh_magics_runs_total", mesh=mesh, status="cancelled") == 1
    assert value(found, "mesh_magics_cancellations_total", mesh=mesh) == 1
    assert value(found, "mesh_magics_runs_in_flight", mesh=mesh) == 0
    assert value(found, "mesh_magics_cancel_requests_total", result="cancelled") == 1
    assert value(found, "mesh_magics_run_duration_seconds_count", mesh=mesh) == 3
    assert value(found, "mesh_magics_run_duration_seconds_bucket", mesh=mesh, le="+Inf") == 3
    assert value(found, "mesh_magics_run_duration_seconds_sum", mesh=mesh) > 0.3  # the slow run ran
    # 99 x's and a newline from the printer, the slow run's lines before its cancel, and no more
    out_bytes = value(found, "mesh_magics_run_output_bytes_total", mesh=mesh)
    assert out_bytes > 100
    assert value(found, "mesh_magics_reconnects_total", mesh=mesh) == 0
    with AuditLog(mesh_env.audit) as a:
        assert [e["run_id"] for e in a.events(event="cancel")] == [row["id"]]
        assert sum(r["output_bytes"] or 0 for r in a.runs(None)) == out_bytes

    # the scheduler's own /metrics, linked per mesh and served through the authenticated proxy
    info = [k for k in found if k[0] == "mesh_magics_mesh_info" and ("mesh_id", busy_kernel.id) in k[1]]
    assert len(info) == 1
    link = dict(info[0][1])["scheduler_metrics"]
    assert link.endswith(f"mesh/api/meshes/{busy_kernel.id}/dashboard/metrics")
    meshes = json.loads((await jp_fetch("mesh", "api", "meshes")).body)["meshes"]
    assert next(m for m in meshes if m["id"] == busy_kernel.id)["metrics_link"] == link
    assert link.startswith(jp_base_url)
    scheduler = await jp_fetch(link.removeprefix(jp_base_url))
    assert b"dask_scheduler_workers" in scheduler.body


def test_the_page_is_prometheus_text_of_the_snapshot():
    """Counts go where they belong; a mesh address never carries its credentials into a label."""
    stats = MeshRunStats(by_status={"finished": 3, "running": 2}, count=3, total=4.5)
    stats.buckets = [0, 1, 2, 3, 3, 3, 3, 3, 3, 3]
    assert len(stats.buckets) == len(DURATION_BUCKETS)
    snap = Snapshot(
        meshes=[{"id": "k1", "scheduler_address": "tcp://h:1", "kind": "local-cpu", "state": "gone"}],
        runs={"tcp://h:1": stats},
        audit={"tcp://h:1": {"output_bytes": 12.0, "reconnected": 2.0}},
    )
    found = samples(MeshMetrics().render(snap).decode())
    assert value(found, "mesh_magics_runs_total", mesh="tcp://h:1", status="finished") == 3
    assert ("mesh_magics_runs_total", (("mesh", "tcp://h:1"), ("status", "running"))) not in found
    assert value(found, "mesh_magics_runs_in_flight", mesh="tcp://h:1") == 2
    assert value(found, "mesh_magics_run_duration_seconds_bucket", mesh="tcp://h:1", le="0.5") == 1
    assert value(found, "mesh_magics_reconnects_total", mesh="tcp://h:1") == 2
    assert value(found, "mesh_magics_meshes", state="gone") == 1
    assert value(found, "mesh_magics_meshes", state="connected") == 0

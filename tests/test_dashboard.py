"""The live dashboard on real runs (real scheduler plugin, worker processes), and its model."""

from __future__ import annotations

import json
import time

import pytest

import mesh_magics
from mesh_magics.core.telemetry import LogBuffer, NodeMap, RunProgress
from mesh_magics.dashboard.widget import MeshDashboard, text_snapshot

WORK = """
import time
from distributed import get_client
def slow(i):
    time.sleep(0.05)
    return i
c = get_client()
futures = c.map(slow, range(40), key=[f"{name}-{{i}}" for i in range(40)])
print('sum', sum(c.gather(futures)), flush=True)
"""


class WidgetRecorder:
    def __init__(self) -> None:
        self.widgets: list[MeshDashboard] = []
        self.updates = 0
        self.lines: list[str] = []

    def chunk(self, key, label, text):
        pass

    def render(self, key, label, stream):
        pass

    def message(self, text, stream="stderr"):
        self.lines.append(text)

    def widget(self, w, key):
        self.widgets.append(w)

    def update_widget(self, w, key):
        self.updates += 1


class TextRecorder(WidgetRecorder):
    widget = None  # type: ignore[assignment]
    update_widget = None  # type: ignore[assignment]

    def progress_line(self, text):
        self.lines.append(text)


@pytest.fixture(scope="module")
def mesh(tmp_path_factory):
    import dask

    d = tmp_path_factory.mktemp("dash")
    with dask.config.set(
        {
            "mesh.history.path": str(d / "h.sqlite3"),
            "mesh.registry.path": str(d / "r"),
            "mesh.progress.after": 0.3,
        }
    ):
        m = mesh_magics.up(workers=2, threads=1, kind="cpu")
        yield m
        m.down()


def test_run_dashboard_tiles_progress_logs_summary(mesh):
    rec = WidgetRecorder()
    run = mesh.run(
        WORK.format(name="blocks") + "import logging\nlogging.getLogger('cell').warning('careful')",
        renderer=rec,
        name="dash-run",
    )
    assert run.status == "finished" and len(rec.widgets) == 1 and rec.updates == 1
    w = rec.widgets[0]
    tiles = [t for g in w.node_groups for t in g["tiles"]]
    assert sorted(t["address"] for t in tiles) == mesh.worker_addresses()  # one tile per worker
    assert w.total == 40 and w.percent == 100.0 and [r["group"] for r in w.groups] == ["blocks"]
    assert any("sum 780" in line[3] for line in w.logs)
    assert any(line[1] == "WARNING" and "careful" in line[3] for line in w.logs)
    assert w.status == "finished" and w.summary["tasks"] == w.total
    assert w.summary["duration"] > 0.3 and w.summary["peak_memory"] > 0
    row = mesh.history.get(run.id)
    assert row["summary"]["tasks"] == w.total and "bytes_transferred" in row["summary"]
    snap = text_snapshot(w)
    assert "finished" in snap["text/plain"] and f"{w.total}/{w.total} tasks" in snap["text/plain"]


def test_quick_cells_stay_quiet(mesh):
    rec = WidgetRecorder()
    run = mesh.run("1 + 1", renderer=rec)
    assert run.result() == 2 and rec.widgets == []


def test_two_runs_at_once_never_mix(mesh):
    a = mesh.run(WORK.format(name="alpha"), renderer=WidgetRecorder(), block=False, on=["0"])
    b = mesh.run(WORK.format(name="beta"), renderer=WidgetRecorder(), block=False, on=["1"])
    assert a.wait(120) and b.wait(120)
    ga = {r["group"]: r["total"] for r in a.telemetry.progress.rows()}
    gb = {r["group"]: r["total"] for r in b.telemetry.progress.rows()}
    assert ga == {"alpha": 40} and gb == {"beta": 40}


def test_plain_text_progress(mesh):
    rec = TextRecorder()
    run = mesh.run(WORK.format(name="texty"), renderer=rec)
    assert run.status == "finished"
    final = rec.lines[-1]
    assert "finished" in final and "(100 %)" in final and "peak memory" in final


def test_cancel_from_the_widget_for_a_noblock_run(mesh):
    rec = WidgetRecorder()
    run = mesh.run("import time\nfor i in range(200):\n    time.sleep(0.05)", renderer=rec, block=False)
    deadline = time.time() + 10
    while not rec.widgets and time.time() < deadline:
        time.sleep(0.05)
    w = rec.widgets[0]
    assert not w.blocking
    w._on_front_msg(w, {"event": "cancel"}, [])  # what the view sends on a click
    assert run.wait(5) and run.status == "cancelled"


def test_node_map_layout_at_256_workers():
    nodes = NodeMap()
    synthetic = [
        {
            "address": f"tcp://10.0.{h}.1:{9000 + g}",
            "name": f"h{h}-gpu{g}",
            "host": f"node{h:02d}",
            "threads": 1,
            "cpu": 50.0,
            "memory": 2**30,
            "memory_limit": 2**34,
            "processing": g % 2,
            "spilled": 0,
            "gpu_name": "H100",
            "gpu_util": 90,
            "gpu_memory": 2**33,
            "gpu_memory_total": 2**36,
        }
        for h in range(32)
        for g in range(8)
    ]
    nodes.update(synthetic, [["tcp://10.0.0.1:9000", "tcp://10.0.1.1:9001", 1024]])
    groups = nodes.groups(busy_for_run={"tcp://10.0.3.1:9002"})
    assert len(groups) == 32 and all(len(g["tiles"]) == 8 for g in groups)
    assert [t["name"] for t in groups[0]["tiles"]] == [f"h0-gpu{g}" for g in range(8)]
    states = [t["state"] for g in groups for t in g["tiles"]]
    assert states.count("run") == 1 and states.count("busy") == 128 and nodes.compact
    w = MeshDashboard(name="big")
    w.set_state(RunProgress(), nodes, LogBuffer(), {"tcp://10.0.3.1:9002"})
    payload = len(json.dumps(w.node_groups))
    assert sum(len(g["tiles"]) for g in w.node_groups) == 256
    assert payload < 64_000, payload  # compact tiles keep a 2 Hz update small
    small = NodeMap()
    small.update(synthetic[:1])
    assert not small.compact and small.tiles()[0]["gpu"] == "H100"


def test_progress_percent_and_eta():
    p = RunProgress()
    assert p.percent == 0.0 and p.eta() is None
    p.update({"a-" + "0" * 32: [0, 2, 8, 0]}, [], t=100.0)
    p.update({"a-" + "0" * 32: [5, 2, 3, 0]}, [], t=101.0)
    assert p.percent == 50.0 and p.eta() == pytest.approx(1.0)
    assert p.rows()[0]["group"] == "a"
    p.update({"b": [1, 0, 0, 1]}, [], t=102.0)
    assert p.total == 12 and p.erred == 1


def test_log_buffer_bounds_filters_and_searches():
    logs = LogBuffer(max_lines=3)
    logs.add("0", "stdout", "one\ntwo\nthr")
    logs.add("0", "stdout", "ee\n")
    logs.add("1", "log", "WARNING\tcell: disk almost full\nDEBUG\tcell: detail\n")
    assert [ln[3] for ln in logs.lines] == ["[stdout] three", "cell: disk almost full", "cell: detail"]
    assert logs.dropped == 2
    assert [ln[3] for ln in logs.view("WARNING")] == ["cell: disk almost full"]
    assert [ln[3] for ln in logs.view(search="THREE")] == ["[stdout] three"]


def test_standalone_dashboard_shows_nodes_and_runs_in_flight(mesh):
    from mesh_magics.dashboard.standalone import MeshWatch

    watch = MeshWatch(mesh).start()
    try:
        run = mesh.run(WORK.format(name="watched"), renderer=WidgetRecorder(), block=False)
        deadline = time.time() + 20
        seen_run = False
        while time.time() < deadline and not run.done():
            seen_run |= run.name in {g["group"] for g in watch.widget.groups}
            time.sleep(0.1)
        run.wait(30)
        time.sleep(1.0)
        tiles = [t for g in watch.widget.node_groups for t in g["tiles"]]
        assert seen_run and len(tiles) == 2 and watch.widget.status == "connected"
    finally:
        watch.stop()


def test_running_progress_reaches_the_history_row(mesh):
    """The side panel shows a running run's progress from its history row."""
    run = mesh.run(
        WORK.format(name="tracked").replace("0.05", "0.15"), renderer=WidgetRecorder(), block=False
    )
    seen = None
    deadline = time.time() + 60
    while time.time() < deadline and not run.done():
        row = mesh.history.get(run.id) or {}
        seen = (row.get("summary") or {}).get("progress") or seen
        time.sleep(0.2)
    run.wait(30)
    assert seen is not None and seen["total"] == 40 and 0 <= seen["done"] <= 40
    assert "progress" not in mesh.history.get(run.id)["summary"]  # the final summary replaced it

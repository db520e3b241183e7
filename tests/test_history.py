"""The run history: real SQLite files in tmp_path, real processes, no mocks."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import dask
import pandas as pd
import pytest

from mesh_magics.errors import HistoryError, MeshError
from mesh_magics.store.history import COLUMNS, SCHEMA_VERSION, History, default_path

ROOT = Path(__file__).resolve().parents[1]
MESH = "tcp://127.0.0.1:8786"


@pytest.fixture()
def history(tmp_path):
    with History(tmp_path / "history.sqlite3") as h:
        yield h


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _add_sample(h: History) -> None:
    """Five runs, submitted one second apart: r0 is the oldest."""
    specs = [
        ("r0", "finished", "load", "df = read()", None, "loaded 10 rows", "", MESH),
        ("r1", "failed", "train", "fit(model)", "ValueError: Bad Shape", "", "warn", MESH),
        ("r2", "finished", None, "print('100% done')", None, "100% done", "", "tcp://other:1"),
        ("r3", "cancelled", "sleep", "time.sleep(60)", None, "", "", MESH),
        ("r4", "timeout", "Ünïcode", "x_y = 1", None, "", "STDERR Needle", MESH),
    ]
    for i, (rid, status, name, source, error, out, err, mesh) in enumerate(specs):
        h.add(rid, mesh=mesh, source=source, name=name, submitted=1000.0 + i)
        h.update(rid, status=status, error=error, stdout_tail=out, stderr_tail=err)


def test_add_get_roundtrip(history):
    history.add(
        "run-1",
        mesh=MESH,
        source="print('hi')",
        name="hello",
        targets=["tcp://w1:1", "tcp://w2:2"],
        submitted=1234.5,
        kernel_id="k1",
        session_id="s1",
    )
    row = history.get("run-1")
    assert set(row) == set(COLUMNS)
    assert row["source_hash"] == hashlib.sha256(b"print('hi')").hexdigest()
    assert row["targets"] == ["tcp://w1:1", "tcp://w2:2"]
    assert row["status"] == "queued"
    assert row["submitted"] == 1234.5
    assert (row["started"], row["finished"], row["summary"]) == (None, None, None)
    assert (row["kernel_id"], row["session_id"], row["name"]) == ("k1", "s1", "hello")
    assert history.get("nope") is None


def test_submitted_defaults_to_now(history):
    before = time.time()
    history.add("r", mesh=MESH, source="")
    assert before <= history.get("r")["submitted"] <= time.time()


def test_update_serialises_json_and_rehashes(history):
    history.add("r", mesh=MESH, source="a = 1")
    history.update(
        "r",
        status="finished",
        started=10,
        finished=12.5,
        targets=("tcp://w:1",),
        summary={"duration": 2.5, "tasks": 3, "bytes": 1 << 40},
        result="int: 1",
        source="a = 2",
    )
    row = history.get("r")
    assert row["status"] == "finished"
    assert (row["started"], row["finished"]) == (10.0, 12.5)
    assert row["targets"] == ["tcp://w:1"]
    assert row["summary"] == {"duration": 2.5, "tasks": 3, "bytes": 1 << 40}
    assert row["result"] == "int: 1"
    assert row["source_hash"] == hashlib.sha256(b"a = 2").hexdigest()
    history.update("r")  # no fields: nothing to do


def test_update_refuses_unknown_fields_and_values(history):
    history.add("r", mesh=MESH, source="")
    with pytest.raises(HistoryError, match="bogus") as info:
        history.update("r", status="running", bogus=1)
    assert "stdout_tail" in str(info.value)  # lists the known ones
    with pytest.raises(HistoryError, match="id"):
        history.update("r", id="other")
    with pytest.raises(HistoryError, match="unknown run status 'done'"):
        history.update("r", status="done")
    with pytest.raises(HistoryError, match="dict"):
        history.update("r", summary="not a dict")
    with pytest.raises(HistoryError, match="missing"):
        history.update("missing", status="running")
    assert history.get("r")["status"] == "queued"  # nothing half-applied


def test_duplicate_id_refused_and_row_kept(history):
    history.add("r", mesh=MESH, source="first")
    with pytest.raises(HistoryError, match="'r' is already in the run history"):
        history.add("r", mesh=MESH, source="second")
    assert history.get("r")["source"] == "first"
    assert history.count() == 1


def test_tails_keep_the_end(history):
    history.add("r", mesh=MESH, source="")
    with dask.config.set({"mesh.history.tail-bytes": 10}):
        history.update("r", stdout_tail="0123456789abcdefghij", stderr_tail="short")
    row = history.get("r")
    assert row["stdout_tail"] == "abcdefghij"
    assert row["stderr_tail"] == "short"
    history.update("r", stdout_tail="x" * 100_000)  # the shipped default: 65536
    assert history.get("r")["stdout_tail"] == "x" * 65536


def test_query_newest_first_and_pagination(history):
    _add_sample(history)
    assert [r["id"] for r in history.query()] == ["r4", "r3", "r2", "r1", "r0"]
    assert [r["id"] for r in history.query(2)] == ["r4", "r3"]
    assert [r["id"] for r in history.query(2, offset=2)] == ["r2", "r1"]
    assert [r["id"] for r in history.query(2, offset=4)] == ["r0"]
    assert history.query(2, offset=10) == []
    assert [r["id"] for r in history.query(None)] == ["r4", "r3", "r2", "r1", "r0"]
    assert history.query(0) == []
    assert history.count() == 5


def test_query_filters(history):
    _add_sample(history)

    def ids(**kw):
        return [r["id"] for r in history.query(**kw)]

    assert ids(status="finished") == ["r2", "r0"]
    assert ids(status=["failed", "timeout"]) == ["r4", "r1"]
    assert ids(status=[]) == []
    assert ids(mesh="tcp://other:1") == ["r2"]
    assert ids(mesh=MESH, status="finished") == ["r0"]
    # grep: case-insensitive, over name, source, error and both tails
    assert ids(grep="LOAD") == ["r0"]  # name and stdout
    assert ids(grep="fit(") == ["r1"]  # source
    assert ids(grep="bad shape") == ["r1"]  # error
    assert ids(grep="needle") == ["r4"]  # stderr
    assert ids(grep="ÜNÏ") == ["r4"]  # not only ASCII
    assert ids(grep="%") == ["r2"]  # a literal, not a LIKE wildcard
    assert ids(grep="_") == ["r4"]
    assert ids(grep="done", status="cancelled") == []
    assert history.count(status="finished") == 2
    assert history.count(grep="e", mesh=MESH) == len(ids(grep="e", mesh=MESH))
    with pytest.raises(HistoryError, match="unknown run status"):
        history.query(status="finised")


def test_file_and_directory_modes(tmp_path):
    path = tmp_path / "new" / "dir" / "h.sqlite3"
    with History(path) as h:
        h.add("r", mesh=MESH, source="secret = 'hunter2'")
        assert _mode(path) == 0o600
        assert _mode(path.parent) == 0o700
        assert _mode(Path(f"{path}-wal")) == 0o600  # SQLite copies the file's mode


def test_existing_file_of_ours_is_tightened(tmp_path):
    path = tmp_path / "h.sqlite3"
    path.touch()
    os.chmod(path, 0o644)
    History(path).close()
    assert _mode(path) == 0o600


def test_wal_mode_and_schema_version(history):
    history.add("r", mesh=MESH, source="")
    conn = sqlite3.connect(history.path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        indexed = {row[1] for row in conn.execute("PRAGMA index_list(runs)").fetchall()}
        cols = {conn.execute(f"PRAGMA index_info({name})").fetchone()[2] for name in indexed}
        assert {"submitted", "status", "mesh"} <= cols
    finally:
        conn.close()


def test_reopen_keeps_rows_and_closed_history_refuses(tmp_path):
    path = tmp_path / "h.sqlite3"
    with History(path) as h:
        h.add("r", mesh=MESH, source="x")
    with History(path) as h:
        assert h.get("r")["source"] == "x"
    with pytest.raises(HistoryError, match="closed"):
        h.get("r")
    h.close()  # idempotent


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "h.sqlite3"
    History(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(HistoryError, match="newer") as info:
        History(path)
    assert str(path) in str(info.value)


def test_path_from_config_and_default(tmp_path, monkeypatch):
    configured = tmp_path / "configured.sqlite3"
    with dask.config.set({"mesh.history.path": str(configured)}):
        assert default_path() == configured
        with History() as h:
            assert h.path == configured
    assert configured.exists()
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    assert default_path() == tmp_path / "data" / "mesh-magics" / "history.sqlite3"


def test_unwritable_path_names_path_and_fix(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    bad = blocker / "history.sqlite3"
    with pytest.raises(HistoryError) as info:
        History(bad)
    message = str(info.value)
    assert str(bad) in message
    assert "mesh.history.path" in message and "DASK_MESH__HISTORY__PATH" in message
    assert isinstance(info.value, MeshError)


def test_corrupt_file_names_path_and_is_left_alone(tmp_path):
    path = tmp_path / "h.sqlite3"
    garbage = b"this is not a database\x00" * 100
    path.write_bytes(garbage)
    with pytest.raises(HistoryError, match="not a usable run-history database") as info:
        History(path)
    assert str(path) in str(info.value)
    assert path.read_bytes() == garbage  # never overwritten


def test_threads_share_one_history(history):
    def write(prefix: str) -> None:
        for i in range(50):
            history.add(f"{prefix}-{i}", mesh=MESH, source=f"{prefix} {i}")
            history.update(f"{prefix}-{i}", status="finished", stdout_tail=str(i))

    threads = [threading.Thread(target=write, args=(p,)) for p in ("main", "bg")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert history.count(status="finished") == 100


_WRITER = textwrap.dedent(
    """
    import os, sys, time
    from mesh_magics.store.history import History

    path, worker, go = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    open(f"{go}.ready{worker}", "w").close()
    while not os.path.exists(go):
        time.sleep(0.005)
    with History(path) as h:
        for i in range(50):
            rid = f"w{worker}-{i:03d}"
            h.add(rid, mesh="tcp://m:1", source=f"print({worker}, {i})", kernel_id=f"k{worker}")
            h.update(rid, status="running", started=time.time())
            h.update(rid, status="finished", finished=time.time(),
                     stdout_tail=f"{worker} {i}\\n", summary={"worker": worker, "i": i})
    """
)


def test_several_processes_write_at_once(tmp_path):
    path = tmp_path / "shared.sqlite3"  # not created yet: the schema set-up races too
    go = tmp_path / "go"
    pythonpath = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": pythonpath}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path), str(w), str(go)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for w in range(4)
    ]
    deadline = time.monotonic() + 30
    while not all(Path(f"{go}.ready{w}").exists() for w in range(4)):  # all at the barrier
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
        time.sleep(0.01)
    go.touch()
    errors = [proc.communicate(timeout=60)[1].decode() for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 4, "\n".join(errors)

    with History(path) as h:
        rows = h.query(None)
    assert len(rows) == 200
    assert {r["id"] for r in rows} == {f"w{w}-{i:03d}" for w in range(4) for i in range(50)}
    for r in rows:
        w, i = int(r["id"][1]), int(r["id"][3:])
        assert r["status"] == "finished"
        assert r["source"] == f"print({w}, {i})"
        assert r["stdout_tail"] == f"{w} {i}\n"
        assert r["summary"] == {"worker": w, "i": i}
        assert r["kernel_id"] == f"k{w}"
        assert r["started"] <= r["finished"]
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def _sample_for_export(h: History) -> None:
    _add_sample(h)
    h.update("r0", started=1000.25, finished=1001.5, targets=["tcp://w:1", "tcp://w:2"])
    h.update("r0", summary={"duration": 1.25, "tasks": 4})
    h.update("r1", source='multi\nline, "quoted" source')


def test_export_csv(history, tmp_path):
    _sample_for_export(history)
    dest = tmp_path / "out.csv"
    assert history.export(dest, status=["finished", "failed"]) == 3
    back = pd.read_csv(dest, keep_default_na=False)
    assert list(back.columns) == list(COLUMNS)
    assert list(back["id"]) == ["r2", "r1", "r0"]
    assert back.loc[1, "source"] == 'multi\nline, "quoted" source'
    r0 = back.loc[2]
    assert json.loads(r0["targets"]) == ["tcp://w:1", "tcp://w:2"]
    assert json.loads(r0["summary"]) == {"duration": 1.25, "tasks": 4}
    assert r0["started"] == "1970-01-01T00:16:40.250000+00:00"
    assert pd.Timestamp(r0["finished"]).timestamp() == 1001.5
    assert back.loc[0, "started"] == ""  # NULL


def test_export_parquet_matches_to_frame(history, tmp_path):
    _sample_for_export(history)
    dest = tmp_path / "out.parquet"
    assert history.export(dest) == 5
    back = pd.read_parquet(dest)
    frame = history.to_frame()
    assert list(back.columns) == list(COLUMNS)
    assert list(back["id"]) == list(frame["id"])
    for col in ("submitted", "started", "finished"):
        assert str(back[col].dtype) == "datetime64[us, UTC]"
        assert back[col].equals(frame[col])
    assert list(back["targets"].map(list)) == list(frame["targets"])
    summaries = [json.loads(s) if isinstance(s, str) else None for s in back["summary"]]
    assert summaries == list(frame["summary"])
    assert list(back["status"]) == list(frame["status"])


def test_export_json_records(history, tmp_path):
    _sample_for_export(history)
    dest = tmp_path / "out.json"
    assert history.export(dest, mesh=MESH, n=2) == 2
    records = json.loads(dest.read_text(encoding="utf-8"))
    assert [r["id"] for r in records] == ["r4", "r3"]
    back = pd.read_json(dest, orient="records", dtype=False)
    assert list(back["id"]) == ["r4", "r3"]
    assert records[0]["submitted"] == "1970-01-01T00:16:44+00:00"
    assert records[0]["name"] == "Ünïcode"
    assert history.export(tmp_path / "all.json") == 5
    full = json.loads((tmp_path / "all.json").read_text(encoding="utf-8"))
    r0 = next(r for r in full if r["id"] == "r0")
    assert r0["targets"] == ["tcp://w:1", "tcp://w:2"]
    assert r0["summary"] == {"duration": 1.25, "tasks": 4}
    assert r0["started"] == "1970-01-01T00:16:40.250000+00:00"


def test_export_bad_suffix(history, tmp_path):
    for name in ("out.xlsx", "out"):
        with pytest.raises(HistoryError) as info:
            history.export(tmp_path / name)
        assert ".csv, .parquet, .json" in str(info.value)
        assert not (tmp_path / name).exists()


def test_to_frame_empty_has_columns(history):
    frame = history.to_frame()
    assert list(frame.columns) == list(COLUMNS) and len(frame) == 0


def test_runs_a_dead_kernel_left_in_flight_are_closed_as_lost(tmp_path):
    """A kernel killed (or restarted) mid-run leaves its row running: the server shows it
    lost at once, and the next history that opens closes it; live processes' rows stay."""
    import subprocess
    import sys

    from mesh_magics.server.histories import RunQuery, RunStore

    path = tmp_path / "h.sqlite3"
    code = (
        "import os, sys\n"
        "from mesh_magics.store.history import History\n"
        "h = History(sys.argv[1])\n"
        "h.add('orphan', mesh='tcp://m:1', source='sleep', status='running')\n"
        "os._exit(0)\n"  # gone without closing anything, like a killed kernel
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True)
    with History(path) as h:
        h.add("alive", mesh="tcp://m:1", source="mine", status="running")  # this process: live
        assert h.get("orphan")["status"] == "running" and h.get("orphan")["pid"] is not None
        store = RunStore(default=lambda: path)
        try:
            listed = {r["id"]: r["status"] for r in store.page(RunQuery(limit=10))["runs"]}
            assert listed == {"orphan": "lost", "alive": "running"}  # the panel sees it lost
            assert store.get("orphan")["error"] == "its kernel exited while the run was in flight"
        finally:
            store.close()
        assert h.close_orphans() == 1 and h.close_orphans() == 0
        row = h.get("orphan")
        assert row["status"] == "lost" and row["finished"] is not None and "kernel exited" in row["error"]
        assert h.get("alive")["status"] == "running"


def test_a_version_1_history_is_migrated_in_place(tmp_path):
    import sqlite3

    path = tmp_path / "v1.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE runs (id TEXT PRIMARY KEY NOT NULL, mesh TEXT NOT NULL, name TEXT, source TEXT NOT NULL,"
        " source_hash TEXT NOT NULL, targets TEXT NOT NULL DEFAULT '[]', submitted REAL NOT NULL,"
        " started REAL, finished REAL, status TEXT NOT NULL, error TEXT, stdout_tail TEXT,"
        " stderr_tail TEXT, result TEXT, summary TEXT, kernel_id TEXT, session_id TEXT)"
    )
    conn.execute(
        "INSERT INTO runs (id, mesh, source, source_hash, submitted, status) VALUES ('old', 'm', 'x', 'h', 1.0, 'running')"
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with History(path) as h:
        row = h.get("old")
        assert row["source"] == "x" and row["pid"] is None and row["host"] is None
        assert h.close_orphans() == 0  # a run recorded before the history knew its process stays

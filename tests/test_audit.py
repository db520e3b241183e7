"""The audit trail: append-only SQLite events, one record per run, filters, export, no secrets.

The store is exercised on real files; the trail a mesh writes, on the session's real
LocalCluster (scheduler and worker processes)."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import stat
import subprocess
import sys
import time

import dask
import pytest

import mesh_magics
from mesh_magics.errors import AuditError, MeshError, RunError
from mesh_magics.store.audit import AuditLog, redact_address, scrub

TOKEN = "tok-3f9a1c07d2b84e6f"
PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"


@pytest.fixture()
def log(tmp_path):
    with AuditLog(tmp_path / "audit.sqlite3") as a:
        yield a


def _raw(path) -> bytes:
    """The database and its side files as bytes: what a reader of the disk would see."""
    out = b""
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            out += open(f"{path}{suffix}", "rb").read()
        except FileNotFoundError:
            pass
    return out


def test_append_only_even_through_sqlite_itself(log):
    log.append("submitted", run_id="r1", mesh="tcp://127.0.0.1:1", code_hash="h", targets=["tcp://w:1"])
    conn = sqlite3.connect(log.path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE events SET user = 'mallory'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM events")
    conn.close()
    assert [e["event"] for e in log.events()] == ["submitted"]
    assert stat.S_IMODE(os.stat(log.path).st_mode) == 0o600


def test_runs_join_submitted_and_ended_newest_first_with_filters(log):
    log.append("submitted", run_id="aaa1", mesh="tcp://h:1", name="one", user="ann", notebook="a.ipynb")
    log.append("submitted", run_id="bbb2", mesh="tcp://h:2", name="two", user="bob")
    log.append("ended", run_id="aaa1", mesh="tcp://h:1", outcome="failed", error_type="RemoteError",
               started=10.0, finished=12.5, output_bytes=7)  # fmt: skip
    runs = log.runs()
    assert [r["run_id"] for r in runs] == ["bbb2", "aaa1"]
    assert runs[0]["outcome"] is None and runs[1]["outcome"] == "failed"
    assert runs[1]["output_bytes"] == 7 and runs[1]["finished"] == 12.5
    assert [r["run_id"] for r in log.runs(user="ann")] == ["aaa1"]
    assert [r["run_id"] for r in log.runs(outcome="in-flight")] == ["bbb2"]
    assert [r["run_id"] for r in log.runs(outcome=["failed", "finished"])] == ["aaa1"]
    assert [r["run_id"] for r in log.runs(mesh="tcp://h:2")] == ["bbb2"]
    assert [r["run_id"] for r in log.runs(run_id="aa")] == ["aaa1"]
    assert [r["run_id"] for r in log.runs(notebook="a.ipynb")] == ["aaa1"]
    assert log.runs(since=time.time() + 60) == []
    assert len(log.runs(since="2000-01-01T00:00")) == 2
    assert log.users() == ["ann", "bob"]
    with pytest.raises(AuditError, match="ISO-8601"):
        log.runs(since="yesterday")
    with pytest.raises(AuditError, match="unknown outcome 'finsihed'; expected one of finished"):
        log.runs(outcome="finsihed")
    with pytest.raises(AuditError, match="unknown audit event"):
        log.append("deleted")
    with pytest.raises(AuditError, match="unknown audit field"):
        log.append("cancel", source="print(1)")


def test_scrub_and_redact():
    assert redact_address("tls://alice:hunter2@sched:8786?token=abc#x") == "tls://sched:8786"
    assert redact_address("tcp://127.0.0.1:8786") == "tcp://127.0.0.1:8786"
    assert "abc123" not in scrub("http://h/lab?token=abc123&x=1")
    assert "s3cr3t" not in scrub("password: s3cr3t")
    assert "MIIE" not in scrub(f"key {PEM} end")
    assert "Zm9v" not in scrub("Authorization: Bearer Zm9v")
    assert scrub("OSError: no tls://alice:hunter2@sched:8786") == "OSError: no tls://[redacted]@sched:8786"
    assert scrub("plain words stay, mail a@b.c") == "plain words stay, mail a@b.c"


def test_export_csv_and_json_private_and_guarded(log, tmp_path):
    log.append("submitted", run_id="r1", mesh="tcp://h:1", targets=["tcp://w:1"], user="ann")
    log.append("ended", run_id="r1", outcome="finished", started=1.0, finished=2.0, output_bytes=3)
    out = tmp_path / "audit.csv"
    assert log.export(out) == 1
    rows = list(csv.DictReader(out.open()))
    assert rows[0]["run_id"] == "r1" and rows[0]["outcome"] == "finished"
    assert json.loads(rows[0]["targets"]) == ["tcp://w:1"]
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    with pytest.raises(AuditError, match="exists"):
        log.export(out)
    assert log.export(tmp_path / "audit.json", user="nobody") == 0
    assert json.loads((tmp_path / "audit.json").read_text()) == []
    link = tmp_path / "link.json"
    link.symlink_to(log.path)
    with pytest.raises(AuditError, match="audit database"):
        log.export(link, overwrite=True)
    assert log.runs(None)  # the database is intact
    with pytest.raises(AuditError, match=r"\.csv or \.json"):
        log.export(tmp_path / "audit.txt")
    with pytest.raises(AuditError, match="No such file"):
        log.export(tmp_path / "missing-dir" / "audit.csv")


def test_processes_append_at_once(tmp_path):
    path = tmp_path / "audit.sqlite3"
    code = (
        "import sys; from mesh_magics.store.audit import AuditLog\n"
        "a = AuditLog(sys.argv[1])\n"
        "for i in range(40): a.append('submitted', run_id=f'{sys.argv[2]}-{i}', mesh='tcp://h:1')\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), f"p{k}"]) for k in range(3)]
    assert [p.wait(60) for p in procs] == [0, 0, 0]
    with AuditLog(path) as a:
        assert len(a.runs(None)) == 120


def test_a_mesh_audits_its_runs_and_keeps_no_secrets(dask_cluster, tmp_path, monkeypatch):
    """Real runs on real workers: who, where, what (by hash), outcome, output bytes; and no
    token, password or key in any byte of the file, whatever the cells and names held."""
    monkeypatch.setenv("JPY_SESSION_NAME", "work/analysis.ipynb")
    path = tmp_path / "audit.sqlite3"
    with dask.config.set({"mesh.audit.path": str(path), "mesh.history.path": str(tmp_path / "h.sqlite3")}):
        mesh = mesh_magics.connect(dask_cluster)
        try:
            ok = mesh.run(f"secret = {TOKEN!r}\nkey = '''{PEM}'''\nprint('x' * 10)\n42", name="plain")
            assert ok.result() == 42
            with pytest.raises(RunError):
                mesh.run(f"raise KeyError('password={TOKEN}')", name=f"leak token={TOKEN}").result()
            fan = mesh.run("print('hi')", on="all")
            fan.result()
            address = mesh.address
            workers = sorted(mesh.worker_addresses())
        finally:
            mesh.down()
    with AuditLog(path) as a:
        runs = a.runs()
        events = [e["event"] for e in a.events()]
    assert events[0] == "connected" and events[-1] == "down"
    by_name = {r["name"]: r for r in runs}
    plain = by_name["plain"]
    assert plain["outcome"] == "finished" and plain["output_bytes"] == 11
    assert plain["user"] and plain["host"] and plain["pid"] == os.getpid()
    assert plain["notebook"] == "work/analysis.ipynb" and plain["mesh"] == address
    assert len(plain["code_hash"]) == 64 and plain["started"] <= plain["finished"]
    assert len(plain["targets"]) == 1 and plain["targets"][0] in workers
    failed = [r for r in runs if r["outcome"] == "failed"]
    assert len(failed) == 1 and failed[0]["error_type"] == "RemoteError"
    assert "[redacted]" in failed[0]["name"]
    assert sorted(next(r for r in runs if r["name"] == fan.name)["targets"]) == workers
    raw = _raw(path)
    for secret in (TOKEN, "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "print('x'"):
        assert secret.encode() not in raw, secret


def test_an_unusable_trail_warns_and_the_mesh_runs_on(dask_cluster, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with dask.config.set({"mesh.audit.path": str(blocker / "audit.sqlite3"), "mesh.history.enabled": False}):
        mesh = mesh_magics.connect(dask_cluster)
        try:
            assert mesh.run("1 + 1").result() == 2
            assert mesh.audit is None
            assert any("audit trail disabled" in w and "mesh.audit.path" in w for w in mesh.warnings)
        finally:
            mesh.down()


def test_closed_trail_refuses(tmp_path):
    a = AuditLog(tmp_path / "a.sqlite3")
    a.close()
    with pytest.raises(MeshError, match="closed"):
        a.runs()

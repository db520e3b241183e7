"""What exports may not overwrite, and the modes of the history's files: real files in tmp_path."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

import dask
import pytest

from mesh_magics.errors import HistoryError
from mesh_magics.store import registry
from mesh_magics.store.history import History


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture()
def env(tmp_path):
    """A history with two runs and a registry with one entry, both under tmp_path."""
    old = os.umask(0o022)  # a usual umask: anything not made private would be 0644
    with dask.config.set(
        {
            "mesh.history.path": str(tmp_path / "h" / "history.sqlite3"),
            "mesh.registry.path": str(tmp_path / "reg"),
        }
    ):
        registry.register(
            {"id": "k1", "scheduler_address": "tcp://127.0.0.1:1", "kind": "connected", "pid": os.getpid()}
        )
        with History() as h:
            h.add("r1", mesh="tcp://127.0.0.1:1", source="token = 'secret'")
            h.add("r2", mesh="tcp://127.0.0.1:1", source="print(2)")
            yield h
    os.umask(old)


def test_an_existing_file_is_kept_unless_asked(env, tmp_path):
    dest = tmp_path / "runs.json"
    dest.write_text("the user's own notes")
    with pytest.raises(HistoryError, match="the file exists.*overwrite=True.*--force"):
        env.export(dest)
    assert dest.read_text() == "the user's own notes"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".runs")] == []  # no temporary left
    assert env.export(dest, overwrite=True) == 2
    assert [r["id"] for r in json.loads(dest.read_text())] == ["r2", "r1"]


def test_a_dangling_link_is_an_existing_file(env, tmp_path):
    dest = tmp_path / "runs.csv"
    dest.symlink_to(tmp_path / "elsewhere.csv")
    with pytest.raises(HistoryError, match="exists"):
        env.export(dest)
    assert not (tmp_path / "elsewhere.csv").exists()


def test_the_database_and_its_files_are_never_export_targets(env, tmp_path):
    db = env.path
    before = {p.name: p.read_bytes() for p in db.parent.iterdir()}
    assert {"history.sqlite3", "history.sqlite3-wal", "history.sqlite3-shm"} <= set(before)
    for name in before:  # links with an export suffix, pointing at the database's files
        link = tmp_path / f"to-{name}.parquet"
        link.symlink_to(db.parent / name)
        with pytest.raises(HistoryError, match="run-history database"):
            env.export(link, overwrite=True)
        hard = tmp_path / f"hard-{name}.json"
        os.link(db.parent / name, hard)
        with pytest.raises(HistoryError, match="run-history database"):
            env.export(hard, overwrite=True)
    # a database whose own name has an export suffix
    with History(tmp_path / "runs.json") as named:
        named.add("x", mesh="tcp://127.0.0.1:1", source="1")
        with pytest.raises(HistoryError, match="database itself"):
            named.export(tmp_path / "runs.json", overwrite=True)
        assert named.get("x") is not None
    assert env.count() == 2 and sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_the_registry_is_never_an_export_target(env, tmp_path):
    entry = registry.entry_path("k1")
    text = entry.read_text()
    for dest in (entry, tmp_path / "reg" / "new.json", tmp_path / "reg" / "sub" / "x.csv"):
        with pytest.raises(HistoryError, match="mesh registry"):
            env.export(dest, overwrite=True)
    assert entry.read_text() == text and [e["id"] for e in registry.entries()] == ["k1"]
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(HistoryError, match="is a directory"):
        env.export(tmp_path / "dir.json", overwrite=True)


@pytest.mark.parametrize("suffix", [".json", ".csv", ".parquet"])
def test_exports_are_private_and_the_database_stays_so(env, tmp_path, suffix):
    dest = tmp_path / f"out{suffix}"
    env.export(dest)
    assert _mode(dest) == 0o600  # it holds the sources and outputs, like the database
    dest.chmod(0o644)
    env.export(dest, overwrite=True)
    assert _mode(dest) == 0o600
    for p in env.path.parent.iterdir():
        assert _mode(p) == 0o600, p
    assert _mode(env.path.parent) == 0o700
    assert _mode(tmp_path / "reg") == 0o700 and _mode(registry.entry_path("k1")) == 0o600


def test_loose_files_left_beside_an_old_database_are_tightened(tmp_path):
    db = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE notes (x)")  # schema version 0: the history migrates it
    conn.execute("INSERT INTO notes VALUES (1)")
    conn.commit()
    for p in tmp_path.iterdir():
        p.chmod(0o644)
    assert {p.name for p in tmp_path.iterdir()} == {"old.sqlite3", "old.sqlite3-wal", "old.sqlite3-shm"}
    with History(db) as h:
        h.add("r", mesh="tcp://127.0.0.1:1", source="x")
        modes = {p.name: _mode(p) for p in tmp_path.iterdir()}
    conn.close()
    assert modes == dict.fromkeys(["old.sqlite3", "old.sqlite3-wal", "old.sqlite3-shm"], 0o600)
    with sqlite3.connect(db) as c:  # migrated, the user's table kept
        assert c.execute("SELECT x FROM notes").fetchall() == [(1,)]

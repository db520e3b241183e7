"""The registry of live meshes: real files in tmp dirs, real processes, no mocks."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import dask
import pytest

from mesh_magics import __version__
from mesh_magics.errors import RegistryError
from mesh_magics.store import registry

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def regdir(tmp_path):
    path = tmp_path / "registry"
    with dask.config.set({"mesh.registry.path": str(path)}):
        yield path


def _entry(entry_id: str = "kernel-1", pid: int | None = None, **extra) -> dict:
    return {
        "id": entry_id,
        "scheduler_address": "tcp://127.0.0.1:8786",
        "dashboard_link": "http://127.0.0.1:8787/status",
        "kernel_id": entry_id,
        "kind": "local-cpu",
        "pid": os.getpid() if pid is None else pid,
        **extra,
    }


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # exited and reaped: the pid is free
    return proc.pid


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _env(regdir: Path) -> dict[str, str]:
    pythonpath = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": pythonpath, "DASK_MESH__REGISTRY__PATH": str(regdir)}


def test_registry_dir_from_config_and_default(tmp_path, monkeypatch):
    configured = tmp_path / "a" / "b"
    with dask.config.set({"mesh.registry.path": str(configured)}):
        assert registry.registry_dir() == configured
    assert _mode(configured) == 0o700
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    assert registry.registry_dir() == tmp_path / "runtime" / "mesh-magics"
    assert _mode(tmp_path / "runtime" / "mesh-magics") == 0o700


def test_register_entries_unregister(regdir):
    path = registry.register(_entry(session_id="s1", history_path="/h.sqlite3"))
    assert path == regdir / "mesh-kernel-1.json"
    assert _mode(path) == 0o600
    stored = json.loads(path.read_text())
    assert stored["host"] == socket.gethostname()
    assert stored["version"] == __version__
    assert stored["created"].endswith("+00:00")
    assert "path" not in stored and "stale" not in stored

    (found,) = registry.entries()
    assert found["id"] == "kernel-1"
    assert found["scheduler_address"] == "tcp://127.0.0.1:8786"
    assert (found["session_id"], found["history_path"]) == ("s1", "/h.sqlite3")
    assert found["path"] == str(path)
    assert found["stale"] is False
    assert registry.is_stale(found) is False

    assert registry.unregister("kernel-1") is True
    assert registry.unregister("kernel-1") is False  # already gone: not an error
    assert registry.entries() == []


def test_optional_keys_default_and_given_values_kept(regdir):
    entry = {"id": "pid-42", "scheduler_address": "tls://h:1", "kind": "connected", "pid": 42}
    path = registry.register({**entry, "host": "elsewhere", "created": "2026-01-01T00:00:00+00:00"})
    stored = json.loads(path.read_text())
    assert stored["dashboard_link"] is None and stored["kernel_id"] is None
    assert (stored["host"], stored["created"]) == ("elsewhere", "2026-01-01T00:00:00+00:00")


@pytest.mark.parametrize("key", registry.REQUIRED_KEYS)
def test_missing_required_key_is_named(regdir, key):
    entry = _entry()
    del entry[key]
    with pytest.raises(RegistryError, match=repr(key)):
        registry.register(entry)
    assert registry.entries() == []


def test_invalid_values_refused(regdir):
    with pytest.raises(RegistryError, match="kind"):
        registry.register(_entry(kind="quantum"))
    with pytest.raises(RegistryError, match="pid"):
        registry.register(_entry(pid=0))
    with pytest.raises(RegistryError, match="JSON"):
        registry.register(_entry(extra=object()))


def test_file_name_is_sanitised(regdir):
    path = registry.register(_entry("../../etc/pass wd"))
    assert path.parent == regdir
    assert path.name == "mesh-.._.._etc_pass_wd.json"
    assert registry.entries()[0]["id"] == "../../etc/pass wd"
    assert registry.unregister("../../etc/pass wd")


def test_register_again_replaces_atomically(regdir):
    registry.register(_entry(scheduler_address="tcp://old:1"))
    stop = threading.Event()
    seen: list[str] = []
    problems: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            for entry in registry.entries():
                if "error" in entry:
                    problems.append(entry["error"])
                else:
                    seen.append(entry["scheduler_address"])

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(200):
            registry.register(_entry(scheduler_address=f"tcp://new:{i}", padding="x" * 20_000))
    finally:
        stop.set()
        thread.join()
    assert problems == []  # a reader never saw half a file
    assert seen  # and it did read while we were writing
    assert [p.name for p in regdir.iterdir()] == ["mesh-kernel-1.json"]  # no temp files left
    (entry,) = registry.entries()
    assert entry["scheduler_address"] == "tcp://new:199"
    assert _mode(regdir / "mesh-kernel-1.json") == 0o600


def test_dead_pid_is_stale(regdir):
    registry.register(_entry("alive"))
    registry.register(_entry("dead", pid=_dead_pid()))
    by_id = {e["id"]: e for e in registry.entries()}
    assert by_id["alive"]["stale"] is False
    assert by_id["dead"]["stale"] is True
    assert [e["id"] for e in registry.entries(include_stale=False)] == ["alive"]


def test_pid_of_another_user_counts_as_alive(regdir):
    # pid 1 always exists; for a non-root user os.kill(1, 0) raises PermissionError.
    assert registry.is_stale(_entry(pid=1)) is False


def test_other_host_is_not_judged_by_pid(regdir):
    registry.register(_entry("remote", pid=_dead_pid(), host="some-other-host"))
    (entry,) = registry.entries()
    assert entry["stale"] is False


def test_corrupt_files_are_reported_not_raised(regdir):
    registry.register(_entry("good"))
    (regdir / "mesh-truncated.json").write_text('{"id": "truncated", "sched')
    (regdir / "mesh-list.json").write_text("[1, 2]")
    (regdir / "mesh-partial.json").write_text('{"id": "partial"}')
    (regdir / "mesh-binary.json").write_bytes(b"\xff\xfe\x00")
    (regdir / "unrelated.json").write_text("{}")  # not ours: ignored
    by_id = {e["id"]: e for e in registry.entries()}
    assert set(by_id) == {"good", "truncated", "list", "partial", "binary"}
    for bad in ("truncated", "list", "partial", "binary"):
        assert by_id[bad]["stale"] is True
        assert by_id[bad]["error"]
        assert by_id[bad]["path"] == str(regdir / f"mesh-{bad}.json")
    assert "scheduler_address" in by_id["partial"]["error"]
    assert "error" not in by_id["good"]


def test_prune_removes_only_stale(regdir):
    registry.register(_entry("alive"))
    registry.register(_entry("dead", pid=_dead_pid()))
    registry.register(_entry("remote", pid=_dead_pid(), host="some-other-host"))
    (regdir / "mesh-corrupt.json").write_text("{")
    assert registry.prune() == 2
    assert sorted(e["id"] for e in registry.entries()) == ["alive", "remote"]
    assert registry.prune() == 0


_CHILD = textwrap.dedent(
    """
    import atexit, os, sys, time
    from mesh_magics.store import registry

    def entry(entry_id):
        return {"id": entry_id, "scheduler_address": "tcp://127.0.0.1:1",
                "dashboard_link": None, "kernel_id": None, "kind": "local-cpu",
                "pid": os.getpid()}

    hooks = atexit._ncallbacks()
    for entry_id in ("first", "second"):
        registry.register(entry(entry_id))
    registry.install_exit_cleanup("first")
    registry.install_exit_cleanup("first")
    registry.install_exit_cleanup("second")  # replaces "first"
    assert atexit._ncallbacks() == hooks + 1, "the exit hook was registered twice"
    print("ready", flush=True)
    if sys.argv[1] == "wait":
        time.sleep(60)
    """
)


def test_exit_cleanup_on_normal_exit(regdir):
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, "exit"],
        env=_env(regdir),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ready"
    # "second" was removed by the exit hook; "first" was replaced as the hook's id,
    # so it stays behind, and is stale now that its process is gone.
    (entry,) = registry.entries()
    assert entry["id"] == "first"
    assert entry["stale"] is True


def test_sigkill_leaves_a_stale_entry(regdir):
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, "wait"],
        env=_env(regdir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        assert {e["id"]: e["stale"] for e in registry.entries()} == {
            "first": False,
            "second": False,
        }
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)  # reaps it and closes the pipes
    by_id = {e["id"]: e for e in registry.entries()}
    assert set(by_id) == {"first", "second"}  # the hook never ran
    assert by_id["second"]["pid"] == proc.pid
    assert by_id["second"]["stale"] is True
    assert registry.prune() == 2
    assert registry.entries() == []


def test_exit_hook_leaves_a_newer_owners_file(regdir):
    # A restarted kernel re-registers the same id from a new process before the old
    # one's exit hook runs: the old process must not delete the new file.
    takeover = 'registry.register({**entry("second"), "pid": int(sys.argv[2])})\nprint("ready", flush=True)'
    script = _CHILD.replace('print("ready", flush=True)', takeover)
    other_pid = os.getpid()
    proc = subprocess.run(
        [sys.executable, "-c", script, "exit", str(other_pid)],
        env=_env(regdir),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    by_id = {e["id"]: e for e in registry.entries()}
    assert by_id["second"]["pid"] == other_pid
    assert by_id["second"]["stale"] is False

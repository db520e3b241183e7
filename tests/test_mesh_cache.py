"""The result cache (``Mesh.run(code, cache=True)``, ``%%mesh --cache``) on a real embedded mesh.

Every "not run again" is proved by a side effect on the worker: the cell appends a line to a
counter file, which a hit must leave alone; every "runs again" by the line it adds.
"""

from __future__ import annotations

import time

import dask
import pytest
from _mesh import isolated_mesh

from mesh_magics.core.cached import CachedRun
from mesh_magics.errors import MeshConfigError, MeshUsageError, RemoteError
from mesh_magics.worker import cell


class Recorder:
    """A renderer that keeps every chunk and message."""

    def __init__(self) -> None:
        self.chunks: list[tuple[tuple[str, str], str]] = []
        self.messages: list[str] = []

    def chunk(self, key, label, text):
        self.chunks.append((key, text))

    def render(self, key, label, stream):
        pass

    def message(self, text, stream="stderr"):
        self.messages.append(text)


@pytest.fixture(scope="module")
def mesh(tmp_path_factory):
    with isolated_mesh(tmp_path_factory.mktemp("mesh")) as m:
        yield m


@pytest.fixture(autouse=True)
def empty_cache(mesh):
    mesh.cache.clear()
    yield


@pytest.fixture()
def counter(tmp_path):
    """A file each run of a cell appends a line to (the workers share this machine's disk)."""
    path = tmp_path / "runs.txt"

    def runs() -> int:
        return len(path.read_text().splitlines()) if path.exists() else 0

    runs.path = path  # type: ignore[attr-defined]
    return runs


def count(counter) -> str:
    """A statement that appends a line to the counter file (literal path: part of the code)."""
    return f"open({str(counter.path)!r}, 'a').write('ran\\n')\n"


def test_a_hit_does_not_run_the_cell_again_and_replays_its_output_and_value(mesh, counter):
    code = count(counter) + "print('computing')\nimport sys\nprint('warn', file=sys.stderr)\n21 * 2"
    first = mesh.run(code, cache=True, renderer=Recorder())
    assert counter() == 1 and first.result() == 42 and first.cached_from is None
    rec = Recorder()
    second = mesh.run(code, cache=True, renderer=rec)
    assert counter() == 1  # the cell did not run
    assert isinstance(second, CachedRun) and second.cached_from == first.id
    assert mesh.get_run(second.id) is second and mesh.runs()[-1] is second  # listed with the runs
    assert second.status == "finished" and second.result() == 42
    assert second.stdout == "computing\n" and second.stderr == "warn\n"
    assert [t for _, t in rec.chunks] == ["computing\n", "warn\n"]
    assert any(m.startswith(f"cached (from run {first.name} at ") for m in rec.messages), rec.messages
    third = mesh.run(code, renderer=Recorder())  # without cache=True the cell always runs
    assert counter() == 2 and third.result() == 42


def test_a_changed_pushed_value_runs_again(mesh, counter):
    code = count(counter) + "cache_x * 10"
    ns = {"cache_x": [1, 2]}
    assert mesh.run(code, push=["cache_x"], user_ns=ns, cache=True).result() == [1, 2] * 10
    assert counter() == 1
    ns["cache_x"] = [3]
    rec = Recorder()
    assert mesh.run(code, push=["cache_x"], user_ns=ns, cache=True, renderer=rec).result() == [3] * 10
    assert counter() == 2 and any("`cache_x` is not what run" in m for m in rec.messages), rec.messages
    # back to the first value: the first entry's input holds, but the worker's cache_x is [3] now
    # where that run left [1, 2] (a push binds it there), so it runs again to leave what it would
    ns["cache_x"] = [1, 2]
    rec = Recorder()
    assert mesh.run(code, push=["cache_x"], user_ns=ns, cache=True, renderer=rec).result() == [1, 2] * 10
    assert counter() == 3 and any("`cache_x` is no longer what run" in m for m in rec.messages), rec.messages
    again = mesh.run(code, push=["cache_x"], user_ns=ns, cache=True)
    assert isinstance(again, CachedRun) and again.result() == [1, 2] * 10 and counter() == 3
    assert mesh.run("cache_x").result() == [1, 2]


def test_a_name_read_from_the_worker_namespace_is_part_of_the_key(mesh, counter):
    mesh.run("cache_base = 5")
    code = count(counter) + "cache_base + 1"
    assert mesh.run(code, cache=True).result() == 6
    assert isinstance(mesh.run(code, cache=True), CachedRun) and counter() == 1
    mesh.run("cache_base = 7")  # another cell changes what the cached cell reads
    assert mesh.run(code, cache=True).result() == 8 and counter() == 2
    mesh.run("cache_rows = [1]")
    rows = count(counter) + "len(cache_rows)"
    assert mesh.run(rows, cache=True).result() == 1 and counter() == 3
    mesh.run("cache_rows.append(2)")  # changed in place, not rebound
    assert mesh.run(rows, cache=True).result() == 2 and counter() == 4


def test_a_hit_needs_the_names_the_cell_bound_still_in_the_namespace(mesh, counter):
    code = count(counter) + "cache_y = 6\ncache_y + 1"
    assert mesh.run(code, cache=True).result() == 7
    assert isinstance(mesh.run(code, cache=True), CachedRun) and counter() == 1
    mesh.run("cache_y = 100")  # a later cell rebinds what the cached cell bound
    rec = Recorder()
    assert mesh.run(code, cache=True, renderer=rec).result() == 7 and counter() == 2
    assert any("`cache_y` is no longer what run" in m for m in rec.messages), rec.messages
    assert mesh.run("cache_y").result() == 6  # the cell ran again: later cells see what it binds
    mesh.client.run(cell.drop_session, mesh.session)  # the namespaces are gone (a worker restart)
    assert mesh.run(code, cache=True).result() == 7 and counter() == 3
    assert mesh.run("cache_y").result() == 6


def test_a_cell_that_changes_what_it_reads_is_never_served(mesh, counter):
    mesh.run("cache_n = 0")
    code = count(counter) + "cache_n += 1\ncache_n"
    assert [mesh.run(code, cache=True).result() for _ in range(3)] == [1, 2, 3]
    assert counter() == 3


def test_a_fan_out_run_is_served_per_worker(mesh, counter):
    code = count(counter) + "import os\nos.getpid() > 0"
    first = mesh.run(code, on="all", cache=True)
    assert counter() == 2 and set(first.result().values()) == {True}
    hit = mesh.run(code, on="all", cache=True)
    assert isinstance(hit, CachedRun) and hit.result() == first.result() and counter() == 2
    one = mesh.run(code, on=[first.targets[0]], cache=True)  # another targets policy: another key
    assert not isinstance(one, CachedRun) and counter() == 3


def test_pulled_values_come_back_on_a_hit_and_each_hit_gets_a_fresh_value(mesh, counter):
    code = count(counter) + "cache_out = {'a': [1]}\ncache_out"
    ns: dict = {}
    run = mesh.run(code, pull=["cache_out"], user_ns=ns, cache=True)
    run.result()["a"].append("changed in the notebook")
    again = mesh.run(code, pull=["cache_out"], user_ns=ns, cache=True)
    assert isinstance(again, CachedRun) and counter() == 1
    assert again.result() == {"a": [1]} and again.pull_values == {"cache_out": {"a": [1]}}


def test_a_value_without_a_deterministic_token_is_not_stored(mesh, counter):
    code = count(counter) + "import threading\ncache_lock = threading.Lock()\n1"
    rec = Recorder()
    mesh.run(code, cache=True, renderer=rec)
    assert any("`cache_lock` has no deterministic Dask token" in m for m in rec.messages), rec.messages
    assert not isinstance(mesh.run(code, cache=True), CachedRun) and counter() == 2
    assert len(mesh.cache) == 0


def test_failed_runs_are_not_cached(mesh, counter):
    code = count(counter) + "raise ValueError('nope')"
    for n in (1, 2):
        with pytest.raises(RemoteError):
            mesh.run(code, cache=True).result()
        assert counter() == n
    assert len(mesh.cache) == 0


def test_a_hit_is_a_history_row_pointing_to_the_original_run(mesh, counter):
    code = count(counter) + "'logged'"
    first = mesh.run(code, cache=True, name="cache-original")
    hit = mesh.run(code, cache=True, name="cache-replay")
    row = mesh.history.get(hit.id)
    assert row["cached_from"] == first.id and row["status"] == "finished" and row["name"] == "cache-replay"
    assert row["summary"]["cache"]["from"] == first.id and row["result"] == "'logged'"
    assert mesh.history.get(first.id)["cached_from"] is None


def test_a_hit_is_in_the_audit_trail_naming_the_run_it_replayed(mesh, counter):
    code = count(counter) + "'audited'"
    first = mesh.run(code, cache=True, name="cache-audited")
    hit = mesh.run(code, cache=True, name="cache-audited-hit")
    assert counter() == 1
    events = [(e["event"], e["outcome"], e["detail"]) for e in mesh.audit.events(run_id=hit.id)]
    assert events == [("submitted", None, f"cached from run {first.id}"),
                      ("ended", "finished", f"cached from run {first.id}")]  # fmt: skip
    assert [e["detail"] for e in mesh.audit.events(run_id=first.id)] == [None, None]


def test_the_cache_is_bounded_and_clearable(mesh, counter):
    a, b = count(counter) + "'a'", count(counter) + "'b'"
    with dask.config.set({"mesh.cache.max-entries": 1}):
        mesh.run(a, cache=True)
        mesh.run(b, cache=True)  # evicts a
        assert [e.source for e in mesh.cache.entries()] == [b]
        assert not isinstance(mesh.run(a, cache=True), CachedRun) and counter() == 3
    with dask.config.set({"mesh.cache.max-bytes": "10B"}):
        rec = Recorder()
        mesh.run(count(counter) + "'c' * 100", cache=True, renderer=rec)
        assert any("over mesh.cache.max-bytes" in m for m in rec.messages), rec.messages
    assert mesh.cache.clear() == 1 and len(mesh.cache) == 0
    assert not isinstance(mesh.run(a, cache=True), CachedRun) and counter() == 5
    for bad in ({"mesh.cache.max-bytes": "lots"}, {"mesh.cache.max-entries": -1}):
        with dask.config.set(bad), pytest.raises(MeshConfigError, match="mesh.cache.max-"):
            mesh.run(a, cache=True)
    assert counter() == 5  # refused before anything ran


def test_a_cell_the_cache_cannot_follow_is_refused_before_it_runs(mesh, counter):
    for code in ("globals()['cache_z'] = 1", "exec('cache_z = 1')", "from os.path import *"):
        with pytest.raises(MeshUsageError, match="cache=True"):
            mesh.run(count(counter) + code, cache=True)
    with pytest.raises(MeshUsageError, match="True or False"):
        mesh.run("1", cache="yes")
    assert counter() == 0
    assert mesh.run("1 + 1").result() == 2  # the mesh carries on


def test_a_cell_sent_straight_to_the_session_actor_is_cached_alike(mesh, counter):
    with dask.config.set({"mesh.run.session-actors": True}):
        mesh.run("pass")  # makes the session's actor on its worker, in the background
        deadline = time.time() + 20
        while mesh._dispatch.actors.ready(mesh.client, mesh._dispatch.home) is None:
            assert time.time() < deadline, "the session's actor was not ready in time"
            time.sleep(0.05)
        code = count(counter) + "cache_direct = 2\ncache_direct ** 10"
        first = mesh.submit(code, cache=True)
        assert [getattr(t.future, "direct", False) for t in first._targets] == [True]  # no task
        assert first.wait(30) and first.result() == 1024 and counter() == 1
        hit = mesh.run(code, cache=True)
        assert isinstance(hit, CachedRun) and hit.result() == 1024 and counter() == 1
        mesh.run("cache_direct = 3")
        assert mesh.run(code, cache=True).result() == 1024 and counter() == 2


def test_a_noblock_run_is_stored_when_it_ends_and_a_noblock_hit_has_ended(mesh, counter):
    code = count(counter) + "import time\ntime.sleep(0.2)\n'slow'"
    run = mesh.run(code, cache=True, block=False)
    assert run.wait(30) and run.result() == "slow" and counter() == 1
    deadline = time.time() + 10
    while not len(mesh.cache):  # stored by the pump thread as the run ends
        assert time.time() < deadline, "the run was not stored"
        time.sleep(0.02)
    hit = mesh.run(code, cache=True, block=False)
    assert isinstance(hit, CachedRun) and hit.done() and hit.result() == "slow" and counter() == 1
    assert not hit.cancel()  # nothing to cancel: it ran nothing


def test_what_a_namespace_function_reads_is_seen_through_its_token(mesh, counter):
    mesh.run("cache_data = [1, 2]\ndef cache_size():\n    return len(cache_data)")
    code = count(counter) + "cache_size()"  # reads cache_data only through the function
    assert mesh.run(code, cache=True).result() == 2
    assert isinstance(mesh.run(code, cache=True), CachedRun) and counter() == 1
    mesh.run("cache_data.append(3)")
    assert mesh.run(code, cache=True).result() == 3 and counter() == 2


def test_an_entry_that_no_longer_reads_back_is_dropped_and_the_cell_runs(mesh, counter):
    code = count(counter) + "'kept'"
    mesh.run(code, cache=True)
    (entry,) = mesh.cache.entries()
    entry.blob = b"not a pickle"  # as a result whose class is gone from the kernel reads back
    rec = Recorder()
    assert mesh.run(code, cache=True, renderer=rec).result() == "kept" and counter() == 2
    assert any("cannot be read back" in m for m in rec.messages), rec.messages
    assert entry not in mesh.cache.entries() and len(mesh.cache) == 1  # the new run's entry
    assert isinstance(mesh.run(code, cache=True), CachedRun) and counter() == 2

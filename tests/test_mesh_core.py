"""The plain-Python core against a real embedded mesh (scheduler + 2 worker processes)."""

from __future__ import annotations

import threading
import time

import pytest
from _mesh import isolated_mesh

import mesh_magics
from mesh_magics.errors import (
    MeshUsageError,
    PullError,
    PushError,
    RemoteError,
    RunCancelledError,
    RunTimeoutError,
)
from mesh_magics.worker import cell


class Recorder:
    """A renderer that keeps every chunk with its arrival time."""

    def __init__(self) -> None:
        self.chunks: list[tuple[float, tuple[str, str], str]] = []
        self.messages: list[str] = []

    def chunk(self, key, label, text):
        self.chunks.append((time.monotonic(), key, text))

    def render(self, key, label, stream):
        pass

    def message(self, text, stream="stderr"):
        self.messages.append(text)


@pytest.fixture(scope="module")
def mesh(tmp_path_factory):
    with isolated_mesh(tmp_path_factory.mktemp("mesh")) as m:
        yield m


def wait_for_actor(mesh, timeout: float = 20) -> None:
    """Until the session's actor on its worker is ready (made in the background on the first cell)."""
    mesh.run("pass")
    deadline = time.time() + timeout
    while mesh._dispatch.actors.ready(mesh.client, mesh._dispatch.home) is None:
        assert time.time() < deadline, "the session's actor was not ready in time"
        time.sleep(0.05)


def running_on_workers(mesh) -> set[str]:
    return {rid for ids in mesh.client.run(cell.running).values() for rid in ids}


def test_up_describes_the_mesh(mesh):
    st = mesh.status()
    s = st.summary()
    assert s["kind"] == "local-cpu" and s["workers"] == 2 and s["threads"] == 2
    assert s["address"].startswith("tcp://")
    text, page = repr(st), st._repr_html_()
    for w in st.workers:
        assert w.address in text and w.address in page
    assert mesh_magics.up() is mesh  # a second `up` returns the live mesh


def test_output_streams_while_the_cell_runs(mesh):
    rec = Recorder()
    t0 = time.monotonic()
    run = mesh.run("import time\nprint('first', flush=True)\ntime.sleep(1.5)\nprint('second')", renderer=rec)
    end = time.monotonic()
    assert run.status == "finished"
    assert run.stdout == "first\nsecond\n"
    first = next(t for t, _, text in rec.chunks if "first" in text)
    # the first line arrived long before the cell ended, not with the result
    assert end - first > 1.0, (first - t0, end - t0)


def test_namespace_persists_and_last_expression_is_returned(mesh):
    mesh.run("counter = 10")
    run = mesh.run("counter += 1\ncounter * 2")
    assert run.result() == 22
    assert mesh.run("counter").result() == 11


def test_on_all_keeps_one_namespace_per_worker(mesh):
    mesh.run("from distributed import get_worker\nme = str(get_worker().name)", on="all")
    got = mesh.run("me", on="all").result()
    assert got == {w: w for w in got} and len(got) == 2


def test_push_auto_forced_and_pull(mesh):
    ns = {"a": 5, "b": [1, 2]}
    run = mesh.run("c = a * sum(b)", user_ns=ns, pull=["c"])
    assert run.pull_values == {"c": 15}
    # `a` now exists remotely: not pushed again unless forced
    ns["a"] = 100
    assert mesh.run("a", user_ns=ns).result() == 5
    assert mesh.run("a", user_ns=ns, push=["a"]).result() == 100


def test_unpicklable_push_names_the_variable(mesh):
    ns = {"lock_obj": threading.Lock()}
    with pytest.raises(PushError, match="lock_obj") as e:
        mesh.run("print(lock_obj)", user_ns=ns)
    assert "inside a %%mesh cell" in str(e.value)
    with pytest.raises(MeshUsageError, match="nothere"):
        mesh.run("1", user_ns={}, push=["nothere"])


def test_unknown_pull_is_an_error_naming_it(mesh):
    run = mesh.run("zz = 1", pull=["zz", "missing_name"])
    assert run.status == "failed"
    with pytest.raises(PullError, match="missing_name"):
        run.result()
    assert run.pull_values == {"zz": 1}  # what could be pulled still came back


def test_get_client_inside_the_cell_uses_the_whole_mesh(mesh):
    code = (
        "import dask.bag as db\n"
        "from distributed import get_client\n"
        "c = get_client()\n"
        "total = db.from_sequence(range(1000), npartitions=8).sum().compute()\n"
        "(total, len(c.nthreads()))"
    )
    assert mesh.run(code).result() == (499500, 2)


def test_remote_traceback_has_cell_line_numbers_and_worker(mesh):
    run = mesh.run("x1 = 1\n\ndef f():\n    return 1 / 0\nf()")
    with pytest.raises(RemoteError) as e:
        run.result()
    text = "\n".join(e.value._render_traceback_())
    assert "line 5" in text and "line 4" in text and "return 1 / 0" in text
    assert "ZeroDivisionError" in text and "[worker " in text
    assert "mesh_magics" not in text  # none of our frames


def test_several_workers_failing_are_aggregated_with_a_cap(mesh):
    import dask

    with dask.config.set({"mesh.run.max-tracebacks": 1}):
        run = mesh.run("print('before')\nraise ValueError('bad ' + 'input')", on="all")
    err = run.error
    assert isinstance(err, RemoteError) and len(err.failures) == 2
    text = "\n".join(err._render_traceback_())
    assert text.count("Traceback (most recent call last)") == 1
    assert "1 more worker(s) failed with ValueError" in text
    assert "before" not in text  # streamed output is not repeated in the error
    assert run.stdout.count("before") == 2


def test_timeout_cancels_and_interrupts_remote_code(mesh):
    run = mesh.run("import time\nwhile True:\n    time.sleep(0.05)", timeout=1)
    assert run.status == "timeout"
    with pytest.raises(RunTimeoutError):
        run.result()
    deadline = time.time() + 3
    while run.id in running_on_workers(mesh) and time.time() < deadline:
        time.sleep(0.1)
    assert run.id not in running_on_workers(mesh)


def test_noblock_cancel_ends_within_two_seconds(mesh):
    run = mesh.run(
        "import time\nfor i in range(1000):\n    print(i, flush=True)\n    time.sleep(0.1)", block=False
    )
    deadline = time.time() + 10
    while "3\n" not in run.stdout and time.time() < deadline:
        time.sleep(0.05)
    assert run.status == "running" and not run.done()
    t0 = time.monotonic()
    assert run.cancel()
    assert run.wait(2) and time.monotonic() - t0 < 2
    assert run.status == "cancelled"
    with pytest.raises(RunCancelledError):
        run.result()
    time.sleep(1.0)
    assert run.id not in running_on_workers(mesh)
    n_lines = run.stdout.count("\n")
    assert n_lines < 40  # it stopped printing


def test_events_and_history_rows(mesh, tmp_path):
    seen: list[tuple[str, str]] = []
    subs = [
        mesh.on(e, lambda p: seen.append((p["event"], p.get("name"))))
        for e in ("run_started", "run_finished", "run_failed")
    ]
    mesh.run("print('hello history')", name="hist-ok")
    mesh.run("raise KeyError('k')", name="hist-bad")
    for s in subs:
        s.cancel()
    assert ("run_started", "hist-ok") in seen and ("run_finished", "hist-ok") in seen
    assert ("run_failed", "hist-bad") in seen
    rows = {r["name"]: r for r in mesh.history.query(20)}
    assert rows["hist-ok"]["status"] == "finished"
    assert rows["hist-ok"]["stdout_tail"] == "hello history\n"
    assert rows["hist-bad"]["status"] == "failed" and "KeyError" in rows["hist-bad"]["error"]
    out = tmp_path / "runs.csv"
    assert mesh.history.export(out, grep="hist-") == 2
    assert "hist-ok" in out.read_text()
    with pytest.raises(mesh_magics.errors.MeshConfigError):
        mesh.on("no_such_event", print)


def test_registry_entry_written(mesh):
    from mesh_magics.store import registry

    entries = [e for e in registry.entries() if e.get("scheduler_address") == mesh.address]
    assert len(entries) == 1 and entries[0]["kind"] == "local-cpu" and not entries[0]["stale"]


def test_bad_options_are_usage_errors(mesh):
    with pytest.raises(MeshUsageError, match="no worker of this mesh offers"):
        mesh.run("1", resources="GPU=1")
    with pytest.raises(MeshUsageError, match="no such worker"):
        mesh.run("1", on=["nope"])
    with pytest.raises(MeshUsageError, match="^timeout must be"):
        mesh.run("1", timeout=-1)
    assert mesh.run("1 + 1").result() == 2  # the mesh is fine afterwards


def test_gpu_without_gpus_is_a_clear_error():
    from mesh_magics.core.cluster import gpu_probe, start_local
    from mesh_magics.errors import GPUUnavailableError

    if gpu_probe().usable:
        pytest.skip("this machine has a usable GPU")
    with pytest.raises(GPUUnavailableError, match="kind='cpu'"):
        start_local(kind="gpu")


@pytest.mark.parametrize("direct", [True, False], ids=["actor", "task"])
def test_cancel_from_another_client_ends_the_run_as_cancelled(mesh, direct):
    """What the side panel's server does: its own Client, straight to the scheduler. A cell
    sent to the session's actor has no task to cancel: the interrupt alone ends it."""
    import dask
    from distributed import Client

    from mesh_magics.core.cancel import cancel_run

    wait_for_actor(mesh)
    with dask.config.set({"mesh.run.session-actors": direct}):
        run = mesh.run(
            "import time\nfor i in range(1000):\n    print(i, flush=True)\n    time.sleep(0.05)",
            retries=2,
            block=False,
        )
    assert getattr(run._targets[0].future, "direct", False) is direct
    deadline = time.time() + 10
    while "2\n" not in run.stdout and time.time() < deadline:
        time.sleep(0.05)
    with Client(mesh.address, set_as_default=False) as other:
        out = cancel_run(other, run.id)
    assert out["interrupted"] and bool(out["cancelled_keys"]) is not direct
    assert run.wait(5) and run.status == "cancelled"  # not retried, although --retries 2
    deadline = time.time() + 3
    while run.id in running_on_workers(mesh) and time.time() < deadline:
        time.sleep(0.1)
    assert run.id not in running_on_workers(mesh)


def test_output_that_utf8_cannot_carry_never_takes_a_worker_down(mesh):
    """A lone surrogate in stdout, in an error and in a value: the worker keeps its
    connection (same process, namespace kept) and the history keeps recording."""
    pid = mesh.run("import os\nkeep = 'me'\nos.getpid()", on=["0"]).result()["0"]
    run = mesh.run(
        "import sys\nsys.stdout.write('a\\ud800b\\n')\nsys.stderr.write('\\udcff')\n'\\ud800'", on=["0"]
    )
    assert run.status == "finished", run.error
    assert run.stdout == "a\\ud800b\n" and run.stderr == "\\udcff"  # shown escaped
    assert run.result() == {"0": "\ud800"}  # the value itself travels as it is (pickle)
    failed = mesh.run("raise ValueError('bad \\ud800')", on=["0"])
    assert failed.status == "failed" and "bad" in str(failed.error)
    again = mesh.run("import os\n(os.getpid(), keep)", on=["0"]).result()["0"]
    assert again == (pid, "me")  # same worker process, namespace kept
    assert mesh.history is not None and not [w for w in mesh.warnings if "history" in w]
    assert mesh.history.get(run.id)["stdout_tail"] == "a\\ud800b\n"
    assert "bad" in mesh.history.get(failed.id)["error"]


def test_a_cell_scattering_with_broadcast_does_not_cut_the_mesh(mesh):
    """distributed logs scatter(broadcast=True)'s replicate event with WorkerState objects in
    its "all" topic, which closes the connection of every client subscribed to it; the mesh
    follows its workers through its own plugin's topic instead."""
    events: list[str] = []
    for e in ("disconnected", "reconnecting"):
        mesh.on(e, lambda p: events.append(p["event"]))
    run = mesh.run(
        "from distributed import get_client\nf = get_client().scatter([1, 2, 3], broadcast=True)\nlen(f)"
    )
    assert run.result() == 3
    time.sleep(1.0)  # the event travels to subscribers after the cell
    assert mesh.state == "connected" and events == []
    assert mesh.run("40 + 2").result() == 42


def test_the_worker_table_reads_every_worker_while_the_clients_cache_is_emptied(mesh):
    """``Client.scheduler_info()`` returns the client's cached identity, which the client's
    periodic update overwrites with one of no workers (it asks for ``n_workers=0``): read
    between the fetch and the return, the workers are gone although both are up (the CI
    flake of stop 25). The table asks the scheduler itself. A client updating every 5 ms
    makes the race frequent: with ``scheduler_info()`` some of these reads come back empty."""
    import dask
    from distributed import Client

    from mesh_magics.core.workers import WorkerTable

    mesh.client.wait_for_workers(2)
    table = WorkerTable()
    with dask.config.set({"distributed.client.scheduler-info-interval": "5ms"}):
        with Client(mesh.client.scheduler.address) as client:
            sizes = []
            deadline = time.monotonic() + 3.0
            while time.monotonic() < deadline:
                sizes.append(len(table.refresh(client)))
    assert len(sizes) > 500 and set(sizes) == {2}, (len(sizes), sorted(set(sizes)))

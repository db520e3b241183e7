"""Batch runs (``Mesh.map``, the core of ``%%mesh map``) against a real embedded mesh."""

from __future__ import annotations

import threading
import time

import pytest
from _mesh import isolated_mesh

from mesh_magics.core.batching import materialise
from mesh_magics.core.cancel import cancel_run
from mesh_magics.errors import (
    BatchError,
    MeshError,
    MeshUsageError,
    PushError,
    RemoteError,
    RunCancelledError,
    RunTimeoutError,
)


class Recorder:
    """A renderer that keeps what it is given (chunks per key, messages, progress lines)."""

    def __init__(self) -> None:
        self.chunks: list[tuple[tuple[str, str], str]] = []
        self.messages: list[str] = []
        self.lines: list[str] = []

    def chunk(self, key, label, text):
        self.chunks.append((key, text))

    def render(self, key, label, stream):
        pass

    def message(self, text, stream="stderr"):
        self.messages.append(text)

    def progress_line(self, text):
        self.lines.append(text)


@pytest.fixture(scope="module")
def mesh(tmp_path_factory):
    with isolated_mesh(tmp_path_factory.mktemp("mesh")) as m:
        yield m


def wait_until(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_values_in_item_order_across_workers(mesh):
    r = Recorder()
    code = "import time\ntime.sleep(0.05 * (item % 3))\nprint('item', item)\n(item, get_worker().address)"
    b = mesh.map(f"from distributed import get_worker\n{code}", range(12), renderer=r)
    values = b.result()
    assert [v[0] for v in values] == list(range(12))
    assert len({v[1] for v in values}) == 2  # Dask spread the items over both workers
    assert b.status == "finished" and b.counts()["finished"] == 12
    assert all(it.attempts == 1 and it.worker for it in b.items)
    assert b.output(7) == "item 7\n"  # an item not shown live keeps its tail
    shown = {key[0] for key, _ in r.chunks}
    assert shown == {"item 0", "item 1", "item 2"}  # mesh.batch.show-output (3) streamed live
    assert r.lines and r.lines[-1].startswith(f"batch {b.name}: 12/12 finished [finished in")
    # the node map: where the items ran, by worker name, all twelve of them
    from mesh_magics.core.batch_view import BatchProgress, by_worker

    nodes = by_worker(b)
    assert [name for name, _ in nodes] == sorted(b.label(w) for w in {v[1] for v in values})
    assert sum(c["finished"] for _, c in nodes) == 12 and all(c["failed"] == 0 for _, c in nodes)
    for name, counts in nodes:
        ran_there = sum(1 for v in values if b.label(v[1]) == name)
        assert counts["finished"] == ran_there
    bundle = BatchProgress(b)._repr_mimebundle_()
    assert bundle["text/plain"].splitlines()[1:] == [f"  {n}: {c['finished']} finished" for n, c in nodes]
    assert bundle["text/html"].count("<tr>") == 2


def test_a_function_and_the_notebook_variables(mesh):
    ns = {"offset": 100}
    b = mesh.map("item + offset", [1, 2, 3], user_ns=ns)
    assert b.result() == [101, 102, 103]

    def square(x):
        return x * x

    b = mesh.map(square, range(5))
    assert b.result() == [0, 1, 4, 9, 16]
    assert mesh.history.get(b.id)["source"].startswith(
        "# mesh.map(test_a_function_and_the_notebook_variables.<locals>.square"
    )
    # --as: the item's name; a notebook variable of that name is not what the items see
    b = mesh.map("row['a'] * 2", [{"a": 1}, {"a": 5}], as_name="row", user_ns={"row": {"a": 0}})
    assert b.result() == [2, 10]


def test_a_large_pushed_value_is_scattered_once(mesh):
    big = b"x" * (9 * 2**20)  # over the dispatcher's SCATTER_FROM: sent to the workers, not in each task
    b = mesh.map("len(big) + item", range(4), user_ns={"big": big})
    assert b.result() == [len(big) + i for i in range(4)]


def test_items_do_not_share_their_assignments(mesh):
    mesh.run("seen = 'from the session'", on="all")
    b = mesh.map("before = seen\nseen = item\n(before, seen)", range(6))
    assert b.result() == [("from the session", i) for i in range(6)]
    assert mesh.run("seen").result() == "from the session"  # the session's namespace is untouched


def test_failures_are_aggregated_and_the_other_values_kept(mesh):
    import dask

    r = Recorder()
    with dask.config.set({"mesh.run.max-tracebacks": 2}):
        b = mesh.map("if item % 2:\n    raise ValueError(f'odd {item}')\nitem", range(8), renderer=r)
    assert b.status == "failed"
    from mesh_magics.core.batch_view import by_worker

    assert sum(c["failed"] for _, c in by_worker(b)) == 4 and sum(c["finished"] for _, c in by_worker(b)) == 4
    with pytest.raises(BatchError) as info:
        b.result()
    err = info.value
    assert isinstance(err, RemoteError) and isinstance(err, MeshError)
    assert err.failed == 4 and [f["item"] for f in err.failures] == [1, 3, 5, 7]
    assert err.results == [0, None, 2, None, 4, None, 6, None]
    rendered = "\n".join(err._render_traceback_())
    assert "[item 1] ValueError: odd 1" in rendered and "[item 3] ValueError: odd 3" in rendered
    assert "[item 5]" not in rendered and "2 more item(s) failed with ValueError" in rendered
    assert sum("failed after 1 attempt(s)" in m for m in r.messages) == 2  # the first tracebacks only
    assert "4 of 8 items" in str(err)


def test_retries_run_a_failed_item_again(mesh, tmp_path):
    marker = tmp_path / "once"
    code = (
        "import os\n"
        f"p = {str(marker)!r} + str(item)\n"
        "if item == 2 and not os.path.exists(p):\n"
        "    open(p, 'w').close()\n"
        "    raise RuntimeError('first attempt')\n"
        "item"
    )
    r = Recorder()
    b = mesh.map(code, range(4), retries=1, renderer=r)
    assert b.result() == [0, 1, 2, 3]
    assert [it.attempts for it in b.items] == [1, 1, 2, 1]
    assert any("item 2: attempt 1 failed (RuntimeError: first attempt); retrying" in m for m in r.messages)


def test_one_history_row_with_per_item_outcomes(mesh):
    b = mesh.map("assert item != 1, 'not one'\nitem", range(3), name="hist-batch")
    row = mesh.history.get(b.id)
    assert row["name"] == "hist-batch" and row["status"] == "failed"
    assert row["summary"]["batch"] == {
        "items": 3, "queued": 0, "running": 0, "finished": 2, "failed": 1, "cancelled": 0, "lost": 0,
    }  # fmt: skip
    failed = mesh.history.items(b.id, status="failed")
    assert [(i["index"], i["error"]) for i in failed] == [(1, "AssertionError: not one")]
    assert [i["index"] for i in mesh.history.items(b.id)] == [0, 1, 2]
    assert row["result"] == "2 of 3 items finished"
    assert mesh.history.count(grep="hist-batch") == 1  # one row for the whole batch
    audit = [(e["event"], e["outcome"]) for e in mesh.audit.events(run_id=b.id)]
    assert audit == [("submitted", None), ("ended", "failed")]


def test_cancel_ends_the_whole_batch_and_interrupts_the_items(mesh):
    b = mesh.map("import time\nfor _ in range(600):\n    time.sleep(0.1)\nitem", range(6), block=False)
    wait_until(lambda: b.counts()["running"] >= 1)
    assert b.cancel("cancelled by the test")
    assert b.status == "cancelled"
    with pytest.raises(RunCancelledError):
        b.result()
    assert all(it.status == "cancelled" for it in b.items)
    # the items' code was interrupted: the workers are free again for a new batch
    assert mesh.map("item", [1, 2], timeout=60).result() == [1, 2]
    assert mesh.history.get(b.id)["status"] == "cancelled"


def test_an_item_handed_over_after_the_interrupt_does_not_run(mesh, tmp_path):
    """The race a cancel has: the scheduler gives a worker the next item before the futures'
    cancel arrives. Such an item must end as cancelled without running its code."""
    from mesh_magics.worker import batch as worker_batch
    from mesh_magics.worker import cell

    run_id = "interrupted-before-its-items"
    mesh.client.run(cell.interrupt, run_id)  # no item of it runs yet: this only marks it
    marker = tmp_path / "ran"
    common = {"session": "s-test", "run_id": run_id, "code": f"open({str(marker)!r}, 'w').close()\nitem",
              "filename": "<item>", "push": {}, "topic": "t-test", "as_name": "item",
              "flush_interval": 0.05, "max_chunk": 4096, "log_level": "INFO"}  # fmt: skip
    outs = mesh.client.gather(
        mesh.client.map(worker_batch.run_item, [0, 1], ["a", "b"], common=common, pure=False)
    )
    assert [o["status"] for o in outs] == ["cancelled", "cancelled"]
    assert not marker.exists()
    # another run's items on the same workers are not affected
    common["run_id"] = "not-interrupted"
    outs = mesh.client.gather(mesh.client.map(worker_batch.run_item, [0], ["a"], common=common, pure=False))
    assert outs[0]["status"] == "ok" and marker.exists()


def test_an_interrupt_is_raised_only_inside_the_cell_code():
    """Outside the cell's own code (our bookkeeping, distributed's thread pool) an interrupt
    would leave a lock held or the pool a thread short: it must raise nothing there."""
    from mesh_magics.worker import cell

    class Cap:
        sent: list[dict] = []

        def send(self, msg):
            self.sent.append(msg)

    run_id = "registered-not-in-its-code"
    with cell._LOCK:
        cell._RUNNING[run_id] = (threading.get_ident(), Cap())
    try:
        assert cell.interrupt(run_id) is False
        for _ in range(1000):  # a pending async exception would be raised in this loop
            pass
        assert Cap.sent == []
    finally:
        with cell._LOCK:
            cell._RUNNING.pop(run_id, None)


def test_batches_cancelled_at_any_moment_leave_every_worker_usable(mesh):
    """Cancels landing as items start, run and end: afterwards every worker still runs items
    (no thread of the pool lost, no lock left held)."""
    import random

    rng = random.Random(7)
    for _ in range(12):
        b = mesh.map("import logging\nlogging.getLogger('t').info('x')\nsum(range(20000))\nitem",
                     range(8), block=False)  # fmt: skip
        time.sleep(rng.uniform(0, 0.05))
        b.cancel("cancelled by the test")
        b.wait(30)
        assert b.status in ("cancelled", "finished")
    assert mesh.map("item", range(4), timeout=60).result() == [0, 1, 2, 3]
    assert list(
        mesh.run("import logging\nlogging.getLogger('t').info('y')\n1", on="all", timeout=60)
        .result()
        .values()
    ) == [1, 1]


def test_server_side_cancel_reaches_every_item(mesh):
    """What the side panel does: only the run id, through the scheduler."""
    b = mesh.map("import time\nfor _ in range(600):\n    time.sleep(0.1)\nitem", range(4), block=False)
    wait_until(lambda: b.counts()["running"] == 2)  # one per worker (1 thread each)
    out = cancel_run(mesh.client, b.id)
    assert len(out["interrupted"]) == 2 and out["cancelled_keys"]
    assert b.wait(60)
    assert b.status == "cancelled", [(it.status, it.error) for it in b.items]
    assert mesh.map("item * 2", [3]).result() == [6]


def test_timeout_cancels_the_batch(mesh):
    b = mesh.map("import time\nfor _ in range(600):\n    time.sleep(0.1)", range(3), timeout=1.0, block=False)
    assert b.wait(60)
    assert b.status == "timeout"
    with pytest.raises(RunTimeoutError):
        b.result()


@pytest.mark.parametrize(
    ("items", "words"),
    [
        ([], "is empty"),
        (iter(()), "is empty"),
        ("abc", "wrap it in a list"),
        (42, "not iterable"),
    ],
)
def test_bad_items_are_usage_errors(mesh, items, words):
    with pytest.raises(MeshUsageError, match=words):
        mesh.map("item", items)


def test_an_unpicklable_item_is_refused_before_anything_runs(mesh):
    before = mesh.history.count()
    with pytest.raises(PushError, match=r"item 1 of the batch \(lock\) cannot be sent"):
        mesh.map("item", [1, threading.Lock(), 3])
    assert mesh.history.count() == before  # nothing was recorded, nothing ran
    assert mesh.map("item", [1]).result() == [1]  # the mesh is fine


def test_materialise_takes_iterables():
    assert materialise(x for x in range(3)) == [0, 1, 2]
    assert materialise({"a": 1}) == [("a", 1)]
    assert materialise(range(2)) == [0, 1]


def test_an_item_whose_worker_dies_runs_again_elsewhere(mesh, tmp_path):
    """Dask moves the item of a worker that died to a live one; the batch loses nothing."""
    marker = tmp_path / "died"
    code = (
        "import os, time\n"
        "if item == 2 and not os.path.exists({m!r}):\n"
        "    open({m!r}, 'w').close()\n"
        "    time.sleep(0.3)\n"
        "    os._exit(1)\n"
        "item * 3"
    ).format(m=str(marker))
    b = mesh.map(code, range(5), timeout=120)
    assert marker.exists()  # the worker running item 2 did die
    assert b.result() == [0, 3, 6, 9, 12]
    assert b.status == "finished"
    wait_until(lambda: len(mesh.workers()) == 2)  # the nanny restarts it for the next tests


def test_a_batch_started_while_no_worker_is_up_waits_for_one(tmp_path):
    """As a run does (mesh.run.retry-wait): the only worker is restarting when the batch
    starts; the batch waits for it instead of refusing with 'the mesh has no workers'."""
    import os

    with isolated_mesh(tmp_path, run__retry_wait=60.0) as one:
        one.cluster.scale(1)
        wait_until(lambda: len(one.workers()) == 1)
        one.client.run(lambda: os._exit(1), on_error="ignore")
        wait_until(lambda: not one.workers(), timeout=30)  # the nanny has not brought it back yet
        assert one.map("item * 2", [1, 2], timeout=90).result() == [2, 4]

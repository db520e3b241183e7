"""A worker holding the session's actor (mesh_magics.core.direct) can still be retired, with real
processes. distributed refuses to retire a worker holding an actor; the scheduler plugin of
mesh_magics.worker.retire releases the session's actors as retirement starts. So
``Client.retire_workers`` and adaptive scaling retire the worker (its data moved first),
``cluster.scale`` down closes it, the next cell runs on a remaining worker (the task path, then
an actor there), and a cell in flight on the retired worker ends as a task's does (retried
elsewhere with retries, lost without)."""

from __future__ import annotations

import time

import pytest
from _mesh import isolated_mesh, ready

from mesh_magics.errors import WorkerLostError


def is_direct(run) -> list[bool]:
    """Whether each target's current attempt is a direct call (read while the run lives)."""
    return [getattr(t.future, "direct", False) for t in run._targets]


def scheduler_workers(mesh) -> set[str]:
    return set(mesh.client.nthreads())


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not in {timeout} s: {what}"
        time.sleep(0.1)


def actors_on_scheduler(mesh) -> dict[str, list[str]]:
    """The actors each worker holds, as the scheduler sees them."""

    def read(dask_scheduler):
        return {a: sorted(str(ts.key) for ts in ws.actors) for a, ws in dask_scheduler.workers.items()}

    return mesh.client.run_on_scheduler(read)


@pytest.fixture()
def mesh(tmp_path):
    # session actors are the default; set here so that these tests keep to the actors
    with isolated_mesh(tmp_path, run__session_actors=True) as m:
        yield m


def test_retire_workers_takes_the_worker_of_the_session_actor_off_the_mesh(mesh):
    home = ready(mesh)
    assert mesh.run("x = 41").status == "finished"
    assert any(actors_on_scheduler(mesh)[home])
    retired = mesh.client.retire_workers([home], close_workers=True)
    assert home in retired, retired  # distributed alone answers {}: "it holds actor(s)"
    wait_until(lambda: home not in scheduler_workers(mesh), 30, f"{home} left")
    wait_until(lambda: home not in mesh.worker_addresses(), 30, "the mesh saw it leave")
    # the namespace was on the retired worker (as on the task path); the next cell runs at once
    run = mesh.run("try:\n    x\nexcept NameError:\n    x = 0\nx += 1\nx")
    assert run.status == "finished" and run.result() == 1, run.error
    assert mesh._dispatch.home != home
    new_home = ready(mesh)  # an actor on the new worker, lazily
    run = mesh.run("import time\ntime.sleep(0.5)\nx + 41", block=False)  # still running when read
    assert is_direct(run) == [True] and run.wait(10) and run.result() == 42
    assert new_home in scheduler_workers(mesh)


def scatter_one_on_each(mesh) -> dict:
    """A value scattered to each worker only (it cannot be recomputed: lost if not moved)."""
    return {mesh.client.scatter(i, workers=[a]): i for i, a in enumerate(sorted(mesh.worker_addresses()))}


def assert_kept(mesh, data: dict) -> None:
    who = mesh.client.who_has(list(data))  # the scheduler's word: a lost key has no holder
    assert all(who.get(f.key) for f in data), who
    assert mesh.client.gather(list(data)) == list(data.values())


def test_scaling_the_cluster_down_closes_workers_holding_session_actors(mesh):
    """``SpecCluster.scale`` closes the worker whatever its retirement gave (it asks for one by
    worker names where the scheduler reads addresses: a worker's data is lost on a LocalCluster
    with or without actors), so this held before the plugin too; the mesh must go on."""
    for a in mesh.worker_addresses():
        ready(mesh, a)
    assert all(actors_on_scheduler(mesh).values())  # an actor on every worker
    mesh.cluster.scale(1)
    wait_until(lambda: len(scheduler_workers(mesh)) == 1, 60, "one worker left")
    wait_until(lambda: len(mesh.worker_addresses()) == 1, 30, "the mesh saw it leave")
    run = mesh.run("6 * 7")
    assert run.status == "finished" and run.result() == 42, run.error
    [left] = scheduler_workers(mesh)
    ready(mesh, left)
    run = mesh.run("import time\ntime.sleep(0.5)\n6 * 7", block=False)
    assert is_direct(run) == [True] and run.wait(10) and run.result() == 42


def test_adaptive_scaling_retires_workers_holding_session_actors(mesh):
    for a in mesh.worker_addresses():
        ready(mesh, a)
    data = scatter_one_on_each(mesh)
    adaptive = mesh.cluster.adapt(minimum=1, maximum=1, interval="200ms", wait_count=1)
    try:
        wait_until(lambda: len(scheduler_workers(mesh)) == 1, 60, "adaptive retired a worker")
        # retired, not just closed: its data moved to the worker that stays (adaptive closes a
        # worker whose retirement was refused, losing it)
        assert_kept(mesh, data)
        time.sleep(1.0)  # a few more adaptive rounds: it stays at one
        assert len(scheduler_workers(mesh)) == 1
        wait_until(lambda: len(mesh.worker_addresses()) == 1, 30, "the mesh saw it leave")
        run = mesh.run("6 * 7")
        assert run.status == "finished" and run.result() == 42, run.error
    finally:
        adaptive.stop()


@pytest.mark.parametrize("direct", [True, False], ids=["actor", "task"])
def test_a_cell_in_flight_on_a_retired_worker_runs_again_elsewhere_with_retries(mesh, direct):
    import dask

    home = ready(mesh)
    code = "import time\nprint('in', flush=True)\ntime.sleep(3)\n'done'"
    with dask.config.set({"mesh.run.session-actors": direct}):
        run = mesh.run(code, retries=1, block=False, timeout=60)
    assert is_direct(run) == [direct]
    wait_until(lambda: "in" in run.stdout, 10, "the cell started")
    assert home in mesh.client.retire_workers([home], close_workers=True)
    assert run.wait(60) and run.status == "finished", run.error
    assert run.result() == "done" and list(run.attempts().values()) == [2]
    assert run._targets[0].address != home


@pytest.mark.parametrize("direct", [True, False], ids=["actor", "task"])
def test_without_retries_a_cell_in_flight_on_a_retired_worker_is_lost(mesh, direct):
    import dask

    home = ready(mesh)
    with dask.config.set({"mesh.run.session-actors": direct}):
        run = mesh.run("import time\nprint('in', flush=True)\ntime.sleep(3)", block=False, timeout=60)
    assert is_direct(run) == [direct]
    wait_until(lambda: "in" in run.stdout, 10, "the cell started")
    assert home in mesh.client.retire_workers([home], close_workers=True)
    assert run.wait(30) and run.status == "lost", run.error
    with pytest.raises(WorkerLostError, match="set retries"):
        run.result()
    assert mesh.run("1 + 1").result() == 2  # and the mesh goes on


def test_a_session_actor_still_being_created_does_not_hold_its_worker_back(mesh):
    client = mesh.client
    victim = sorted(mesh.worker_addresses())[0]

    class Slow:  # local: sent by value; a session actor's key, a slow start
        def __init__(self) -> None:
            time.sleep(3)

    key = ("mesh-session-slowstart00", victim)
    future = client.submit(Slow, key=key, workers=[victim], allow_other_workers=False, actor=True, pure=False)

    def state() -> str | None:
        return client.run_on_scheduler(
            lambda dask_scheduler: getattr(dask_scheduler.tasks.get(key), "state", None)
        )

    wait_until(lambda: state() == "processing", 10, "the actor is being created")
    assert victim in client.retire_workers([victim], close_workers=True)
    wait_until(lambda: victim not in scheduler_workers(mesh), 30, f"{victim} left")
    assert future.status == "pending"  # waiting for a worker it may not have
    future.release()
    assert mesh.run("6 * 7").result() == 42


def test_an_actor_of_anyone_else_keeps_distributeds_rule(mesh):
    client = mesh.client
    victim = sorted(mesh.worker_addresses())[0]

    class Counter:
        n = 0

    future = client.submit(Counter, workers=[victim], allow_other_workers=False, actor=True, pure=False)
    future.result()
    assert client.retire_workers([victim], close_workers=True) == {}  # not ours to release
    assert victim in scheduler_workers(mesh)
    future.release()


def test_a_cell_reaching_a_worker_whose_actor_is_gone_runs_there_as_a_task(mesh):
    """What a cell sent just as its worker's actor was released meets (the kernel has not heard
    yet); here the worker drops the actor while the scheduler and the kernel still hold it."""
    from mesh_magics.worker.keys import actor_key

    home = ready(mesh)
    assert mesh.run("y = 5").status == "finished"
    key = actor_key(mesh.session, home)
    dropped = mesh.client.run(
        lambda dask_worker: dask_worker.state.actors.pop(key, None) is not None, workers=[home]
    )
    assert dropped == {home: True}
    run = mesh.run("y + 1")  # no retries: an attempt lost here would fail the cell
    assert run.status == "finished" and run.result() == 6, run.error
    assert list(run.attempts().values()) == [1] and run._targets[0].address == home

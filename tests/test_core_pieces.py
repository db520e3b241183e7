"""The core's plain pieces, without a mesh: run specs, placement, retry plans, messages
that name parameters, values, and the one reading of a worker's scheduler record."""

from __future__ import annotations

import pickle

import pytest

from mesh_magics.core.retry import plan_retry
from mesh_magics.core.spec import RunSpec, parse_resources
from mesh_magics.core.target import Target
from mesh_magics.core.targets import place
from mesh_magics.core.value import RemoteValue, value_of
from mesh_magics.errors import MeshUsageError, RunTimeoutError, named
from mesh_magics.worker.metrics import describe_workers, worker_info

WORKERS = {
    "tcp://a:1": {"name": "0", "resources": {"GPU": 1}, "metrics": {"task_counts": {"executing": 2}}},
    "tcp://b:1": {"name": "1", "resources": {}, "metrics": {"task_counts": {}}},
}


def test_named_messages_spell_parameters_per_audience():
    msg = named("{timeout} must be positive, not {value!r}; or {kind='cpu'}", value=-1)
    assert str(msg) == "timeout must be positive, not -1; or kind='cpu'"
    err = RunTimeoutError(msg, "run-1")
    assert err.respell({"timeout": "--timeout", "kind='cpu'": "--cpu"}) is err
    assert str(err) == "--timeout must be positive, not -1; or --cpu" and err.run_id == "run-1"
    again = pickle.loads(pickle.dumps(MeshUsageError(named("{on} {w}", w="x"))))
    assert str(again.respell({"on": "--on"})) == "--on x"
    plain = MeshUsageError("no parameter here").respell({"here": "--here"})
    assert str(plain) == "no parameter here"  # only named() messages are respelled
    assert str(named("{value}", value="{timeout}")) == "{timeout}"  # values are never templates


def test_run_spec_checks_options_once():
    spec = RunSpec.build("1", on="w1, w2", push=["a"], resources="GPU=1,MEM", timeout=5, retries=2)
    assert spec.on == ("w1", "w2") and spec.fan_out and not spec.movable
    assert spec.resources == (("GPU", 1.0), ("MEM", 1.0)) and spec.resource_map == {"GPU": 1.0, "MEM": 1.0}
    assert RunSpec.build("1").on == "any" and RunSpec.build("1", on="all").fan_out
    with pytest.raises(MeshUsageError, match="^timeout must be a positive"):
        RunSpec.build("1", timeout=0)
    with pytest.raises(MeshUsageError, match="^retries must be 0 or more"):
        RunSpec.build("1", retries=-1)
    with pytest.raises(MeshUsageError, match="^resources 'GPU=x'"):
        parse_resources("GPU=x")
    with pytest.raises(MeshUsageError, match="^on names no worker"):
        RunSpec.build("1", on=" , ")
    with pytest.raises(AttributeError):
        spec.code = "2"  # type: ignore[misc]  # frozen: built once


def test_placement_keeps_the_home_and_says_when_it_left():
    first = place(WORKERS, "any", (), None)
    assert first.targets == ("tcp://b:1",) and first.home == "tcp://b:1"  # the least busy
    assert place(WORKERS, "any", (), "tcp://a:1").targets == ("tcp://a:1",)  # kept while it lives
    gone = place(WORKERS, "any", (), "tcp://gone:1")
    assert gone.targets == ("tcp://b:1",) and "left the mesh" in (gone.notice or "")
    assert place(WORKERS, "any", (("GPU", 1.0),), "tcp://b:1").targets == ("tcp://a:1",)
    assert place(WORKERS, "all", (), None).targets == ("tcp://a:1", "tcp://b:1")
    assert place(WORKERS, ("1", "tcp://a:1"), (), None).targets == ("tcp://b:1", "tcp://a:1")
    with pytest.raises(MeshUsageError, match="^on nope: no such worker; known workers: 0, 1"):
        place(WORKERS, ("nope",), (), None)
    with pytest.raises(MeshUsageError, match="^resources {'TPU': 1.0}: no worker"):
        place(WORKERS, "any", (("TPU", 1.0),), None)
    with pytest.raises(MeshUsageError, match="no workers yet"):
        place({}, "any", (), None)


def test_retry_plans():
    spec_any, spec_all = RunSpec.build("1", retries=1), RunSpec.build("1", on="all", retries=1)
    t = Target("tcp://a:1", {})
    t.attempt()
    live = ["tcp://a:1", "tcp://b:1"]
    assert plan_retry(spec_any, t, live, worker_left=False) == "here"
    assert plan_retry(spec_any, t, ["tcp://b:1"], worker_left=False) == "elsewhere"
    assert plan_retry(spec_any, t, live, worker_left=True) == "elsewhere"
    assert plan_retry(spec_all, t, live, worker_left=True) is None  # no replacement namespace
    assert plan_retry(spec_any, t, ["tcp://a:1"], worker_left=True) == "elsewhere"  # waits for one
    t.attempt()
    assert plan_retry(spec_any, t, live, worker_left=False) is None  # retries used up
    assert t.attempts == 2 and t.result is None and not t.done


def test_values_come_back_as_themselves_or_as_their_remote_repr():
    assert value_of({"has_value": True, "value": [1, 2]}) == [1, 2]
    remote = value_of({"has_value": False, "mimebundle": {"text/plain": "<lock>"}, "value_note": "TypeError"})
    assert isinstance(remote, RemoteValue) and repr(remote) == "<lock>" and remote.note == "TypeError"
    assert remote._repr_mimebundle_() == {"text/plain": "<lock>"}
    assert value_of({"status": "ok"}) is None  # no last expression


def test_one_reading_of_a_worker_record():
    record = {
        "name": 7,
        "host": "10.0.0.5",
        "nthreads": 4,
        "memory_limit": 8 << 30,
        "resources": {"GPU": 1},
        "gpu": {"name": "NVIDIA H200", "memory-total": 141 << 30},
        "metrics": {
            "cpu": 12.5,
            "memory": 1 << 30,
            "task_counts": {"executing": 2, "ready": 3, "memory": 9},
            "spilled_bytes": {"memory": 5, "disk": 1024},
            "gpu": {"utilization": 80, "memory-used": 2 << 30},
        },
    }
    w = worker_info("tcp://10.0.0.5:1", record)
    assert (w.name, w.host, w.threads, w.memory_limit, w.memory) == ("7", "10.0.0.5", 4, 8 << 30, 1 << 30)
    assert (w.tasks, w.processing, w.cpu, w.spilled) == (5, 2, 12.5, 1024)
    assert (w.gpu_name, w.gpu_memory_total, w.gpu_memory_used, w.gpu_utilization) == (
        "NVIDIA H200",
        141 << 30,
        2 << 30,
        80,
    )
    assert worker_info("tcp://x:1", record, processing=9).processing == 9
    bare = worker_info("tcp://y:1", {})
    assert (bare.name, bare.tasks, bare.gpu_name, bare.resources) == ("tcp://y:1", 0, None, None)
    rows = describe_workers({"workers": {"tcp://b:1": {"name": "b"}, "tcp://a:1": {"name": "a"}}})
    assert [r.name for r in rows] == ["a", "b"]


def test_every_setting_has_a_schema_that_accepts_its_default():
    from mesh_magics import config

    assert set(config.SCHEMA) == set(config.flat())
    for key, value in config.flat().items():
        assert config.check(key, value) == value


@pytest.mark.parametrize(
    ("key", "bad"),
    [
        ("run.timeout", "banana"), ("run.timeout", 0), ("run.timeout", -1), ("run.timeout", float("inf")),
        ("run.retries", -1), ("run.retries", 1.5), ("run.retries", True), ("run.retries", None),
        ("run.retry-wait", -0.1), ("run.max-tracebacks", 0), ("run.output-grace", "soon"),
        ("cluster.kind", "tpu"), ("cluster.n-workers", 0), ("cluster.threads-per-worker", "many"),
        ("cluster.memory-limit", "lots"), ("cluster.memory-limit", -5), ("cluster.dashboard-address", 8787),
        ("reconnect.enabled", "yes please"), ("reconnect.initial-delay", 0), ("reconnect.max-attempts", -1),
        ("stream.flush-interval", 0), ("stream.max-chunk", 0), ("stream.max-display-chars", "big"),
        ("history.enabled", 1), ("history.tail-bytes", -1), ("history.path", 3),
        ("progress.after", -1), ("dashboard.interval", 0), ("dashboard.max-log-lines", 0),
        ("dashboard.log-level", "LOUD"), ("dashboard.enabled", None),
    ],
)  # fmt: skip
def test_bad_settings_are_refused_when_set_and_when_read(key, bad):
    import dask

    from mesh_magics import config
    from mesh_magics.errors import MeshConfigError

    with pytest.raises(MeshConfigError, match=f"mesh.{key} = .* is not valid: it takes"):
        config.set_value(key, bad)
    now = config.get(key)
    assert (type(now), now) != (type(bad), bad) or bad is None  # nothing was set
    with dask.config.set({f"mesh.{key}": bad}):  # set behind our back: refused when read
        with pytest.raises(MeshConfigError, match="Fix: `%mesh config"):
            config.get(key)
    config.get(key)  # and fine again once it is gone


def test_a_memory_limit_that_is_no_size_names_the_parameter():
    from mesh_magics.core.cluster import start_local
    from mesh_magics.errors import MeshConfigError

    with pytest.raises(MeshConfigError, match="^memory_limit 'lots' is not a memory size") as e:
        start_local(kind="cpu", memory_limit="lots")
    assert str(e.value.respell({"memory_limit": "--memory-limit"})).startswith("--memory-limit 'lots'")

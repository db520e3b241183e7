"""The result cache's pieces without a mesh: what a cell reads and binds, entries, bounds, settings."""

from __future__ import annotations

import dask
import pytest

from mesh_magics import config
from mesh_magics.core.cache import ABSENT, CacheEntry, ResultCache, cache_payload
from mesh_magics.core.cellnames import cache_names
from mesh_magics.core.spec import RunSpec
from mesh_magics.errors import MeshConfigError, MeshUsageError


@pytest.mark.parametrize(
    ("code", "reads"),
    [
        ("y = x * 2\ny + 1", {"x"}),  # y is the cell's own by the time it is read
        ("x += 1", {"x"}),
        ("x = x + 1", {"x"}),
        ("a, b = b, a", {"a", "b"}),
        ("import numpy as np\nnp.arange(n)", {"n"}),
        ("if c:\n    b = 1\nelse:\n    b = 2\nb", {"c"}),
        ("if c:\n    b = 1\nb", {"c", "b"}),  # b may come from the namespace
        ("for i in range(3):\n    t = i\nt", {"range", "t"}),  # the loop may not run
        ("with open(p) as fh:\n    s = fh.read()\nlen(s)", {"open", "p", "len"}),
        ("del z\nz", {"z"}),
        ("def f():\n    return helper()\nf()", {"helper"}),
        ("try:\n    import q\nexcept ImportError:\n    q = None\nq", {"ImportError", "q"}),
        ("[v * 2 for v in data]", {"data", "v"}),
        ("obj.attr = 1", {"obj"}),
        ("vars(obj)", {"vars", "obj"}),  # vars with an argument reads that argument only
    ],
)
def test_reads_are_what_may_come_from_the_namespace(code, reads):
    names = cache_names(code)
    assert set(names.reads) == reads
    assert set(names.reads) <= set(names.binds)


def test_binds_are_every_name_the_cell_touches():
    code = "import os.path\nfrom m import k as kk\ndef f(a):\n    global g\n    g = a\nclass C: pass\ntry:\n    1/0\nexcept ZeroDivisionError as e:\n    pass\nz = w"
    assert set(cache_names(code).binds) >= {"os", "kk", "f", "a", "g", "C", "e", "z", "w"}
    assert cache_names("x = 1", forced=["p"]).reads == ("p",)
    assert cache_names("def (:") == cache_names("")  # the worker reports the syntax error


@pytest.mark.parametrize(
    "code",
    [
        "globals()['z'] = 1",
        "exec('z = 1')",
        "eval('z')",
        "vars()",
        "def f():\n    return locals()",
        "from os import *",
    ],
)
def test_dynamic_access_is_refused_naming_the_flag_and_the_fix(code):
    with pytest.raises(MeshUsageError) as e:
        cache_names(code)
    assert "cache=True" in str(e.value) and "name its inputs and outputs plainly" in str(e.value)
    assert "--cache" in str(e.value.respell({"cache=True": "--cache"}))
    with pytest.raises(MeshUsageError):
        RunSpec.build(code, cache=True)
    RunSpec.build(code)  # without the cache the cell is fine


def test_the_kernels_tokens_of_pushed_values():
    payload = cache_payload(cache_names("x + y"), {"x": [1, 2]})
    assert payload["reads"] == ["y"] and payload["pushed"]["x"] == dask.base.tokenize([1, 2])


def entry(key="k", inputs=None, outputs=None, blob=b"x" * 10, name="run-1") -> CacheEntry:
    return CacheEntry(
        key=key, run_id=name + "-id", name=name, when=0.0, targets=("w1",),
        inputs={"w1": inputs or {}}, outputs={"w1": outputs or {}}, blob=blob, output=(), source="1",
    )  # fmt: skip


def test_an_entry_serves_only_matching_inputs_and_outputs():
    e = entry(inputs={"x": "t1", "n": ABSENT}, outputs={"y": "t2"})
    assert e.mismatch({}, {"w1": {"x": "t1", "n": ABSENT, "y": "t2"}}) is None
    assert e.mismatch({"w1": {"x": "t1"}}, {"w1": {"n": ABSENT, "y": "t2"}}) is None  # x pushed now
    assert e.mismatch({}, {"w1": {"x": "t1", "y": "t2"}}) is not None  # a token not reported never matches
    assert "`x` is not what run run-1 read" in e.mismatch({"w1": {"x": "t9"}}, {"w1": {"y": "t2"}})
    assert "`n`" in e.mismatch({}, {"w1": {"x": "t1", "n": "t5", "y": "t2"}})
    assert "`y` is no longer what" in e.mismatch({}, {"w1": {"x": "t1", "n": ABSENT, "y": "t3"}})
    assert entry(inputs={"x": None}).mismatch({}, {"w1": {"x": None}}) is not None  # no stable token


def test_entries_are_bounded_least_recently_used_first_out():
    cache = ResultCache()
    with dask.config.set({"mesh.cache.max-entries": 2, "mesh.cache.max-bytes": "1MiB"}):
        a, b, c = entry("a"), entry("b"), entry("c")
        assert cache.put(a) is None and cache.put(b) is None
        cache.hit(a)  # a is used: b is now the oldest
        cache.put(c)
        assert cache.entries() == [a, c] and a.hits == 1
        assert cache.candidates("b") == [] and cache.candidates("a") == [a]
    with dask.config.set({"mesh.cache.max-bytes": 25}):
        assert "over mesh.cache.max-bytes (25)" in cache.put(entry("big", blob=b"x" * 100))
        cache.put(entry("d"))  # 11 bytes: of a, c, d only two fit
        assert [e.key for e in cache.entries()] == ["c", "d"] and cache.nbytes == 22
    with dask.config.set({"mesh.cache.max-entries": 0}):
        assert cache.put(entry("e")) == "mesh.cache.max-entries is 0"
    same = entry("d")  # the same key and inputs again replaces the older entry
    cache.put(same)
    assert cache.candidates("d") == [same]
    rows = cache.describe()
    assert rows[0]["id"] == "run-1-id"[:8] and rows[0]["bytes"] == 11 and rows[0]["source"] == "1"
    assert cache.clear() == 2 and len(cache) == 0 and cache.describe() == []


@pytest.mark.parametrize(
    ("key", "bad"),
    [("cache.max-entries", -1), ("cache.max-entries", "many"), ("cache.max-bytes", "auto"),
     ("cache.max-bytes", "lots"), ("cache.max-bytes", True)],
)  # fmt: skip
def test_bad_cache_settings_are_refused_naming_the_key(key, bad):
    with pytest.raises(MeshConfigError, match=f"mesh.{key}"):
        config.set_value(key, bad)
    with dask.config.set({f"mesh.{key}": bad}), pytest.raises(MeshConfigError, match=f"mesh.{key}"):
        config.get(key)


def test_the_shipped_cache_settings():
    assert config.get("cache.max-entries") == 64 and config.get("cache.max-bytes") == "256MiB"
    assert config.valid("cache.max-bytes", "1GiB") and config.valid("cache.max-bytes", 0)

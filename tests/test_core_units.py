"""Plain units of the core: no mesh needed (stream text, push selection, events, config, API)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mesh_magics
from mesh_magics import config, errors
from mesh_magics.core.events import EVENTS, EventEmitter
from mesh_magics.core.push import names_read, select_pushes
from mesh_magics.core.streams import OutputGrace, StreamText


def test_stream_text_handles_carriage_returns_and_bounds():
    s = StreamText()
    s.write("start\nprogress 10%")
    s.write("\rprogress 60%\rprogress 100%\n")
    s.write("done")
    assert s.text == "start\nprogress 100%\ndone"
    s = StreamText()
    s.write("abcdef\rXY")  # overwrite the start of the line, keep the rest
    assert s.text == "XYcdef"
    s = StreamText(max_chars=12)
    for i in range(5):
        s.write(f"line{i}\n")
    assert s.text.endswith("line3\nline4\n") and "elided" in s.text and "line0" not in s.text
    assert s.raw_len == 30


def test_an_unterminated_line_is_bounded_too_and_keeps_its_tail():
    s = StreamText(max_chars=100)
    for i in range(50):
        s.write(f"{i:04d}" * 16)  # 64 characters a write, no newline
    assert s.shown_len() <= 200 and s.elided == 50 * 64 - s.shown_len()
    assert s.text.endswith("0049" * 16) and s.text.startswith(f"[... {s.elided} characters elided ...]")
    shown = s.text
    s.write("\rAB")  # \r goes to the line's true start, which is elided: nothing shown changes
    assert s.text == shown
    reach = "\r" + "C" * (s.elided + 3)  # a write that reaches past the elided head shows there
    s.write(reach)
    assert s.text.split("\n", 1)[1] == "CCC" + shown.split("\n", 1)[1][3:]
    s.write("\ntail\n")
    assert s.text.endswith("tail\n") and s.raw_len == 50 * 64 + 3 + len(reach) + 6


def _terminal(text: str) -> str:
    """What a terminal shows for ``text``, unbounded, one character at a time."""
    lines, col = [""], 0
    for ch in text:
        if ch == "\n":
            lines.append("")
            col = 0
        elif ch == "\r":
            col = 0
        else:
            lines[-1] = lines[-1][:col] + ch + lines[-1][col + 1 :]
            col += 1
    return "\n".join(lines)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="ab\r\n", max_size=40), max_size=30), st.integers(1, 30))
def test_stream_text_shows_the_tail_of_what_a_terminal_shows(chunks, max_chars):
    s = StreamText(max_chars=max_chars)
    for c in chunks:
        s.write(c)
    full = _terminal("".join(chunks))
    body = s.text.split("\n", 1)[1] if s.elided else s.text
    assert full.endswith(body) and s.elided + len(body) == len(full)
    assert s.shown_len() == len(body) <= 2 * max_chars


def test_output_grace_waits_while_chunks_keep_coming_and_counts_what_never_came():
    g = OutputGrace(0.3)
    assert not g.waiting(0) and g.missing == 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < 0.8:  # chunks trickle in for longer than the grace
        g.arrived()
        assert g.waiting(3)
        time.sleep(0.05)
    time.sleep(0.35)  # then none comes for longer than the grace
    assert not g.waiting(2) and g.missing == 2
    assert "2 output chunk(s) did not arrive" in g.notice("r1")


def test_names_read_excludes_assigned_imported_and_builtins():
    code = (
        "import numpy as np\nfrom os import path\ny = x + len(data)\ndef f(a):\n    b = a\n    return b + z\n"
    )
    assert names_read(code) == {"x", "data", "z"}
    assert names_read("this is not python(") == set()


def test_select_pushes_respects_remote_names_and_forced():
    ns = {"x": 1, "data": [1], "z": 2, "_hidden": 3}
    code = "y = x + len(data) + z + _hidden"
    assert select_pushes(code, ns, remote_names={"z"}) == {"x": 1, "data": [1]}
    assert select_pushes(code, ns, remote_names={"x", "data", "z"}, forced=["z"]) == {"z": 2}
    with pytest.raises(errors.PushError, match="'lk'"):
        select_pushes("print(lk)", {"lk": threading.Lock()}, set())
    with pytest.raises(errors.MeshUsageError, match="push nope"):
        select_pushes("1", {}, set(), forced=["nope"])


def test_event_emitter_isolates_failing_callbacks():
    em = EventEmitter()
    got = []
    em.on("run_finished", lambda p: 1 / 0)
    sub = em.on("run_finished", lambda p: got.append(p["run"]))
    em.emit("run_finished", run="r1")
    sub.cancel()
    em.emit("run_finished", run="r2")
    assert got == ["r1"]
    with pytest.raises(errors.MeshConfigError, match="known events"):
        em.on("nope", print)
    assert "worker_left" in EVENTS and len(EVENTS) == 9


def test_config_keys_env_and_set_value():
    assert config.get("reconnect.max-attempts") == 10
    config.set_value("run.retries", "3")
    assert config.get("run.retries") == 3
    with pytest.raises(errors.MeshConfigError, match="Did you mean"):
        config.set_value("run.retrys", "1")
    config.set_value("run.retries", 0)
    # DASK_MESH__* reaches the same keys (a fresh interpreter reads the environment at import)
    env = dict(os.environ, DASK_MESH__STREAM__FLUSH_INTERVAL="0.5")
    out = subprocess.run(
        [sys.executable, "-c", "from mesh_magics import config; print(config.get('stream.flush-interval'))"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "0.5"


def test_error_tree_and_usage_error():
    from IPython.core.error import UsageError

    assert issubclass(errors.MeshUsageError, UsageError)
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.MeshError)
    e = errors.NoMeshError()
    assert "%mesh up" in str(e) and e._render_traceback_()[0].endswith(str(e))


def test_public_api_is_guarded():
    assert sorted(mesh_magics.__all__) == sorted(
        [
            "Mesh",
            "MeshRun",
            "__version__",
            "chain",
            "connect",
            "current",
            "errors",
            "load_ipython_extension",
            "runes",
            "unload_ipython_extension",
            "up",
        ]
    )
    for name in mesh_magics.__all__:
        assert getattr(mesh_magics, name) is not None
    from mesh_magics import runes

    for name in runes.__all__:
        assert callable(getattr(runes, name)) or isinstance(getattr(runes, name), dict), name
    with pytest.raises(AttributeError):
        mesh_magics.nope  # noqa: B018


def test_import_is_light():
    """`import mesh_magics` must not import dask, distributed or pandas (lazy heavy imports)."""
    code = (
        "import sys, mesh_magics; heavy = [m for m in ('dask', 'distributed', 'pandas') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_no_mesh_yet():
    if mesh_magics.session.live() is not None:
        pytest.skip("a mesh is up in this process")
    with pytest.raises(errors.NoMeshError):
        mesh_magics.current()


def test_noninteractive_env_selects_plain_text(monkeypatch):
    from mesh_magics.core.render import TextRenderer
    from mesh_magics.ipython.render import default_renderer

    monkeypatch.setenv("MESH_NONINTERACTIVE", "1")
    r = default_renderer()
    assert isinstance(r, TextRenderer) and callable(r.progress_line)
    assert not callable(getattr(r, "widget", None))  # no widget: the dashboard prints text lines

"""``%mesh`` / ``%%mesh`` in a real IPython kernel (jupyter_client), on a real mesh.

Every assertion reads the kernel's iopub messages: what a notebook front end
would receive, with each message's parent cell and arrival time.
"""

from __future__ import annotations

import json
import time

import pytest
from _kernel import isolated_kernel, ok

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    k = isolated_kernel(tmp_path_factory.mktemp("kernel"))
    yield k
    k.close()


def test_cell_before_any_mesh_is_a_clear_error(kernel):
    ok(kernel.run("%load_ext mesh_magics"))
    c = kernel.run("%%mesh\nprint(1)")
    assert c.status == "error"
    assert "no mesh yet" in c.all_text and "%mesh up" in c.all_text
    ok(kernel.run("1 + 1"))  # the kernel is alive


def test_mesh_up_shows_the_mesh(kernel):
    c = ok(kernel.run("%mesh up --workers 2 --threads 1 --cpu", timeout=120))
    html = [m.content["data"].get("text/html", "") for m in c.msgs if m.type == "display_data"]
    assert any("local-cpu" in h and "<table>" in h for h in html)
    assert "workers 2, threads 2" in c.all_text
    reg = list((kernel.dir / "registry").glob("mesh-*.json"))
    assert len(reg) == 1 and json.loads(reg[0].read_text())["kind"] == "local-cpu"


def test_output_appears_while_the_cell_runs(kernel):
    c = ok(
        kernel.run(
            "%%mesh\nimport socket, time\nfor i in range(3):\n"
            "    print('step', i, 'on', socket.gethostname(), flush=True)\n    time.sleep(1)\nx = 42"
        )
    )
    stdout = "application/vnd.jupyter.stdout"
    shown = [
        (m.t, m.content["data"]["text/plain"])
        for m in c.msgs
        if m.type in ("display_data", "update_display_data") and stdout in m.content["data"]
    ]
    first = next(t for t, text in shown if "step 0" in text)
    assert c.replied - first > 1.5  # step 0 was on screen while the cell still ran
    assert "step 2" in shown[-1][1] and shown[-1][1].count("step") == 3
    ids = {
        m.content["transient"]["display_id"]
        for m in c.msgs
        if m.type in ("display_data", "update_display_data") and stdout in m.content["data"]
    }
    assert len(ids) == 1  # one display, updated in place
    # the dashboard appeared after the threshold, as a widget with text fallbacks
    dash = [
        m.content["data"]
        for m in c.msgs
        if m.type in ("display_data", "update_display_data")
        and "application/vnd.jupyter.widget-view+json" in m.content["data"]
    ]
    assert dash and "finished" in dash[-1]["text/plain"] and "text/html" in dash[-1]


def test_later_cell_sees_remote_variable_as_out(kernel):
    c = ok(kernel.run("%%mesh\nx"))
    results = [m.content["data"]["text/plain"] for m in c.msgs if m.type == "execute_result"]
    assert results == ["42"]


def test_carriage_return_rewrites_the_line(kernel):
    c = ok(kernel.run("%%mesh\nfor p in (10, 50, 100):\n    print(f'\\r{p}%', end='', flush=True)\nprint()"))
    final = [
        m.content["data"]["text/plain"] for m in c.msgs if m.type in ("display_data", "update_display_data")
    ][-1]
    assert final == "100%\n"


def test_noblock_output_stays_in_its_own_cell(kernel):
    a = kernel.submit(
        "%%mesh --noblock --name bg\nimport time\nfor i in range(5):\n"
        "    print('bg line', i, flush=True)\n    time.sleep(0.4)"
    )
    kernel.wait(a)
    b = kernel.run("print('local B')\nimport time; time.sleep(1)")
    c = kernel.run("%%mesh\nprint('remote C')")
    kernel.pump(2.5)
    a_text = "\n".join(a.texts("display_data", "update_display_data"))
    assert "bg line 4" in a_text
    assert "bg line" not in b.all_text and "bg line" not in c.all_text
    assert "local B" in b.all_text and "remote C" in c.all_text
    result = [m.content["data"]["text/plain"] for m in a.msgs if m.type == "execute_result"]
    assert result and result[0].startswith("<MeshRun 'bg'")


def test_remote_error_shows_cell_lines_and_worker(kernel):
    c = kernel.run("%%mesh\na = 1\nb = a / 0")
    assert c.status == "error"
    text = c.all_text
    assert "ZeroDivisionError" in text and "line 2" in text and "b = a / 0" in text
    assert "[worker " in text


def test_ctrl_c_cancels_within_two_seconds(kernel):
    c = kernel.submit("%%mesh --name spin\nimport time\nfor i in range(600):\n    time.sleep(0.05)")
    kernel.pump(1.5)
    assert not kernel.done(c)
    t0 = time.time()
    kernel.interrupt()
    kernel.wait(c, timeout=10)
    assert c.replied - t0 < 2.0
    assert c.status == "error" and c.reply["ename"] == "RunCancelledError"
    # the code on the worker was interrupted too: only this probe's own run is executing
    for _ in range(10):
        probe = ok(kernel.run("%%mesh --on all\nfrom mesh_magics.worker import cell\nlen(cell.running())"))
        out = [m.content["data"]["text/plain"] for m in probe.msgs if m.type == "execute_result"]
        if set(eval(out[0]).values()) == {1}:
            break
        time.sleep(0.2)
    assert set(eval(out[0]).values()) == {1}, out
    assert time.time() - t0 < 5


def test_push_and_pull_through_the_magic(kernel):
    ok(kernel.run("factor = 3"))
    ok(kernel.run("%%mesh --pull product\nproduct = factor * 14"))
    c = ok(kernel.run("product"))
    assert [m.content["data"]["text/plain"] for m in c.msgs if m.type == "execute_result"] == ["42"]


def test_usage_errors_name_the_problem(kernel):
    c = kernel.run("%%mesh --bogus\n1")
    assert "unrecognized arguments: --bogus" in c.all_text
    c = kernel.run("import threading\nlk = threading.Lock()")
    c = kernel.run("%%mesh\nprint(lk)")
    assert "cannot send 'lk'" in c.all_text
    c = kernel.run("%%mesh --on all --pull nothing_here\n1")
    assert "nothing_here" in c.all_text
    c = kernel.run("%mesh config run.no-such-key=1")
    assert "unknown setting mesh.run.no-such-key" in c.all_text
    ok(kernel.run("%%mesh\nprint('still fine')"))


def test_errors_name_flags_in_the_magic_and_parameters_in_python(kernel):
    c = kernel.run("%%mesh --timeout -1\n1")
    assert c.status == "error" and "--timeout must be a positive number of seconds" in c.all_text
    c = kernel.run("%%mesh --on nope\n1")
    assert "--on nope: no such worker" in c.all_text
    c = kernel.run("%%mesh --push ghost\n1")
    assert "--push ghost: no variable 'ghost'" in c.all_text
    c = ok(
        kernel.run(
            "import mesh_magics\ntry:\n    mesh_magics.current().run('1', timeout=-1)\n"
            "except mesh_magics.errors.MeshError as e:\n    print('python says:', e)"
        )
    )
    assert "python says: timeout must be a positive" in c.all_text and "--timeout" not in c.all_text


def test_bad_settings_and_history_options_are_refused_when_given(kernel):
    c = kernel.run("%mesh config run.timeout=banana")
    assert (
        c.status == "error"
        and "mesh.run.timeout = 'banana' is not valid: it takes a number > 0" in c.all_text
    )
    c = kernel.run("%mesh config dashboard.log-level=LOUD")
    assert "one of DEBUG, INFO, WARNING, ERROR, CRITICAL" in c.all_text
    c = kernel.run("%mesh history -n -3")
    assert c.status == "error" and "-n -3: give a positive number of runs" in c.all_text
    ok(kernel.run("%%mesh\nprint('cells still run')"))  # nothing bad was set


def test_an_unpicklable_value_reads_the_same_in_the_cell_and_from_result(kernel):
    c = ok(kernel.run("%%mesh\nimport threading\nthreading.Lock()"))
    shown = [m.content["data"]["text/plain"] for m in c.msgs if m.type == "execute_result"]
    c = ok(
        kernel.run(
            "v = mesh_magics.current().run('import threading\\nthreading.Lock()').result()\n"
            "print(type(v).__name__, repr(v))"
        )
    )
    assert len(shown) == 1 and shown[0].startswith("<unlocked _thread.lock object")
    assert "RemoteValue <unlocked _thread.lock object" in c.all_text


def test_config_history_and_export(kernel):
    c = ok(kernel.run("%mesh config run.max-tracebacks=5\n%mesh config run.max-tracebacks"))
    assert "mesh.run.max-tracebacks = 5" in c.all_text
    c = ok(kernel.run("%mesh history -n 50 --grep step"))
    page = "".join(m.content["data"].get("text/html", "") for m in c.msgs if m.type == "execute_result")
    assert "import socket, time" in page
    out = kernel.dir / "runs.json"
    c = ok(kernel.run(f"%mesh history --export {out}"))
    rows = json.loads(out.read_text())
    statuses = {r["status"] for r in rows}
    assert {"finished", "failed", "cancelled"} <= statuses
    out.write_text("[]")
    c = kernel.run(f"%mesh history --export {out}")  # an existing file is kept...
    assert "exists" in c.all_text and "--force" in c.all_text and out.read_text() == "[]"
    ok(kernel.run(f"%mesh history --export {out} --force"))  # ...unless asked
    assert len(json.loads(out.read_text())) == len(rows)
    c = kernel.run(f"%mesh history --export {kernel.dir / 'registry' / 'runs.json'} --force")
    assert "mesh registry" in c.all_text
    c = kernel.run(f"%mesh history --export {kernel.dir / 'runs.xlsx'}")
    assert ".csv" in c.all_text and ".parquet" in c.all_text


def test_status_then_down_removes_registry_entry(kernel):
    c = ok(kernel.run("%mesh status"))
    assert "connected" in c.all_text
    ok(kernel.run("%mesh down"))
    assert list((kernel.dir / "registry").glob("mesh-*.json")) == []
    c = kernel.run("%%mesh\n1")
    assert "no mesh yet" in c.all_text

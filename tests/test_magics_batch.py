"""``%%mesh map ITEMS`` in a real IPython kernel (jupyter_client), on a real mesh."""

from __future__ import annotations

import time

import pytest
from _kernel import isolated_kernel, ok, result_text

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    k = isolated_kernel(tmp_path_factory.mktemp("kernel"), workers=2)
    yield k
    k.close()


def test_map_returns_values_in_order_and_binds_them(kernel):
    c = ok(kernel.run("%%mesh map range(6) --as n --results squares -o handle\nprint('got', n)\nn * n"))
    assert result_text(c) == ["[0, 1, 4, 9, 16, 25]"]
    text = c.all_text
    assert "[stdout:item 0]" in text and "got 0" in text  # the first items stream into the cell
    assert "got 5" not in text  # later items do not (mesh.batch.show-output)
    assert "6/6 finished [finished in" in text  # the batch's one progress display, final state
    c = ok(kernel.run("squares, handle.status, handle.output(5)"))
    assert result_text(c) == ["([0, 1, 4, 9, 16, 25], 'finished', 'got 5\\n')"]


def test_bad_items_are_one_line_errors_and_nothing_is_lost(kernel):
    ok(kernel.run("keep = [1, 2, 3]"))
    c = kernel.run("%%mesh map no_such_items\nitem")
    assert c.status == "error" and c.reply["ename"] == "MeshUsageError"
    assert "name 'no_such_items' is not defined in the notebook; define it first" in c.all_text
    c = kernel.run("%%mesh map []\nitem")
    assert "is empty: there is nothing to map over" in c.all_text
    c = kernel.run("import threading\n%mesh config run.retries=0")
    c = kernel.run("%%mesh map [1, threading.Lock()]\nitem")
    assert c.reply["ename"] == "PushError" and "item 1 of the batch (lock) cannot be sent" in c.all_text
    c = kernel.run("%%mesh map keep --pull x\nitem")
    assert "--pull does not apply to %%mesh map" in c.all_text
    c = ok(kernel.run('%%mesh map "[k * 2 for k in keep]"\nitem + 1'))  # the kernel and workers are fine
    assert result_text(c) == ["[3, 5, 7]"]
    assert result_text(ok(kernel.run("keep"))) == ["[1, 2, 3]"]


def test_failures_show_the_first_tracebacks_and_keep_the_values(kernel):
    c = kernel.run("%%mesh map range(5) --results partial\nif item == 3:\n    raise KeyError('three')\nitem")
    assert c.status == "error" and c.reply["ename"] == "BatchError"
    text = c.all_text
    assert "[item 3] KeyError: 'three'" in text and "line 2" in text
    assert "1 of 5 items of batch" in text
    assert result_text(ok(kernel.run("partial"))) == ["[0, 1, 2, None, 4]"]


def test_noblock_returns_the_handle(kernel):
    c = ok(kernel.run("%%mesh map range(4) --noblock --results later\nimport time\ntime.sleep(0.5)\nitem"))
    assert result_text(c)[0].startswith("<BatchRun ")
    c = ok(kernel.run("_.result(timeout=60), later"))
    assert result_text(c) == ["([0, 1, 2, 3], [0, 1, 2, 3])"]


def test_mesh_cancel_names_a_batch_in_flight(kernel):
    c = ok(kernel.run(
        "%%mesh map range(4) --noblock --name long-batch -o lb\nimport time\nfor _ in range(600):\n    time.sleep(0.05)"
    ))  # fmt: skip
    c = ok(kernel.run("%mesh cancel long-batch"))
    assert "cancelled long-batch" in c.all_text
    c = ok(kernel.run("lb.status"))
    assert result_text(c) == ["'cancelled'"]
    c = kernel.run("%mesh cancel long-batch")  # ended: no longer in flight, a one-line usage error
    assert c.reply["ename"] == "MeshUsageError" and "no run 'long-batch' in this session" in c.all_text


def test_ctrl_c_cancels_the_whole_batch(kernel):
    c = kernel.submit(
        "%%mesh map range(8) --name spinning -o spun\nimport time\nfor i in range(600):\n    time.sleep(0.05)"
    )
    kernel.pump(2.0)
    assert not kernel.done(c)
    kernel.interrupt()
    kernel.wait(c, timeout=30)
    assert c.status == "error" and c.reply["ename"] == "RunCancelledError"
    c = ok(kernel.run("spun.status, sorted(set(i.status for i in spun.items))"))
    assert result_text(c) == ["('cancelled', ['cancelled'])"]
    # the items' code was interrupted on the workers: only the probe itself is running there
    deadline = time.time() + 30
    while True:
        probe = ok(kernel.run("%%mesh --on all\nfrom mesh_magics.worker import cell\nlen(cell.running())"))
        if set(eval(result_text(probe)[0]).values()) == {1}:
            break
        assert time.time() < deadline, result_text(probe)
        time.sleep(0.2)

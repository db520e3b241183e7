"""``%%mesh --cache`` and ``%mesh cache`` in a real IPython kernel (jupyter_client), on a real mesh.

What a notebook front end receives: the cached line, the replayed output and Out, the
listing, the history marker; that the cell did not run again is read from a counter file
the cell appends to on the worker.
"""

from __future__ import annotations

import pytest
from _kernel import isolated_kernel, ok
from _kernel import result_text as results

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    k = isolated_kernel(tmp_path_factory.mktemp("kernel-cache"), workers=2)
    yield k
    k.close()


def test_a_cached_cell_says_so_and_looks_the_same(kernel):
    counter = kernel.dir / "runs.txt"
    ok(kernel.run("factor = 3"))
    cell = (
        f"%%mesh --cache --push factor\nopen({str(counter)!r}, 'a').write('ran\\n')\n"
        "print('computing on the worker')\n[factor] * 2"
    )
    first = ok(kernel.run(cell))
    assert results(first) == ["[3, 3]"] and "computing on the worker" in first.all_text
    assert "cached (from run" not in first.all_text
    second = ok(kernel.run(cell))
    assert counter.read_text() == "ran\n"  # not run again
    assert results(second) == ["[3, 3]"] and "computing on the worker" in second.all_text
    assert "cached (from run run-" in second.all_text
    ok(kernel.run("factor = 4"))  # a pushed input changed: it runs
    third = ok(kernel.run(cell))
    assert results(third) == ["[4, 4]"] and counter.read_text() == "ran\nran\n"
    assert "not cached: `factor` is not what run" in third.all_text

    listing = ok(kernel.run("%mesh cache"))
    assert "2 cached result(s)" in listing.all_text and "open(" in listing.all_text
    history = ok(kernel.run("%mesh history -n 5"))
    assert "finished (cached: " in history.all_text
    cleared = ok(kernel.run("%mesh cache clear"))
    assert "cleared 2 cached result(s)" in cleared.all_text
    assert "no cached results" in ok(kernel.run("%mesh cache")).all_text
    ok(kernel.run(cell))
    assert counter.read_text().count("ran") == 3  # cleared: it ran again


def test_bad_cache_input_is_one_clear_line_and_the_kernel_lives(kernel):
    c = kernel.run("%%mesh --cache\nexec('z = 1')")
    assert c.status == "error" and "--cache: this cell uses exec()" in c.all_text
    assert "Run it without --cache" in c.all_text and "Traceback" not in c.all_text
    c = kernel.run("%mesh cache forget")
    assert c.status == "error" and "invalid choice: 'forget'" in c.all_text
    c = kernel.run("%mesh config cache.max-entries=-1")
    assert c.status == "error" and "mesh.cache.max-entries" in c.all_text
    c = kernel.run("import dask; dask.config.set({'mesh.cache.max-bytes': 'lots'})")
    c = kernel.run("%%mesh --cache\n1 + 1")
    assert c.status == "error" and "mesh.cache.max-bytes = 'lots' is not valid" in c.all_text
    ok(kernel.run("dask.config.set({'mesh.cache.max-bytes': '256MiB'})"))
    assert results(ok(kernel.run("%%mesh --cache\n1 + 1"))) == ["2"]

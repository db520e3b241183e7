"""Bad input through the magics, in one real kernel: every option of ``%%mesh`` and ``%mesh``
given wrongly, every setting given a bad value, and cells that misbehave. Each case checks
the documented error (or result) and then that the kernel and the mesh still run a cell."""

from __future__ import annotations

import atexit
import re
import tempfile
from typing import Any

from . import Context, Outcome, case

_STATE: dict[str, Any] = {}


def _kernel() -> Any:
    """One kernel with a 2-worker mesh, shared by the cases of this module (closed at exit)."""
    if "k" not in _STATE:
        from _kernel import Kernel

        d = tempfile.mkdtemp(prefix="mesh-cell-cases-")
        k = Kernel({"DASK_MESH__HISTORY__PATH": f"{d}/h.sqlite3", "DASK_MESH__REGISTRY__PATH": f"{d}/r"})
        atexit.register(k.close)
        ok = k.run("%load_ext mesh_magics\n%mesh up --workers 2 --threads 1 --cpu", timeout=180)
        assert ok.status == "ok", ok.all_text
        k.run("import threading\nlk = threading.Lock()\nfactor = 3")
        _STATE["k"] = k
    return _STATE["k"]


def _alive(k: Any) -> None:
    c = k.run("%%mesh\n41 + 1", timeout=120)
    out = [m.content["data"]["text/plain"] for m in c.msgs if m.type == "execute_result"]
    assert c.status == "ok" and out == ["42"], f"the mesh does not run a cell after it: {c.all_text[-300:]}"


def _register(name: str, code: str, expect: str, *, error: bool) -> None:
    def fn(ctx: Context) -> Outcome:
        k = _kernel()
        c = k.run(code, timeout=120)
        text = re.sub(r"\x1b\[[0-9;]*m", "", c.all_text)
        if error:
            assert c.status == "error", f"no error: {text[-300:]}"
        else:
            assert c.status == "ok", f"failed: {text[-300:]}"
        assert expect in text, f"{expect!r} not in: {text[-400:]}"
        _alive(k)
        line = (
            next((ln for ln in text.splitlines() if expect in ln), expect)
            .replace("\x1b[31m", "")
            .replace("\x1b[0m", "")
        )
        return Outcome(f"{'error' if error else 'ok'}: {line.strip()[:150]}")

    fn.__name__ = name
    fn.__doc__ = code.replace("\n", "\\n")[:90]
    case("bad-input", quick=True)(fn)


# -- %%mesh options ----------------------------------------------------------------------
CELL = [
    ("cell_unknown_option", "%%mesh --bogus\n1", "unrecognized arguments: --bogus"),
    ("cell_unparsable_options", '%%mesh --name "open\n1', "cannot parse the options"),
    ("cell_timeout_not_a_number", "%%mesh --timeout abc\n1", "invalid float value: 'abc'"),
    ("cell_timeout_negative", "%%mesh --timeout -1\n1", "--timeout must be a positive number of seconds"),
    ("cell_timeout_zero", "%%mesh --timeout 0\n1", "--timeout must be a positive number of seconds"),
    ("cell_timeout_infinite", "%%mesh --timeout 1e999\n1", "--timeout must be a positive number of seconds"),
    ("cell_timeout_nan", "%%mesh --timeout nan\n1", "--timeout must be a positive number of seconds"),
    ("cell_retries_negative", "%%mesh --retries -1\n1", "--retries must be 0 or more"),
    ("cell_retries_not_an_int", "%%mesh --retries 1.5\n1", "invalid int value: '1.5'"),
    ("cell_priority_not_an_int", "%%mesh --priority high\n1", "invalid int value: 'high'"),
    ("cell_on_unknown_worker", "%%mesh --on nosuch\n1", "--on nosuch: no such worker; known workers: 0, 1"),
    ("cell_on_no_worker", "%%mesh --on ,\n1", "--on names no worker"),
    ("cell_resources_not_quantity", "%%mesh --resources GPU=lots\n1", "--resources 'GPU=lots': 'GPU=lots' is not NAME=QUANTITY"),
    ("cell_resources_nobody_offers", "%%mesh --resources TPU=1\n1", "--resources {'TPU': 1.0}: no worker of this mesh offers that"),
    ("cell_push_not_a_name", "%%mesh --push 1abc\n1", "'1abc' is not a variable name"),
    ("cell_push_undefined", "%%mesh --push ghost\n1", "--push ghost: no variable 'ghost' in the notebook"),
    ("cell_push_unpicklable", "%%mesh\nprint(lk)", "cannot send 'lk' (lock) to the mesh"),
    ("cell_pull_not_a_name", "%%mesh --pull 'a b'\n1", "'a b' is not a variable name"),
    ("cell_pull_undefined", "%%mesh --pull missing\n1", "--pull missing: the name is not defined on worker"),
    ("cell_pull_unpicklable", "%%mesh --pull gen\ngen = (i for i in range(3))", "--pull gen: the name cannot be sent back"),
    ("cell_out_not_a_name", "%%mesh -o 1x\n1", "-o '1x' is not a variable name"),
]  # fmt: skip
for _name, _code, _expect in CELL:
    _register(_name, _code, _expect, error=True)
_register("cell_help", "%%mesh --help\n1", "Run this cell on the mesh's workers", error=False)

# -- %mesh commands ----------------------------------------------------------------------
LINE = [
    ("line_unknown_command", "%mesh bogus", "invalid choice: 'bogus'"),
    ("line_up_workers_zero", "%mesh up --workers 0", "argument --workers: 0 is less than 1"),
    ("line_up_workers_not_int", "%mesh up --workers two", "argument --workers: 'two' is not a whole number"),
    ("line_up_threads_zero", "%mesh up --threads 0", "argument --threads: 0 is less than 1"),
    ("line_up_memory_not_a_size", "%mesh up --memory-limit lots", "argument --memory-limit: 'lots' is not a memory size"),
    ("line_up_cpu_and_gpu", "%mesh up --cpu --gpu", "not allowed with argument"),
    ("line_connect_nothing", "%mesh connect", "give either ADDRESS or --cluster NAME"),
    ("line_connect_both", "%mesh connect tcp://127.0.0.1:1 --cluster c", "give either ADDRESS or --cluster NAME"),
    ("line_connect_no_such_cluster", "%mesh connect --cluster nosuch", "--cluster nosuch: no such variable"),
    ("line_connect_while_up", "%mesh connect tcp://127.0.0.1:1", "already on mesh"),
    ("line_connect_timeout_not_a_number", "%mesh connect x --timeout soon", "invalid float value: 'soon'"),
    ("line_history_n_zero", "%mesh history -n 0", "-n 0: give a positive number of runs"),
    ("line_history_n_negative", "%mesh history -n -3", "-n -3: give a positive number of runs"),
    ("line_history_n_not_int", "%mesh history -n many", "invalid int value: 'many'"),
    ("line_history_bad_status", "%mesh history --status dancing", "unknown run status 'dancing'"),
    ("line_history_export_suffix", "%mesh history --export runs.xlsx", "unsupported suffix '.xlsx'"),
    ("line_history_export_no_dir", "%mesh history --export /no/such/dir/runs.csv", "cannot export run history"),
    ("line_cancel_unknown", "%mesh cancel nosuch", "no run 'nosuch' in this session"),
    ("line_config_unknown_key", "%mesh config run.timout=5", "unknown setting mesh.run.timout. Did you mean run.timeout?"),
    ("line_config_unknown_key_read", "%mesh config no.such.key", "unknown setting mesh.no.such.key"),
    ("line_config_unparsable", "%mesh config run.timeout=[1", "does not parse"),
]  # fmt: skip
for _name, _code, _expect in LINE:
    _register(_name, _code, _expect, error=True)
_register("line_bare_shows_help", "%mesh", "Start, join, inspect and leave the Dask mesh", error=False)

# -- every setting given a bad value ------------------------------------------------------
SETTINGS = [
    ("run.timeout", "banana"), ("run.timeout", "0"), ("run.timeout", "-1"), ("run.retries", "-1"),
    ("run.retries", "1.5"), ("run.retries", "true"), ("run.retry-wait", "-0.1"), ("run.max-tracebacks", "0"),
    ("run.output-grace", "soon"), ("cluster.kind", "tpu"), ("cluster.n-workers", "0"),
    ("cluster.threads-per-worker", "many"), ("cluster.memory-limit", "lots"), ("cluster.memory-limit", "-5"),
    ("cluster.dashboard-address", "8787"), ("reconnect.enabled", "maybe"), ("reconnect.initial-delay", "0"),
    ("reconnect.max-delay", "-1"), ("reconnect.max-attempts", "-1"), ("stream.flush-interval", "0"),
    ("stream.max-chunk", "0"), ("stream.max-display-chars", "big"), ("history.enabled", "1"),
    ("history.tail-bytes", "-1"), ("history.path", "3"), ("registry.path", "[a]"), ("progress.after", "-1"),
    ("dashboard.enabled", "null"), ("dashboard.interval", "0"), ("dashboard.max-log-lines", "0"),
    ("dashboard.log-level", "LOUD"),
]  # fmt: skip
for _i, (_key, _bad) in enumerate(SETTINGS):
    _register(
        f"setting_{_key.replace('.', '_').replace('-', '_')}_{_i}",
        f"%mesh config {_key}={_bad}",
        f"mesh.{_key} = ",
        error=True,
    )

# -- cells that misbehave (documented errors or results) ------------------------------------
CELLS = [
    ("misbehave_system_exit", "%%mesh\nraise SystemExit(3)", "SystemExit: 3", True),
    ("misbehave_sys_exit", "%%mesh\nimport sys\nsys.exit('bye')", "SystemExit: bye", True),
    ("misbehave_exit_builtin", "%%mesh\nexit()", "SystemExit", True),
    ("misbehave_keyboard_interrupt", "%%mesh\nraise KeyboardInterrupt", "KeyboardInterrupt", True),
    ("misbehave_memory_error", "%%mesh\nraise MemoryError('pretend')", "MemoryError: pretend", True),
    ("misbehave_recursion", "%%mesh\ndef f():\n    return f()\nf()", "RecursionError", True),
    ("misbehave_syntax_error", "%%mesh\nx = = 1", "SyntaxError", True),
    ("misbehave_top_level_await", "%%mesh\nimport asyncio\nawait asyncio.sleep(0)", "SyntaxError", True),
    ("misbehave_reads_stdin", "%%mesh\ninput()", "EOFError", True),
    ("misbehave_kills_its_worker", "%%mesh --on 1\nimport os\nos._exit(1)", "WorkerLostError", True),
    ("misbehave_sigterm_its_worker", "%%mesh --on 0\nimport os, signal\nos.kill(os.getpid(), signal.SIGTERM)", "WorkerLostError", True),
    ("misbehave_surrogate_output", "%%mesh\nimport sys\nsys.stdout.write('a\\ud800b\\n')", "a\\ud800b", False),
    ("misbehave_control_bytes", "%%mesh\nprint('bell\\x07 nul\\x00 esc\\x1b[2J end')", "end", False),
    ("misbehave_huge_output", "%%mesh\nprint('x' * 30_000_000)\nprint('tail')", "characters elided", False),
    ("misbehave_unpicklable_value", "%%mesh\nimport threading\nthreading.Lock()", "<unlocked _thread.lock object", False),
    # the value travels (it pickles); the notebook's repr of it fails as it would for a local one
    ("misbehave_broken_repr", "%%mesh\nclass X:\n    def __repr__(self):\n        raise ValueError('no')\nX()", "ValueError: no", True),
    ("misbehave_broken_repr_unpicklable", "%%mesh\nimport threading\nclass Y:\n    lock = threading.Lock()\n    def __reduce__(self):\n        raise TypeError('stays')\n    def __repr__(self):\n        raise ValueError('no')\nY()", "repr failed", False),
    ("misbehave_generator_value", "%%mesh\n(i for i in range(3))", "<generator object", False),
    ("misbehave_sets_stdout_none", "%%mesh\nimport sys\nsys.stdout = None\nprint('lost')", "", False),
    ("misbehave_output_after_stdout_none", "%%mesh\nprint('printing again')", "printing again", False),
    ("misbehave_closes_stdout", "%%mesh\nimport sys\nsys.stdout.close()\nprint('still here')", "still here", False),
    ("misbehave_output_after_close", "%%mesh\nprint('and after')", "and after", False),
    ("misbehave_late_thread_output", "%%mesh\nimport threading, time\nthreading.Thread(target=lambda: (time.sleep(0.3), print('late'))).start()\n'cell done'", "cell done", False),
    ("misbehave_deletes_get_client", "%%mesh\ndel get_client\n'gone'", "gone", False),
]  # fmt: skip
for _name, _code, _expect, _error in CELLS:
    _register(_name, _code, _expect, error=_error)

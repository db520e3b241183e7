"""What runs on the workers: session namespaces, output capture, interruption.

A worker is not a kernel. A ``%%mesh`` cell becomes one Dask task per target
worker that calls :func:`run_cell`. The task

* executes the cell in a namespace that belongs to the notebook session on this
  worker (kept in this module, so later cells see earlier variables);
* captures the cell's ``sys.stdout`` / ``sys.stderr`` writes and log records
  (:mod:`.capture`: only those of the task's own thread) and sends them to the
  client as Dask events on the session's topic;
* registers its thread so :func:`interrupt` can raise :class:`RunInterrupted`
  in it (``PyThreadState_SetAsyncExc``): a kernel interrupt on the client
  interrupts the code running here, not just the future;
* returns a small dict: status, the last expression's value and mimebundle,
  pulled variables, the formatted traceback with the cell's own line numbers.

The same body also runs without a task (:func:`run_direct`): the session's actor on this
worker (:mod:`.actor`) calls it on a thread of its own when the kernel sends the cell
straight to the worker, skipping the scheduler. The namespace is the same either way.

This module is imported on the workers, so it imports only the standard library
and distributed (the rule of :mod:`mesh_magics.worker`).
"""

from __future__ import annotations

import ast
import ctypes
import linecache
import logging
import threading
import time
import traceback
from typing import Any

from .capture import Capture, LogForward, capture_thread, install
from .tokens import tokens

__all__ = [
    "RunInterrupted",
    "drop_session",
    "fresh_namespace",
    "interrupt",
    "namespace_names",
    "namespace_tokens",
    "run_cell",
    "run_direct",
    "running",
    "session_namespace",
    "version",
]

#: session id -> the namespace of that notebook session on this worker
_SESSIONS: dict[str, dict[str, Any]] = {}
#: run id -> (ident of the thread executing it, its capture)
_RUNNING: dict[str, tuple[int, Capture]] = {}
_LOCK = threading.Lock()
#: run ids interrupted here, newest last: a batch item of such a run that starts after the
#: interrupt (the scheduler handed it over before its future's cancel arrived) does not run
_INTERRUPTED: dict[str, None] = {}
_INTERRUPTED_KEEP = 512
#: runs whose thread is in the cell's own code now: the only place an interrupt is raised (an
#: exception raised in our bookkeeping or in distributed's thread pool, between a lock's
#: acquire and its ``try``, would leave the lock held or the pool a thread short). One shot:
#: the interrupt disarms the run as it raises.
_ARMED: set[str] = set()


def _checkpoint() -> None:
    """A Python call: a pending interrupt is raised at it at the latest (CPython checks on calls)."""


class RunInterrupted(BaseException):
    """Raised inside a cell's thread when its run is cancelled.

    A ``BaseException`` so that ``except Exception`` in user code does not
    swallow the cancellation, like ``KeyboardInterrupt`` in a kernel.
    """


def _no_input(prompt: object = "") -> str:
    """``input()`` in a cell: a worker has no terminal to read from."""
    raise EOFError(
        "a mesh cell runs on a worker, which has no terminal to read input from; push the value instead"
    )


def _split_last_expr(tree: ast.Module) -> tuple[ast.Module, ast.Expression | None]:
    last = tree.body[-1] if tree.body else None
    if isinstance(last, ast.Expr):
        tree.body.pop()
        return tree, ast.Expression(body=last.value)
    return tree, None


def _cell_traceback(exc: BaseException, filename: str) -> list[str]:
    """Format ``exc`` from the first frame of the cell on: no frames of ours."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != filename:
        tb = tb.tb_next
    return traceback.format_exception(type(exc), exc, tb)


def _mimebundle(value: Any) -> dict[str, str]:
    bundle: dict[str, str] = {}
    try:
        bundle["text/plain"] = repr(value)
    except Exception as e:  # a broken __repr__ must not fail the run
        bundle["text/plain"] = f"<{type(value).__name__} (repr failed: {e!r})>"
    html = getattr(value, "_repr_html_", None)
    if callable(html):
        try:
            out = html()
            if isinstance(out, str):
                bundle["text/html"] = out
        except Exception:
            pass
    return bundle


def _portable(value: Any) -> tuple[bool, Any, str | None]:
    """Whether ``value`` can travel back to the client as itself."""
    try:
        import cloudpickle

        cloudpickle.dumps(value)
        return True, value, None
    except Exception as e:
        return False, None, f"{type(e).__name__}: {e}"


def run_cell(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one ``%%mesh`` cell here (the body of the Dask task). See module doc."""
    from distributed import get_worker, secede

    # Leave the worker's thread pool: the cell may wait on Dask work it
    # launches itself (get_client()), which needs this worker's threads.
    return _run(spec, get_worker(), before=secede)


def run_direct(spec: dict[str, Any], worker: Any) -> dict[str, Any]:
    """Run one cell on a thread of the session's actor (no task: see module doc).

    The span a task gets from its annotation (the scheduler plugin attributes the cell's Dask
    work to the run through it) is opened here; the plugin hears of the cell itself on
    :data:`~.plugin.CELLS_TOPIC`, as it sees a cell task's transitions."""
    from distributed import span

    from .plugin import CELLS_TOPIC

    with span(*spec["span"]):
        worker.log_event(CELLS_TOPIC, {"run": spec["run_id"], "state": "running"})
        try:
            return _run(spec, worker, before=None)
        finally:
            worker.log_event(CELLS_TOPIC, {"run": spec["run_id"], "state": "done"})


def _run(spec: dict[str, Any], worker: Any, before: Any, ns: dict[str, Any] | None = None) -> dict[str, Any]:
    """The cell body; ``ns`` the namespace to run in (default: the session's, see :func:`fresh_namespace`)."""
    started = time.time()
    install()
    run_id = spec["run_id"]
    filename = spec["filename"]
    cap = Capture(worker, spec["topic"], run_id, spec["flush_interval"], spec["max_chunk"])
    with _LOCK:
        if ns is None:
            ns = _SESSIONS.setdefault(spec["session"], fresh_namespace())
        _RUNNING[run_id] = (threading.get_ident(), cap)
    ns.update(spec.get("push") or {})
    cache, seen = spec.get("cache"), None  # --cache: the namespace before and after (see .tokens)
    if before is not None:
        before()
    cap.send({"kind": "started", "time": started})
    capture_thread(cap)
    forward = LogForward(cap, threading.get_ident(), logging.getLevelName(spec.get("log_level", "INFO")))
    logging.getLogger().addHandler(forward)
    out: dict[str, Any] = {"worker": worker.address, "worker_name": str(worker.name), "started": started}
    try:
        with _LOCK:
            if run_id in _INTERRUPTED or run_id.split("/", 1)[0] in _INTERRUPTED:
                raise RunInterrupted  # cancelled before it began: ends like one interrupted at once
            _ARMED.add(run_id)
        try:
            if cache:  # inside the run: a cancel while it tokenizes ends it like any other
                seen = {**cache["pushed"], **tokens(ns, cache["reads"])}
            linecache.cache[filename] = (len(spec["code"]), None, spec["code"].splitlines(True), filename)
            body, last = _split_last_expr(ast.parse(spec["code"], filename, "exec"))
            exec(compile(body, filename, "exec"), ns)
            value = eval(compile(last, filename, "eval"), ns) if last is not None else None
        finally:
            with _LOCK:
                _ARMED.discard(run_id)
            _checkpoint()  # an interrupt raised as the cell ended lands here, still inside the try
        out["status"] = "ok"
        if value is not None:
            ns["_"] = value
            out["mimebundle"] = _mimebundle(value)
            ok, v, why = _portable(value)
            out["has_value"] = ok
            out["value"] = v
            out["value_note"] = why
    except RunInterrupted:
        out["status"] = "cancelled"
    except BaseException as e:  # the cell's own errors, SystemExit included
        out.update(
            status="error",
            ename=type(e).__name__,
            evalue=str(e),
            traceback=_cell_traceback(e, filename),
        )
    finally:
        logging.getLogger().removeHandler(forward)
        capture_thread(None)
        with _LOCK:
            _RUNNING.pop(run_id, None)
    out["chunks"] = cap.close()
    pulled, missing = {}, []
    for name in spec.get("pull") or ():
        if name in ns:
            ok, v, why = _portable(ns[name])
            if ok:
                pulled[name] = v
            else:
                missing.append((name, f"cannot be sent back ({why})"))
        else:
            missing.append((name, "is not defined"))
    out["pulled"] = pulled
    out["pull_missing"] = missing
    if cache and out["status"] == "ok":  # --cache: and what the cell left there
        out["cache"] = {"in": seen, "out": tokens(ns, cache["binds"])}
    out["names"] = sorted(k for k in ns if not k.startswith("__"))
    out["finished"] = time.time()
    return out


def fresh_namespace() -> dict[str, Any]:
    """What a new session namespace on a worker starts with."""
    from distributed import get_client

    return {"__name__": "__mesh__", "get_client": get_client, "input": _no_input}


def session_namespace(session: str) -> dict[str, Any] | None:
    """The session's namespace on this worker, if a cell of the session ran here."""
    with _LOCK:
        return _SESSIONS.get(session)


def namespace_names(session: str) -> list[str]:
    """Names defined in the session's namespace on this worker."""
    return sorted(k for k in _SESSIONS.get(session, {}) if not k.startswith("__"))


def namespace_tokens(session: str, names: list[str]) -> dict[str, str | None]:
    """Dask tokens of ``names`` in the session's namespace here (the result cache's lookup)."""
    return tokens(_SESSIONS.get(session, {}), names)


def running() -> list[str]:
    """The run ids whose cell executes on this worker now."""
    with _LOCK:
        return sorted(_RUNNING)


def drop_session(session: str) -> bool:
    """Forget a session's namespace on this worker (``%mesh down``, kernel exit)."""
    with _LOCK:
        return _SESSIONS.pop(session, None) is not None


def interrupt(run_id: str) -> bool:
    """Raise :class:`RunInterrupted` in the thread running ``run_id`` here.

    Runs through ``Client.run``. It is raised only while the thread runs the cell's own
    code (see ``_ARMED``), once; a batch item of ``run_id`` that starts here afterwards
    ends as cancelled without running. Python checks for the pending exception between
    bytecodes, so pure-Python loops stop at once; a C call (a long
    ``time.sleep``, a blocking read) stops when it returns.
    """
    hit: list[Capture] = []
    with _LOCK:  # a batch's items run as "<run id>/<index>": the run's id interrupts them all
        _INTERRUPTED.pop(run_id, None)
        _INTERRUPTED[run_id] = None  # and those that start here later (see _run)
        while len(_INTERRUPTED) > _INTERRUPTED_KEEP:
            del _INTERRUPTED[next(iter(_INTERRUPTED))]
        for key, (ident, cap) in list(_RUNNING.items()):
            if (key == run_id or key.startswith(f"{run_id}/")) and key in _ARMED:
                _ARMED.discard(key)  # raised under the lock: the thread cannot leave its code meanwhile
                n = ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(ident), ctypes.py_object(RunInterrupted)
                )
                if n:
                    hit.append(cap)
    for cap in hit:  # a direct call ends on this event: a C call may hold the thread a while
        cap.send({"kind": "interrupted"})
    return bool(hit)


def version() -> str:
    """The mesh-magics version installed on this worker (checked at connect)."""
    from .._version import __version__

    return __version__

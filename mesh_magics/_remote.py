"""What runs on the workers: session namespaces, output capture, interruption.

A worker is not a kernel. A ``%%mesh`` cell becomes one Dask task per target
worker that calls :func:`run_cell`. The task

* executes the cell in a namespace that belongs to the notebook session on this
  worker (kept in this module, so later cells see earlier variables);
* captures the cell's ``sys.stdout`` / ``sys.stderr`` writes (only those of the
  task's own thread; other tasks on the worker print as before) and sends them
  to the client as Dask events on the session's topic, batched every
  ``flush-interval`` seconds, each chunk numbered so the client can tell when it
  has them all;
* registers its thread so :func:`interrupt` can raise :class:`RunInterrupted`
  in it (``PyThreadState_SetAsyncExc``): a kernel interrupt on the client
  interrupts the code running here, not just the future;
* returns a small dict: status, the last expression's value and mimebundle,
  pulled variables, the formatted traceback with the cell's own line numbers.

This module is imported on the workers, so it imports only the standard library
and distributed, and is small on purpose.
"""

from __future__ import annotations

import ast
import ctypes
import io
import linecache
import logging
import sys
import threading
import time
import traceback
import warnings
from typing import Any

__all__ = [
    "RunInterrupted",
    "drop_session",
    "interrupt",
    "namespace_names",
    "run_cell",
    "version",
]

#: session id -> the namespace of that notebook session on this worker
_SESSIONS: dict[str, dict[str, Any]] = {}
#: run id -> ident of the thread executing it
_RUNNING: dict[str, int] = {}
_LOCK = threading.Lock()
_local = threading.local()


class RunInterrupted(BaseException):
    """Raised inside a cell's thread when its run is cancelled.

    A ``BaseException`` so that ``except Exception`` in user code does not
    swallow the cancellation, like ``KeyboardInterrupt`` in a kernel.
    """


class _Dispatch(io.TextIOBase):
    """Replaces ``sys.stdout``/``sys.stderr``: routes a thread's writes to its capture."""

    def __init__(self, name: str, original: Any) -> None:
        self._name = name
        self._original = original

    def write(self, s: str) -> int:
        cap = getattr(_local, "capture", None)
        if cap is None:
            return self._original.write(s)
        return cap.write(self._name, s)

    def flush(self) -> None:
        cap = getattr(_local, "capture", None)
        if cap is None:
            self._original.flush()
        else:
            cap.flush()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._original, "encoding", "utf-8")

    def fileno(self) -> int:
        return self._original.fileno()


def _install_dispatch() -> None:
    # Every run opens a Dask span; dask-expr warns on each dataframe built under one
    # ("annotations will be ignored") although the scheduler still attributes the tasks.
    warnings.filterwarnings("ignore", message="Dask annotations", category=UserWarning)
    with _LOCK:
        if not isinstance(sys.stdout, _Dispatch):
            sys.stdout = _Dispatch("stdout", sys.stdout)
        if not isinstance(sys.stderr, _Dispatch):
            sys.stderr = _Dispatch("stderr", sys.stderr)


class _Capture:
    """Buffers one run's output and ships it as numbered events."""

    def __init__(self, worker: Any, topic: str, run_id: str, interval: float, max_chunk: int):
        self.worker = worker
        self.topic = topic
        self.run_id = run_id
        self.interval = interval
        self.max_chunk = max_chunk
        self.buf: dict[str, list[str]] = {"stdout": [], "stderr": [], "log": []}
        self.seq = 0
        self.lock = threading.Lock()
        self.last = time.monotonic()
        self.closed = threading.Event()
        self.timer: threading.Thread | None = None  # started by the first write

    def write(self, stream: str, s: str) -> int:
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        with self.lock:
            self.buf[stream].append(s)
            if self.timer is None:
                self.timer = threading.Thread(
                    target=self._tick, daemon=True, name=f"mesh-flush-{self.run_id}"
                )
                self.timer.start()
        return len(s)

    def _tick(self) -> None:
        while not self.closed.wait(self.interval):
            self.flush()

    def flush(self) -> None:
        with self.lock:
            pending = [(k, "".join(v)) for k, v in self.buf.items() if v]
            for v in self.buf.values():
                v.clear()
            for stream, text in pending:
                for i in range(0, len(text), self.max_chunk):
                    self.seq += 1
                    self._send(
                        {
                            "kind": "stream",
                            "stream": stream,
                            "text": text[i : i + self.max_chunk],
                            "seq": self.seq,
                        }
                    )

    def _send(self, msg: dict[str, Any]) -> None:
        msg["run"] = self.run_id
        msg["worker"] = self.worker.address
        self.worker.log_event(self.topic, msg)

    def close(self) -> int:
        self.closed.set()
        self.flush()
        return self.seq


class _LogForward(logging.Handler):
    """Forwards the run's log records: any from the cell's thread at ``level`` and
    above, and WARNING and above from distributed on this worker meanwhile."""

    def __init__(self, cap: _Capture, thread: int, level: int) -> None:
        super().__init__(logging.DEBUG)
        self.cap, self.thread, self.floor = cap, thread, level
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        mine = record.thread == self.thread and record.levelno >= self.floor
        if mine or (record.name.startswith("distributed") and record.levelno >= logging.WARNING):
            try:
                text = self.format(record).replace("\n", " ")
            except Exception:
                return
            self.cap.write("log", f"{record.levelname}\t{text}\n")


def _split_last_expr(tree: ast.Module) -> tuple[ast.Module, ast.Expression | None]:
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = tree.body.pop()
        return tree, ast.Expression(body=last.value)  # type: ignore[attr-defined]
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
    from distributed import get_client, get_worker, secede

    worker = get_worker()
    started = time.time()
    _install_dispatch()
    run_id = spec["run_id"]
    filename = spec["filename"]
    with _LOCK:
        ns = _SESSIONS.setdefault(spec["session"], {"__name__": "__mesh__", "get_client": get_client})
        _RUNNING[run_id] = threading.get_ident()
    ns.update(spec.get("push") or {})

    # Leave the worker's thread pool: the cell may wait on Dask work it
    # launches itself (get_client()), which needs this worker's threads.
    secede()
    cap = _Capture(worker, spec["topic"], run_id, spec["flush_interval"], spec["max_chunk"])
    cap._send({"kind": "started", "time": started})
    _local.capture = cap
    forward = _LogForward(cap, threading.get_ident(), logging.getLevelName(spec.get("log_level", "INFO")))
    logging.getLogger().addHandler(forward)
    out: dict[str, Any] = {"worker": worker.address, "worker_name": str(worker.name), "started": started}
    try:
        linecache.cache[filename] = (len(spec["code"]), None, spec["code"].splitlines(True), filename)
        body, last = _split_last_expr(ast.parse(spec["code"], filename, "exec"))
        exec(compile(body, filename, "exec"), ns)
        value = eval(compile(last, filename, "eval"), ns) if last is not None else None
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
        _local.capture = None
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
    out["names"] = sorted(k for k in ns if not k.startswith("__"))
    out["finished"] = time.time()
    return out


def namespace_names(session: str) -> list[str]:
    """Names defined in the session's namespace on this worker."""
    return sorted(k for k in _SESSIONS.get(session, {}) if not k.startswith("__"))


def drop_session(session: str) -> bool:
    """Forget a session's namespace on this worker (``%mesh down``, kernel exit)."""
    with _LOCK:
        return _SESSIONS.pop(session, None) is not None


def interrupt(run_id: str) -> bool:
    """Raise :class:`RunInterrupted` in the thread running ``run_id`` here.

    Runs through ``Client.run``. Python checks for the pending exception between
    bytecodes, so pure-Python loops stop at once; a C call (a long
    ``time.sleep``, a blocking read) stops when it returns.
    """
    with _LOCK:
        ident = _RUNNING.get(run_id)
    if ident is None:
        return False
    n = ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(RunInterrupted))
    return bool(n)


def version() -> str:
    """The mesh-magics version installed on this worker (checked at connect)."""
    from ._version import __version__

    return __version__

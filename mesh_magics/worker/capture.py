"""Capture of a cell's output on the worker, shipped as numbered Dask events.

:func:`install` replaces ``sys.stdout``/``sys.stderr`` once per worker process with a
dispatcher that routes each write to the :class:`Capture` of the writing thread (set with
:func:`capture_thread`), or to the original stream for every other thread: other tasks on
the worker print as before. A capture buffers what its thread writes and sends it every
``interval`` seconds as events on the session's topic (``Worker.log_event``), each chunk
numbered, so the client can tell when it has them all. The flushes are timers on the worker's
event loop, armed by the first write (no thread is started per cell). :class:`LogForward` adds the
thread's log records (and distributed's warnings on this worker meanwhile) as a third
stream, ``log``.
"""

from __future__ import annotations

import io
import logging
import sys
import threading
import time
import warnings
from typing import Any

__all__ = ["Capture", "LogForward", "capture_thread", "encodable", "install"]

_LOCK = threading.Lock()
_local = threading.local()


class _Dispatch(io.TextIOBase):
    """Replaces ``sys.stdout``/``sys.stderr``: routes a thread's writes to its capture."""

    def __init__(self, name: str, original: Any) -> None:
        self._name = name
        self._original = original

    def write(self, s: str) -> int:
        cap: Capture | None = getattr(_local, "capture", None)
        if cap is None:
            return int(self._original.write(s))
        return cap.write(self._name, s)

    def flush(self) -> None:
        cap: Capture | None = getattr(_local, "capture", None)
        if cap is None:
            self._original.flush()
        else:
            cap.flush()

    def isatty(self) -> bool:
        return False

    def close(self) -> None:
        """A cell closing ``sys.stdout`` must not silence every later cell on this worker."""

    @property
    def closed(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]  # TextIOBase declares it a plain attribute
        return str(getattr(self._original, "encoding", "utf-8"))

    def fileno(self) -> int:
        return int(self._original.fileno())


def install() -> None:
    """Route this process's ``sys.stdout``/``sys.stderr`` through the per-thread dispatch."""
    # Every run opens a Dask span; dask-expr warns on each dataframe built under one
    # ("annotations will be ignored") although the scheduler still attributes the tasks.
    warnings.filterwarnings("ignore", message="Dask annotations", category=UserWarning)
    with _LOCK:
        if not isinstance(sys.stdout, _Dispatch):
            sys.stdout = _Dispatch("stdout", sys.stdout)
        if not isinstance(sys.stderr, _Dispatch):
            sys.stderr = _Dispatch("stderr", sys.stderr)


def capture_thread(cap: Capture | None) -> None:
    """Send the calling thread's writes to ``cap`` (None: back to the original streams)."""
    _local.capture = cap


class Capture:
    """Buffers one run's output and ships it as numbered events."""

    def __init__(self, worker: Any, topic: str, run_id: str, interval: float, max_chunk: int) -> None:
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
        self.armed = False  # the flush timer runs from the first write to close()

    def write(self, stream: str, s: str) -> int:
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        with self.lock:
            self.buf[stream].append(s)
            arm = not self.armed
            self.armed = True
        if arm:
            self.worker.loop.add_callback(self._later)  # thread-safe; the timer lives on the loop
        return len(s)

    def _later(self) -> None:
        if not self.closed.is_set():
            self.worker.loop.call_later(self.interval, self._tick)

    def _tick(self) -> None:
        if not self.closed.is_set():
            self.flush()
            self._later()

    def flush(self) -> None:
        with self.lock:
            pending = [(k, "".join(v)) for k, v in self.buf.items() if v]
            for v in self.buf.values():
                v.clear()
            for stream, text in pending:
                for i in range(0, len(text), self.max_chunk):
                    self.seq += 1
                    self.send(
                        {
                            "kind": "stream",
                            "stream": stream,
                            "text": text[i : i + self.max_chunk],
                            "seq": self.seq,
                        }
                    )

    def send(self, msg: dict[str, Any]) -> None:
        """Send one event of this run to the client (``kind`` names what it is)."""
        msg["run"] = self.run_id
        msg["worker"] = self.worker.address
        if "text" in msg:
            msg["text"] = encodable(msg["text"])
        self.worker.log_event(self.topic, msg)

    def close(self) -> int:
        """Flush what is left; return how many chunks were sent in all."""
        self.closed.set()
        self.flush()
        return self.seq


def encodable(text: str) -> str:
    """``text`` as UTF-8 can carry it: events travel as msgpack, which encodes strings as
    UTF-8, and one lone surrogate (``sys.stdout.write('\\ud800')``) would break the
    worker's connection to the scheduler. Such code points are shown escaped (``\\ud800``)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


class LogForward(logging.Handler):
    """Forwards the run's log records: any from the cell's thread at ``level`` and
    above, and WARNING and above from distributed on this worker meanwhile."""

    def __init__(self, cap: Capture, thread: int, level: int) -> None:
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

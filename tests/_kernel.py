"""A real IPython kernel driven through jupyter_client, recording iopub traffic.

Used by the magic tests: every message keeps its parent's msg_id and arrival
time, so tests can assert that output arrived *while* a cell ran and that it
landed in the cell that started the run.
"""

from __future__ import annotations

import queue
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.manager import start_new_kernel


@dataclass
class Msg:
    type: str
    parent: str | None
    content: dict[str, Any]
    t: float


@dataclass
class Cell:
    msg_id: str
    sent: float
    reply: dict[str, Any] | None = None
    replied: float | None = None
    msgs: list[Msg] = field(default_factory=list)

    def texts(self, *types: str) -> list[str]:
        """Text of stream output and of display/update messages, in order."""
        out = []
        for m in self.msgs:
            if types and m.type not in types:
                continue
            if m.type == "stream":
                out.append(m.content["text"])
            elif m.type in ("display_data", "update_display_data", "execute_result"):
                out.append(m.content["data"].get("text/plain", ""))
            elif m.type == "error":
                out.append("\n".join(m.content.get("traceback", [])))
        return out

    @property
    def all_text(self) -> str:
        return "\n".join(self.texts())

    @property
    def final_text(self) -> str:
        """What the notebook shows once the cell is done: each display (by its display id)
        in its last state, streams and results as they came. ``all_text`` holds every state
        of a live display, so a line shown before and after an update is in it twice."""
        shown: dict[str, str] = {}  # display id (or a unique key) -> its text, in order of appearance
        for i, m in enumerate(self.msgs):
            if m.type in ("display_data", "update_display_data"):
                did = (m.content.get("transient") or {}).get("display_id")
                key = f"display {did}" if did else f"msg {i}"
                if m.type == "display_data" or key in shown:
                    shown[key] = m.content["data"].get("text/plain", "")
            elif m.type == "stream":
                shown[f"msg {i}"] = m.content["text"]
            elif m.type == "execute_result":
                shown[f"msg {i}"] = m.content["data"].get("text/plain", "")
            elif m.type == "error":
                shown[f"msg {i}"] = "\n".join(m.content.get("traceback", []))
        return "\n".join(shown.values())

    @property
    def status(self) -> str | None:
        return self.reply["status"] if self.reply else None


class Kernel:
    """One kernel; all channel reads happen on the calling thread (zmq sockets are not thread-safe)."""

    def __init__(self, extra_env: dict[str, str] | None = None) -> None:
        import os

        env = dict(os.environ, **(extra_env or {}))
        self.km, self.kc = start_new_kernel(kernel_name="python3", env=env)
        self.msgs: list[Msg] = []
        self.cells: dict[str, Cell] = {}

    def _drain(self, timeout: float = 0.05) -> None:
        """Read every pending message (waiting up to ``timeout`` for the first)."""
        wait = timeout
        while True:
            try:
                m = self.kc.get_iopub_msg(timeout=wait)
            except queue.Empty:
                break
            wait = 0.005
            rec = Msg(m["msg_type"], m["parent_header"].get("msg_id"), m["content"], time.time())
            self.msgs.append(rec)
            cell = self.cells.get(rec.parent or "")
            if cell is not None:
                cell.msgs.append(rec)
        while True:
            try:
                m = self.kc.get_shell_msg(timeout=0.001)
            except queue.Empty:
                break
            cell = self.cells.get(m["parent_header"].get("msg_id"))
            if cell is not None:
                cell.reply, cell.replied = m["content"], time.time()

    def submit(self, code: str) -> Cell:
        msg_id = self.kc.execute(code)
        cell = Cell(msg_id, time.time())
        self.cells[msg_id] = cell
        return cell

    def pump(self, seconds: float) -> None:
        """Keep reading messages for ``seconds`` (to see late display updates)."""
        end = time.time() + seconds
        while time.time() < end:
            self._drain(0.05)

    def done(self, cell: Cell) -> bool:
        return cell.reply is not None and any(
            m.type == "status" and m.content.get("execution_state") == "idle" for m in cell.msgs
        )

    def wait(self, cell: Cell, timeout: float = 60) -> Cell:
        deadline = time.time() + timeout
        while time.time() < deadline:
            self._drain(0.05)
            if self.done(cell):
                return cell
        raise TimeoutError(f"cell did not finish in {timeout} s: {cell.all_text[-2000:]}")

    def run(self, code: str, timeout: float = 60) -> Cell:
        return self.wait(self.submit(code), timeout)

    def interrupt(self) -> None:
        self.km.interrupt_kernel()

    def close(self) -> None:
        try:
            self.kc.stop_channels()
        finally:
            self.km.shutdown_kernel(now=True)


def isolated_kernel(directory: Path, workers: int | None = None) -> Kernel:
    """A kernel whose history and registry live in ``directory`` (``k.dir``); with
    ``workers``, the extension loaded and an embedded CPU mesh of that many workers up."""
    k = Kernel({"DASK_MESH__HISTORY__PATH": str(directory / "history.sqlite3"),
                "DASK_MESH__REGISTRY__PATH": str(directory / "registry")})  # fmt: skip
    k.dir = directory
    if workers is not None:
        ok(k.run("%load_ext mesh_magics"))
        ok(k.run(f"%mesh up --workers {workers} --threads 1 --cpu", timeout=120))
    return k


def ok(cell: Cell) -> Cell:
    """``cell``, asserting it ran without error (its whole text as the message)."""
    assert cell.status == "ok", cell.all_text
    return cell


def result_text(cell: Cell) -> list[str]:
    """The ``text/plain`` of the cell's execute results."""
    return [m.content["data"]["text/plain"] for m in cell.msgs if m.type == "execute_result"]

"""Where a run's streamed output goes: into its cell, or to a text stream.

The run model (:mod:`mesh_magics.run`) knows nothing about Jupyter; it hands
each (worker, stream) text to a renderer:

* :class:`CellRenderer` — one display per (worker × stream), created in the cell
  that started the run and updated in place (``display_id``). Updates may come
  from a background thread (``--noblock``); each publish is made with the
  parent header of the cell that started the run, so the output can never land
  in whatever cell the user runs meanwhile (print from a background thread
  would: ipykernel attributes it to the current or the creating cell).
* :class:`TextRenderer` — writes chunks as they come to a file (plain Python,
  scripts, ``MESH_NONINTERACTIVE=1``).
* :class:`NullRenderer` — keeps nothing visible (tests and programmatic use read
  ``MeshRun.stdout``).
"""

from __future__ import annotations

import sys
import threading
import uuid
from typing import Any, Protocol, TextIO

from ._streams import StreamText

__all__ = ["CellRenderer", "NullRenderer", "Renderer", "TextRenderer", "default_renderer"]

_MIME = {"stdout": "application/vnd.jupyter.stdout", "stderr": "application/vnd.jupyter.stderr"}


class Renderer(Protocol):
    def chunk(self, key: tuple[str, str], label: str, text: str) -> None:
        """A new chunk of ``text`` arrived for ``key = (worker, stream)``."""

    def render(self, key: tuple[str, str], label: str, stream: StreamText) -> None:
        """Show the whole current text of ``key`` (called at most ~20×/s per key)."""

    def message(self, text: str, stream: str = "stderr") -> None:
        """A one-off notice (retry, lost namespace, ...)."""


class NullRenderer:
    def chunk(self, key: tuple[str, str], label: str, text: str) -> None:
        pass

    def render(self, key: tuple[str, str], label: str, stream: StreamText) -> None:
        pass

    def message(self, text: str, stream: str = "stderr") -> None:
        pass


class TextRenderer(NullRenderer):
    """Writes chunks straight to ``out`` / ``err`` (a terminal handles ``\\r`` itself);
    the dashboard prints plain-text progress lines through ``progress_line``."""

    def progress_line(self, text: str) -> None:
        self.message(text, "stdout")

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None, prefix: bool = False):
        self.out, self.err, self.prefix = out or sys.stdout, err or sys.stderr, prefix

    def chunk(self, key: tuple[str, str], label: str, text: str) -> None:
        f = self.err if key[1] == "stderr" else self.out
        if self.prefix and label:
            text = "".join(f"[{label}] {ln}" for ln in text.splitlines(True))
        f.write(text)
        f.flush()

    def message(self, text: str, stream: str = "stderr") -> None:
        (self.err if stream == "stderr" else self.out).write(text.rstrip("\n") + "\n")


class CellRenderer(NullRenderer):
    """Display handles in the cell that created this renderer (see module doc)."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.prefix = uuid.uuid4().hex[:12]
        self._shown: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        kernel = getattr(shell, "kernel", None)
        try:
            self.parent = kernel.get_parent("shell") if kernel is not None else None
        except Exception:
            self.parent = None

    def _publish(self, data: dict[str, Any], display_id: str, update: bool) -> None:
        pub = self.shell.display_pub
        token = None
        setter = getattr(pub, "set_thread_parent", None)
        if self.parent and setter is not None:
            token = setter(self.parent)
        try:
            pub.publish(data=data, metadata={}, transient={"display_id": display_id}, update=update)
        finally:
            if token is not None:
                pub.reset_thread_parent(token)

    def render(self, key: tuple[str, str], label: str, stream: StreamText) -> None:
        text = stream.text
        if label:
            text = f"[{key[1]}:{label}]\n{text}"
        data = {"text/plain": text, _MIME.get(key[1], "text/plain"): text}
        with self._lock:
            update = key in self._shown
            self._shown.add(key)
            self._publish(data, f"{self.prefix}-{key[0]}-{key[1]}", update)

    def widget(self, w: Any, key: str) -> None:
        """Display a widget (with its text/plain and text/html) in the run's cell."""
        with self._lock:
            self._publish(w._repr_mimebundle_(), f"{self.prefix}-{key}", False)

    def update_widget(self, w: Any, key: str) -> None:
        """Re-send the widget's bundle so its text fallbacks show the final state."""
        with self._lock:
            self._publish(w._repr_mimebundle_(), f"{self.prefix}-{key}", True)

    def message(self, text: str, stream: str = "stderr") -> None:
        data = {"text/plain": text, _MIME[stream]: text.rstrip("\n") + "\n"}
        with self._lock:
            self._publish(data, f"{self.prefix}-msg-{uuid.uuid4().hex[:8]}", False)


def default_renderer() -> Any:
    """The cell renderer inside a Jupyter kernel, else text to stdout/stderr."""
    import os

    if os.environ.get("MESH_NONINTERACTIVE") == "1":
        return TextRenderer()
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:  # pragma: no cover
        shell = None
    if shell is not None and getattr(shell, "kernel", None) is not None:
        return CellRenderer(shell)
    return TextRenderer()

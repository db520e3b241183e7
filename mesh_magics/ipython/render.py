"""A run's output in the cell that started it: :class:`CellRenderer`.

One display per (worker × stream), created in the cell that started the run and
updated in place (``display_id``). Updates may come from a background thread
(``--noblock``); each publish is made with the parent header of the cell that started
the run, so the output can never land in whatever cell the user runs meanwhile (print
from a background thread would: ipykernel attributes it to the current or the creating
cell). :func:`default_renderer` picks it inside a kernel, and the core's
:class:`~mesh_magics.core.render.TextRenderer` elsewhere or with ``MESH_NONINTERACTIVE=1``.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from ..core.render import NullRenderer, Renderer, TextRenderer
from ..core.streams import StreamText

__all__ = ["CellRenderer", "default_renderer"]

_MIME = {"stdout": "application/vnd.jupyter.stdout", "stderr": "application/vnd.jupyter.stderr"}


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


def default_renderer() -> Renderer:
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

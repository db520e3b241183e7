"""Where a run's streamed output goes: the renderer a run writes to.

The run model (:mod:`.run`) hands each (worker, stream) text to a renderer:

* :class:`NullRenderer` — keeps nothing visible (programmatic use reads
  ``MeshRun.stdout``);
* :class:`TextRenderer` — writes chunks as they come to a file (plain Python,
  scripts, ``MESH_NONINTERACTIVE=1``), and progress lines;
* :class:`mesh_magics.ipython.render.CellRenderer` — displays in the cell that started
  the run (the IPython layer).
"""

from __future__ import annotations

import sys
from typing import Protocol, TextIO

from .streams import StreamText

__all__ = ["NullRenderer", "Renderer", "TextRenderer"]


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

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None, prefix: bool = False) -> None:
        self.out, self.err, self.prefix = out or sys.stdout, err or sys.stderr, prefix

    def progress_line(self, text: str) -> None:
        self.message(text, "stdout")

    def chunk(self, key: tuple[str, str], label: str, text: str) -> None:
        f = self.err if key[1] == "stderr" else self.out
        if self.prefix and label:
            text = "".join(f"[{label}] {ln}" for ln in text.splitlines(True))
        f.write(text)
        f.flush()

    def message(self, text: str, stream: str = "stderr") -> None:
        (self.err if stream == "stderr" else self.out).write(text.rstrip("\n") + "\n")

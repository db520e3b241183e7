"""Terminal-like text for one (run, worker, stream): ``\\r`` rewrites the line.

Each (run × worker × stream) is shown as ONE display that is re-sent whole and
updated in place, so a progress bar printed with ``\\r`` by remote code looks
as it would in a terminal. The text is bounded: past ``max_chars`` the oldest
lines are dropped and a notice says how many characters were elided.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Protocol

__all__ = ["RunOutput", "StreamText"]

_CONTROL = re.compile(r"([\r\n])")


class StreamText:
    def __init__(self, max_chars: int = 1_000_000) -> None:
        self.max_chars = max_chars
        self._done: list[str] = []  # finished lines, each ending in "\n"
        self._done_len = 0
        self._line = ""  # the current (unterminated) line
        self._col = 0  # cursor position in the current line
        self.elided = 0
        self.raw_len = 0  # every character received, for tails and history

    def write(self, text: str) -> None:
        self.raw_len += len(text)
        for piece in _split_keep(text):
            if piece == "\n":
                self._done.append(self._line + "\n")
                self._done_len += len(self._line) + 1
                self._line, self._col = "", 0
            elif piece == "\r":
                self._col = 0
            else:
                line = self._line
                self._line = line[: self._col] + piece + line[self._col + len(piece) :]
                self._col += len(piece)
        self._trim()

    def _trim(self) -> None:
        while self._done and self._done_len + len(self._line) > self.max_chars:
            dropped = self._done.pop(0)
            self._done_len -= len(dropped)
            self.elided += len(dropped)

    @property
    def text(self) -> str:
        head = f"[... {self.elided} characters elided ...]\n" if self.elided else ""
        return head + "".join(self._done) + self._line

    def __bool__(self) -> bool:
        return bool(self._done or self._line)


def _split_keep(text: str) -> list[str]:
    return [p for p in _CONTROL.split(text) if p]


class _Renders(Protocol):
    def chunk(self, key: tuple[str, str], label: str, text: str) -> None: ...

    def render(self, key: tuple[str, str], label: str, stream: StreamText) -> None: ...


class RunOutput:
    """A run's output: one :class:`StreamText` per (worker address, stream), and which of
    them changed since they were last rendered."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.streams: dict[tuple[str, str], StreamText] = {}
        self._dirty: set[tuple[str, str]] = set()

    def write(self, key: tuple[str, str], text: str, renderer: _Renders, label: str) -> None:
        """Add ``text`` to ``key = (worker, stream)`` and hand the chunk to ``renderer``."""
        stream = self.streams.get(key)
        if stream is None:
            stream = self.streams[key] = StreamText(self.max_chars)
        stream.write(text)
        self._dirty.add(key)
        renderer.chunk(key, label, text)

    def flush(self, renderer: _Renders, label: Callable[[tuple[str, str]], str]) -> None:
        """Render every stream that changed since the last flush (whole, in place)."""
        for key in sorted(self._dirty):
            renderer.render(key, label(key), self.streams[key])
        self._dirty.clear()

    def text(self, stream: str) -> str:
        """Everything written to ``stream`` (stdout, stderr) by every worker, by worker address."""
        return "".join(t.text for (w, s), t in sorted(self.streams.items()) if s == stream)

    def of(self, worker: Callable[[str], bool], stream: str) -> str:
        """The text of ``stream`` of the first worker for which ``worker(address)`` holds."""
        for (w, s), text in self.streams.items():
            if s == stream and worker(w):
                return text.text
        return ""

"""Terminal-like text for one (run, worker, stream): ``\\r`` rewrites the line.

Each (run × worker × stream) is shown as ONE display that is re-sent whole and
updated in place, so a progress bar printed with ``\\r`` by remote code looks
as it would in a terminal. The text is bounded: past ``max_chars`` the oldest
lines are dropped and a notice says how many characters were elided.

A display is re-sent at most every :data:`RENDER_EVERY` seconds, and less often as it
grows (about :data:`RENDER_BUDGET` characters a second per display), so a cell printing
thousands of lines a second never keeps the kernel busy re-sending a megabyte of text;
the end of a run sends every display once more, whole.
"""

from __future__ import annotations

import collections
import re
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

__all__ = ["RENDER_BUDGET", "RENDER_EVERY", "OutputGrace", "RunOutput", "StreamText"]

#: seconds between two renders of one display, at least
RENDER_EVERY = 0.05
#: characters a second one display may re-send (a 1 MB text: every 0.25 s)
RENDER_BUDGET = 4_000_000

_CONTROL = re.compile(r"([\r\n])")


class StreamText:
    """One display's text. Appending is linear in what arrives (a 30 MB line that comes in
    64 KiB chunks is not copied once per chunk), and the bound holds for an unterminated
    line too: past ``max_chars`` its head is elided like old lines are."""

    def __init__(self, max_chars: int = 1_000_000) -> None:
        self.max_chars = max_chars
        self._done: collections.deque[str] = collections.deque()  # finished lines, each ending in "\n"
        self._done_len = 0
        self._parts: list[str] = []  # the current (unterminated) line, in pieces
        self._line_len = 0
        self._col = 0  # cursor position in the current line, counted from its true start
        self._cut = 0  # characters elided from the current line's head (see _trim)
        self.elided = 0
        self.raw_len = 0  # every character received, for tails and history

    @property
    def _line(self) -> str:
        if len(self._parts) > 1:
            self._parts = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""

    def write(self, text: str) -> None:
        self.raw_len += len(text)
        if "\r" in text:
            for piece in _CONTROL.split(text):
                if piece == "\r":
                    self._col = 0
                elif piece == "\n":
                    self._end_line()
                elif piece:
                    self._put(piece)
        else:  # no cursor moves: the chunk's lines in bulk (most output is this)
            first, *lines = text.split("\n")
            if first:
                self._put(first)
            if lines:
                self._end_line()
                last = lines.pop()
                self._done.extend(line + "\n" for line in lines)
                self._done_len += sum(map(len, lines)) + len(lines)
                if last:
                    self._put(last)
        self._trim()

    def _put(self, piece: str) -> None:
        """``piece`` (no control character) written at the cursor."""
        col, n = self._col - self._cut, len(piece)  # col: in the part of the line kept
        self._col += n
        if col == self._line_len:  # the common case: text at the end of the line
            self._parts.append(piece)
            self._line_len += n
            return
        if col < 0:  # after a \r on a line whose head was elided: only what reaches past it shows
            piece, col = piece[-col:], 0
            if not piece:
                return
        if col == 0 and len(piece) >= self._line_len:  # e.g. a progress bar redrawn whole
            line = piece
        else:  # overwrite from the cursor, keep the rest
            line = self._line
            line = line[:col] + piece + line[col + len(piece) :]
        self._parts, self._line_len = [line], len(line)

    def _end_line(self) -> None:
        line = self._line
        self._done.append(line + "\n")
        self._done_len += len(line) + 1
        self._parts, self._line_len, self._col, self._cut = [], 0, 0, 0

    def _trim(self) -> None:
        while self._done and self._done_len + self._line_len > self.max_chars:
            dropped = self._done.popleft()
            self._done_len -= len(dropped)
            self.elided += len(dropped)
        if self._line_len > 2 * self.max_chars:  # twice, so a long line is cut now and then, not per chunk
            cut = self._line_len - self.max_chars
            self._parts = [self._line[cut:]]
            self._line_len -= cut
            self._cut += cut
            self.elided += cut

    def shown_len(self) -> int:
        """Characters of :attr:`text` (without building it)."""
        return self._done_len + self._line_len

    @property
    def text(self) -> str:
        head = f"[... {self.elided} characters elided ...]\n" if self.elided else ""
        return head + "".join(self._done) + self._line

    def __bool__(self) -> bool:
        return bool(self._done or self._line_len)


class _Share(Protocol):
    """A run's target or a batch's item: its result (None until it has one) and the output
    chunks of it seen so far."""

    result: dict[str, Any] | None
    chunks_seen: int


class _Renders(Protocol):
    def message(self, text: str, stream: str = "stderr") -> None: ...

    def chunk(self, key: tuple[str, str], label: str, text: str) -> None: ...

    def render(self, key: tuple[str, str], label: str, stream: StreamText) -> None: ...


class RunOutput:
    """A run's output: one :class:`StreamText` per (worker address, stream), and which of
    them changed since they were last rendered."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.streams: dict[tuple[str, str], StreamText] = {}
        self._dirty: set[tuple[str, str]] = set()
        self._shown: dict[tuple[str, str], float] = {}  # key -> when it was last rendered

    def write(self, key: tuple[str, str], text: str, renderer: _Renders, label: str) -> None:
        """Add ``text`` to ``key = (worker, stream)`` and hand the chunk to ``renderer``."""
        stream = self.streams.get(key)
        if stream is None:
            stream = self.streams[key] = StreamText(self.max_chars)
        stream.write(text)
        self._dirty.add(key)
        renderer.chunk(key, label, text)

    def flush(self, renderer: _Renders, label: Callable[[tuple[str, str]], str], force: bool = False) -> None:
        """Render the streams that changed since they were last rendered (whole, in place),
        each no more often than its size allows (see the module doc); ``force``: all now."""
        now = time.monotonic()
        for key in sorted(self._dirty):
            stream = self.streams[key]
            every = max(RENDER_EVERY, (stream.shown_len() / RENDER_BUDGET))
            if force or now - self._shown.get(key, -1e9) >= every:
                renderer.render(key, label(key), stream)
                self._shown[key] = now
                self._dirty.discard(key)

    def text(self, stream: str) -> str:
        """Everything written to ``stream`` (stdout, stderr) by every worker, by worker address."""
        return "".join(t.text for (w, s), t in sorted(self.streams.items()) if s == stream)

    def of(self, worker: Callable[[str], bool], stream: str) -> str:
        """The text of ``stream`` of the first worker for which ``worker(address)`` holds."""
        for (w, s), text in self.streams.items():
            if s == stream and worker(w):
                return text.text
        return ""


class OutputGrace:
    """The wait for output still on its way once every result is in.

    Chunks travel as events (worker → scheduler → client), a path apart from the results',
    so they can trail them: 30 MB of print on a loaded machine arrives seconds after the
    result. The wait lasts while chunks keep coming and ends ``grace`` seconds after the
    last one (or after the results, if none comes), so a slow stream is waited for and a
    lost one does not hold the run for ever; what never came is then :attr:`missing`.
    """

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self.missing = 0
        self._since: float | None = None  # when the results were all in with chunks owed
        self._last = float("-inf")  # when the last chunk arrived

    def arrived(self) -> None:
        """A chunk arrived (call on every stream event)."""
        self._last = time.monotonic()

    def waiting(self, missing: int) -> bool:
        """True while ``missing`` chunks are owed and one came (or the results did) less
        than ``grace`` seconds ago; False once none is owed or the wait is over."""
        self.missing = max(0, missing)
        if self.missing == 0:
            return False
        now = time.monotonic()
        if self._since is None:
            self._since = now
        return now - max(self._since, self._last) < self.grace

    def holds(self, shares: Iterable[_Share], renderer: _Renders, name: str) -> bool:
        """Whether run ``name`` must go on waiting for the chunks its ``shares`` announced
        (a finished share's result says how many it sent); at the end of a wait that left
        some owed, ``renderer`` shows :meth:`notice`."""
        owed = sum(
            max(0, int(s.result.get("chunks", 0)) - s.chunks_seen) for s in shares if s.result is not None
        )
        if self.waiting(owed):
            return True
        if self.missing:
            renderer.message(self.notice(name))
        return False

    def notice(self, name: str) -> str:
        """The line that tells the user the output shown is incomplete."""
        return (
            f"run {name}: {self.missing} output chunk(s) did not arrive within {self.grace:g} s "
            "of the last one; the output shown is incomplete (mesh.run.output-grace sets the wait)"
        )

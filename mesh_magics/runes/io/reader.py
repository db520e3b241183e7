"""JSON and JSON-lines input, read strictly and streamed: :func:`loads`, :func:`read_documents`.

What a loader makes of hostile or broken input, in one place (each a bad row with the
reason in brackets, never an exception, and never the whole file in memory at once):

* **Strict JSON** (:func:`loads`): numbers stay exact (ints of any size up to Python's
  4 300 digits, decimals as :class:`~decimal.Decimal`); ``NaN``/``Infinity`` (not JSON),
  a key given twice in one object (ambiguous: parsers disagree on which wins) and
  nesting deeper than the parser follows are refused (``bad-json``), and so is a string
  escape that is not text, a lone surrogate such as ``\\ud800`` (``bad-encoding``).
* **Files are streamed** (:func:`read_documents`) in chunks of 1 MiB. A JSON-lines file
  is parsed line by line; a line longer than :data:`MAX_DOCUMENT_BYTES` is skipped
  without being held (``too-large``) and the lines after it are read. A file whose first
  line is not a JSON value of its own is one document, read whole up to the same limit
  (``too-large`` beyond it; ``bad-json`` naming the line and column where it breaks).
* **Encodings**: UTF-8, with or without a byte-order mark; UTF-16 and UTF-32 when they
  start with their byte-order mark. A line that is not UTF-8 is ``bad-encoding`` (the
  others are read); in a whole document, the document is.
* **Truncated or corrupt compressed files** (gzip, bz2, xz ...): the documents read
  before the break are kept; the break is one ``truncated`` row naming the line.

A file that cannot be opened at all is a :class:`~mesh_magics.errors.RunesError` naming it.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

from ...errors import RunesError
from .common import BadRow

__all__ = ["MAX_DOCUMENT_BYTES", "loads", "parse_documents", "read_documents"]

#: the longest line of a JSON-lines file, or whole JSON document, a loader parses
MAX_DOCUMENT_BYTES = 64 * 2**20
_CHUNK = 2**20
_BOMS = (  # longest first: the UTF-32 LE mark starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


class NotJSON(ValueError):
    """JSON this package refuses although Python's parser would take it."""

    reason = "bad-json"


class NotText(NotJSON):
    """A JSON string escape that is not Unicode text (a lone surrogate such as ``\\ud800``)."""

    reason = "bad-encoding"


#: a \uD800-\uDFFF escape: only these can put a lone surrogate into parsed JSON
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
#: deeper nesting is refused before parsing: the C parser would recurse to the interpreter's
#: limit, where any finalizer that runs meanwhile cannot even report its own error
MAX_DEPTH = 512
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _too_deep(text: str) -> bool:
    """Whether ``text`` nests arrays and objects deeper than :data:`MAX_DEPTH` (a vectorised
    scan outside strings, only for text with that many brackets at all)."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return False
    import numpy as np

    raw = np.frombuffer(_STRING.sub("", text).encode("utf-8", "surrogatepass"), dtype=np.uint8)
    step = np.isin(raw, (0x5B, 0x7B)).astype(np.int32) - np.isin(raw, (0x5D, 0x7D))
    return bool(len(step)) and int(np.cumsum(step).max()) > MAX_DEPTH


def _lone_surrogate(doc: Any) -> str | None:
    """The first string (or key) of ``doc`` that UTF-8 cannot carry, or None."""
    stack = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def _constant(name: str) -> Any:
    raise NotJSON(f"{name} is not a JSON number (JSON has no NaN or Infinity)")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise NotJSON(f"the key {key[:80]!r} appears twice in one object, which is ambiguous")
            seen.add(key)
    return obj


_STRICT = json.JSONDecoder(parse_float=Decimal, parse_constant=_constant, object_pairs_hook=_object)
_LAX = json.JSONDecoder(parse_float=Decimal)


def loads(text: str) -> Any:
    """Strict ``json.loads`` keeping every number exact (see the module docstring)."""
    if _too_deep(text):
        raise NotJSON(f"it is nested deeper than {MAX_DEPTH} levels")
    try:
        doc = _STRICT.decode(text)
    except RecursionError:
        raise NotJSON("it is nested deeper than the JSON parser follows") from None
    except ValueError as e:
        if "Exceeds the limit" in str(e):  # int('9' * 5000): Python's guard on huge ints
            raise NotJSON("a number has more than 4300 digits (far beyond u128)") from None
        raise
    if _SURROGATE_ESCAPE.search(text):  # rare: walk the document only then
        bad = _lone_surrogate(doc)
        if bad is not None:
            raise NotText(f"the string {bad[:60]!r} holds a lone surrogate escape, which is not Unicode text")
    return doc


def _complete(text: str) -> bool:
    """Whether ``text`` is a JSON value of its own, by the lax rules (NaN, duplicates allowed)."""
    if _too_deep(text):
        return True  # read (and refused) as a line
    try:
        _LAX.decode(text)
    except RecursionError:
        return True  # a line nested too deep to tell: it is read (and refused) as a line
    except ValueError as e:
        return "Exceeds the limit" in str(e)
    return True


def _bad_json(e: ValueError) -> BadRow:
    if isinstance(e, json.JSONDecodeError):
        return BadRow("bad-json", f"not valid JSON at line {e.lineno} column {e.colno}: {e.msg}")
    if isinstance(e, NotText):
        return BadRow(e.reason, str(e))
    return BadRow("bad-json", f"not valid JSON: {e}")


def parse_documents(text: str, source: str) -> list[tuple[str, Any]]:
    """The documents of JSON or JSON-lines text given in memory, each with its source.

    The same rules as files (:func:`read_documents`): one document when the first
    non-blank line is not a JSON value of its own, else one per non-blank line.
    """
    lines = text.split("\n")
    return list(_documents(((i, ln) for i, ln in enumerate(lines, start=1)), source))


def read_documents(url: str, storage_options: Mapping[str, Any] | None = None) -> Iterator[tuple[str, Any]]:
    """The documents of one (possibly compressed, possibly remote) file, streamed.

    Yields ``(source, document)``, the document a :class:`BadRow` where it could not be
    read; sources are ``FILE`` for a file of one document, ``FILE:LINE`` otherwise.
    """
    import fsspec

    try:
        f = fsspec.open(url, "rb", compression="infer", **dict(storage_options or {})).open()
    except (OSError, ValueError) as e:
        raise RunesError(f"cannot read {url}: {e}. Fix: check the path and its permissions") from e
    try:
        yield from _documents(_lines(f, url), url)
    finally:
        f.close()


class _Skipped(BadRow):
    """A line that was not read (too long, not decodable, or where the file broke)."""


def _lines(f: Any, url: str) -> Iterator[tuple[int, str | _Skipped]]:
    """``(line number, text)`` of a binary file; ``text`` a :class:`_Skipped` for a line not read."""
    lineno, buf, too_long = 0, b"", False
    decoder: Any = None
    encoding, first = "utf-8", True
    read = getattr(f, "read1", f.read)  # read1: what a broken compressed stream gave before it broke
    while True:
        try:
            chunk = read(_CHUNK)
        except (OSError, EOFError, ValueError) as e:  # gzip/bz2/xz/zlib errors, a file gone
            yield (
                lineno + 1,
                _Skipped("truncated", f"the file breaks after line {lineno}: {type(e).__name__}: {e}"),
            )
            return
        if first:
            first = False
            for bom, name in _BOMS:
                if chunk.startswith(bom):
                    chunk, encoding = chunk[len(bom) :], name
                    if encoding != "utf-8":
                        decoder = codecs.getincrementaldecoder(encoding)()
                    break
        if decoder is not None:  # UTF-16/32: decode first, then split (their newlines are wide)
            try:
                chunk = decoder.decode(chunk, final=not chunk).encode("utf-8", "surrogatepass")
            except UnicodeDecodeError as e:
                yield (
                    lineno + 1,
                    _Skipped("bad-encoding", f"not {encoding} after its byte-order mark: {e.reason}"),
                )
                return
        if not chunk:
            if buf or too_long:
                lineno += 1
                yield lineno, _line(buf, too_long)
            return
        parts = chunk.split(b"\n")
        for part in parts[:-1]:
            lineno += 1
            if too_long:
                yield lineno, _line(b"", True)
            else:
                yield lineno, _line(buf + part, len(buf) + len(part) > MAX_DOCUMENT_BYTES)
            buf, too_long = b"", False
        if not too_long:
            buf += parts[-1]
            if len(buf) > MAX_DOCUMENT_BYTES:
                buf, too_long = b"", True  # drop it: the rest of this line is skipped, not held


def _line(data: bytes, too_long: bool) -> str | _Skipped:
    if too_long:
        return _Skipped(
            "too-large",
            f"longer than {MAX_DOCUMENT_BYTES // 2**20} MiB (mesh_magics.runes.io.reader.MAX_DOCUMENT_BYTES); "
            "skipped without being read",
        )
    try:
        return data.decode("utf-8").removesuffix("\r")
    except UnicodeDecodeError as e:
        return _Skipped(
            "bad-encoding",
            f"not UTF-8 (byte {data[e.start]:#04x} at column {e.start + 1}); re-encode the file as UTF-8",
        )


def _documents(lines: Iterator[tuple[int, str | _Skipped]], source: str) -> Iterator[tuple[str, Any]]:
    """Documents from numbered lines: JSON lines, or one document (see the module docstring)."""
    head: list[str] = []
    for lineno, text in lines:
        if isinstance(text, str) and not text.strip():
            head.append(text)
            continue
        if isinstance(text, str) and not _complete(text):
            yield from _whole(head + [text], lines, source)
            return
        yield from _json_lines(lineno, text, lines, source)
        return


def _parse(text: str | _Skipped) -> Any:
    if isinstance(text, _Skipped):
        return text
    try:
        return loads(text)
    except ValueError as e:
        return _bad_json(e)


def _json_lines(
    lineno: int, text: str | _Skipped, lines: Iterator[tuple[int, str | _Skipped]], source: str
) -> Iterator[tuple[str, Any]]:
    first, pending = _parse(text), True
    for n, more in lines:
        if isinstance(more, str) and not more.strip():
            continue
        if pending:
            yield f"{source}:{lineno}", first
            pending = False
        yield f"{source}:{n}", _parse(more)
    if pending:  # the only document: named by the file alone
        yield source, first


def _whole(
    head: list[str], lines: Iterator[tuple[int, str | _Skipped]], source: str
) -> Iterator[tuple[str, Any]]:
    size = sum(len(t) for t in head)
    parts = list(head)
    for lineno, text in lines:
        if isinstance(text, _Skipped):
            if text.reason == "too-large":
                text = _Skipped("too-large", f"the JSON document is {text.detail}")
            yield source, BadRow(text.reason, f"line {lineno}: {text.detail}")
            return
        size += len(text) + 1
        if size > MAX_DOCUMENT_BYTES:
            yield (
                source,
                BadRow(
                    "too-large",
                    f"the JSON document is longer than {MAX_DOCUMENT_BYTES // 2**20} MiB; not read "
                    "(write it as JSON lines, one document per line)",
                ),
            )
            for _ in lines:  # drain without holding: the rest is part of the same document
                pass
            return
        parts.append(text)
    try:
        yield source, loads("\n".join(parts))
    except ValueError as e:
        yield source, _bad_json(e)

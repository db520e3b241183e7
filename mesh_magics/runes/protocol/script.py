"""Bitcoin script instructions, as far as runestones need them.

Splits a script the way rust-bitcoin's non-minimal instruction iterator does:
``0x00..=0x4b`` push that many bytes, ``0x4c``/``0x4d``/``0x4e`` (PUSHDATA1/2/4)
read a 1/2/4-byte little-endian length and then the data (minimality is not
enforced, zero lengths are fine), every other byte is a plain opcode. A push
that runs past the end of the script is an error and ends the iteration.
"""

from __future__ import annotations

from collections.abc import Iterator

from ...errors import RunesError

__all__ = [
    "OP_13",
    "OP_PUSHDATA1",
    "OP_PUSHDATA2",
    "OP_PUSHDATA4",
    "OP_RETURN",
    "ScriptError",
    "instructions",
    "push_data",
    "runestone_payload",
]

OP_PUSHDATA1 = 0x4C
OP_PUSHDATA2 = 0x4D
OP_PUSHDATA4 = 0x4E
OP_RETURN = 0x6A
OP_13 = 0x5D  # OP_PUSHNUM_13, the runestone magic number

#: flaw names returned by :func:`runestone_payload`
INVALID_SCRIPT = "InvalidScript"
OPCODE = "Opcode"

_LENGTH_BYTES = {OP_PUSHDATA1: 1, OP_PUSHDATA2: 2, OP_PUSHDATA4: 4}


class ScriptError(RunesError, ValueError):
    """A push runs past the end of the script."""


def instructions(script: bytes) -> Iterator[tuple[int, bytes | None]]:
    """Yield ``(opcode, data)`` per instruction; ``data`` is ``None`` for non-push opcodes.

    Raises :class:`ScriptError` at a truncated push, after yielding every
    instruction before it.
    """
    pos = 0
    end = len(script)
    while pos < end:
        op = script[pos]
        pos += 1
        if op <= OP_PUSHDATA4:
            if op < OP_PUSHDATA1:
                size = op
            else:
                width = _LENGTH_BYTES[op]
                if pos + width > end:
                    raise ScriptError(f"push length of opcode {op:#04x} runs past the end")
                size = int.from_bytes(script[pos : pos + width], "little")
                pos += width
            if pos + size > end:
                raise ScriptError(f"push of {size} bytes runs past the end")
            yield op, script[pos : pos + size]
            pos += size
        else:
            yield op, None


def runestone_payload(script: bytes) -> bytes | str:
    """The concatenated pushes after ``OP_RETURN OP_13``, or a flaw name.

    ``script`` must start with the bytes ``6a 5d``. Returns the payload bytes,
    or ``"Opcode"`` (a non-push opcode) / ``"InvalidScript"`` (a truncated
    push), whichever comes first.
    """
    end = len(script)
    if end == 2:
        return b""
    op = script[2]
    if op < OP_PUSHDATA1 and op + 3 == end:  # the encoder's usual shape: one short push
        return script[3:]
    parts: list[bytes] = []
    pos = 2
    while pos < end:
        op = script[pos]
        pos += 1
        if op < OP_PUSHDATA1:
            size = op
        elif op <= OP_PUSHDATA4:
            width = _LENGTH_BYTES[op]
            if pos + width > end:
                return INVALID_SCRIPT
            size = int.from_bytes(script[pos : pos + width], "little")
            pos += width
        else:
            return OPCODE
        if pos + size > end:
            return INVALID_SCRIPT
        parts.append(script[pos : pos + size])
        pos += size
    return b"".join(parts)


def push_data(data: bytes) -> bytes:
    """``data`` as one push with the minimal opcode for its length (what ord's encoder writes).

    An empty ``data`` gives no bytes at all: the empty runestone is ``6a 5d``.
    """
    size = len(data)
    if size == 0:
        return b""
    if size < OP_PUSHDATA1:
        return bytes((size,)) + data
    if size <= 0xFF:
        return bytes((OP_PUSHDATA1, size)) + data
    if size <= 0xFFFF:
        return bytes((OP_PUSHDATA2,)) + size.to_bytes(2, "little") + data
    return bytes((OP_PUSHDATA4,)) + size.to_bytes(4, "little") + data

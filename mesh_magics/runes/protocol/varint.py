"""Unsigned LEB128 varints with the limits of the Runes protocol.

Each byte carries 7 value bits, least-significant group first; the high bit
``0x80`` means "more bytes follow". A runes varint decodes into a u128:

* at most 19 bytes (a 20th byte is *overlong*);
* the 19th byte may only set its low 2 value bits (otherwise *overflow*,
  18 × 7 + 2 = 128 bits);
* running out of bytes with the continuation bit set is *unterminated*;
* non-minimal encodings (``80 00`` for 0) are accepted.
"""

from __future__ import annotations

from ...errors import RunesError

__all__ = ["MAX_BYTES", "VarintError", "decode", "decode_all", "encode"]

#: the longest varint the protocol accepts
MAX_BYTES = 19
_U128_MAX = 2**128 - 1
_LAST_SHIFT = 7 * (MAX_BYTES - 1)  # shift of the 19th byte


class VarintError(RunesError, ValueError):
    """A varint is overlong, overflows u128 or is unterminated (``kind`` says which)."""

    def __init__(self, kind: str, position: int) -> None:
        super().__init__(f"invalid varint at byte {position}: {kind}")
        self.kind = kind
        self.position = position


def encode(n: int) -> bytes:
    """The minimal LEB128 encoding of ``0 <= n <= 2**128 - 1``."""
    if not 0 <= n <= _U128_MAX:
        raise ValueError(f"varint value {n} is not a u128")
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def decode(buf: bytes, pos: int = 0) -> tuple[int, int]:
    """Decode one varint from ``buf[pos:]``; return ``(value, next position)``.

    Raises :class:`VarintError` with ``kind`` ``"overlong"``, ``"overflow"``
    or ``"unterminated"``, checked in that order for each byte as ord does.
    """
    n = 0
    end = len(buf)
    for i in range(end - pos):
        if i >= MAX_BYTES:
            raise VarintError("overlong", pos + i)
        byte = buf[pos + i]
        if i == MAX_BYTES - 1 and byte & 0x7C:
            raise VarintError("overflow", pos + i)
        n |= (byte & 0x7F) << (7 * i)
        if byte < 0x80:
            return n, pos + i + 1
    raise VarintError("unterminated", end)


def decode_all(payload: bytes) -> list[int] | None:
    """Decode a whole payload into its integers, or ``None`` if any varint is invalid.

    The hot path of the runestone decoder: no exceptions, one list.
    """
    out: list[int] = []
    append = out.append
    value = 0
    shift = 0
    for byte in payload:
        if byte < 0x80:
            if shift == 0:
                append(byte)
                continue
            if shift == _LAST_SHIFT and byte & 0x7C:
                return None  # overflow
            append(value | (byte << shift))
            value = 0
            shift = 0
        else:
            if shift == _LAST_SHIFT:
                return None  # overflow, or a 20th byte follows (overlong / unterminated)
            value |= (byte & 0x7F) << shift
            shift += 7
    if shift:
        return None  # unterminated
    return out

"""Runestone scripts on the edges the decoders decide on (a hypothesis strategy), shared by
the vectorised-decoder and the ledger's artifact tests."""

from __future__ import annotations

from hypothesis import strategies as st

from mesh_magics.runes.protocol import script as _script
from mesh_magics.runes.protocol import varint as _varint

__all__ = ["ints", "payload", "scripts"]

U32 = 2**32 - 1
edge_ints = st.sampled_from([0, 1, 2, 3, 5, 20, 22, 126, 127, 840_000, U32, U32 + 1, 2**63 - 1, 2**63, 2**64])
ints = st.one_of(edge_ints, st.integers(0, 3000), st.integers(0, 2**70))


def payload(values: list[int]) -> bytes:
    return b"".join(_varint.encode(v) for v in values)


@st.composite
def scripts(draw: st.DrawFn) -> str | None:
    shape = draw(st.sampled_from(["mint", "edicts", "etching", "fields", "random", "raw"]))
    if shape == "mint":
        values = [20, draw(ints), 20, draw(ints)] + draw(
            st.lists(st.sampled_from([20, 22, 1, 127, 0]), max_size=2)
        )
    elif shape == "edicts":
        head = draw(st.lists(st.sampled_from([20, 22, 3, 5, 7]), max_size=2))
        values = [x for t in head for x in (t, draw(ints))] + [0]
        values += draw(st.lists(st.one_of(st.integers(0, 3), ints), max_size=13))
    elif shape == "etching":
        flags = draw(st.one_of(st.integers(0, 8), st.sampled_from([2**63 + 1, 2**64 + 3])))
        tags = draw(
            st.lists(st.sampled_from([1, 3, 4, 5, 6, 8, 10, 12, 14, 16, 18, 20, 22, 126, 127]), max_size=8)
        )
        big = st.one_of(ints, st.sampled_from([2**64 - 1, 2**64, 2**100, 2**125]))
        values = [2, flags] + [x for t in tags for x in (t, draw(big))]
        values += draw(st.sampled_from([[], [0], [0, 1, 0, 7, 0]]))
    elif shape == "fields":
        values = draw(st.lists(st.one_of(st.sampled_from([0, 20, 22, 2, 4, 126, 1, 127]), ints), max_size=9))
    else:
        values = []
    if shape == "raw":
        data = draw(st.binary(max_size=24))
    else:
        data = payload(values) if shape != "random" else draw(st.binary(max_size=30))
        if draw(st.integers(0, 9)) == 0:
            data += b"\x80"  # unterminated
    push = _script.push_data(data)
    if draw(st.integers(0, 7)) == 0 and len(data) < 76:
        push = bytes([0x4C, len(data)]) + data  # non-minimal PUSHDATA1
    script = (b"\x6a\x5d" + push + draw(st.sampled_from([b"", b"", b"", b"\x51", b"\x01\x00"]))).hex()
    mangle = draw(st.integers(0, 14))
    if mangle == 0:
        return script[:-1]  # odd length
    if mangle == 1:
        return script[:6] + "zz" + script[8:]  # not hex
    if mangle == 2:
        return script.upper()
    if mangle == 3:
        return None
    return script

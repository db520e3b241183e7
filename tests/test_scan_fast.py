"""The vectorised pass of decode_scripts gives exactly what the pure-Python decoder gives.

Scripts are built to sit on every edge the vectorised pass decides on: tags
near Mint/Pointer/Body, duplicated fields, edict deltas that reset or overflow
``tx``, outputs at and past the output count, 9- and 10-byte varints, 17- to
21-byte ones (u128 up to its last bit, ord's Overflow and Overlong),
unterminated payloads, PUSHDATA1, bad hex and odd lengths, mixed in one column
so a script's neighbours cannot leak into it.
"""

from __future__ import annotations

import pandas as pd
import pytest
from _varints import wide_varints
from hypothesis import given, settings
from hypothesis import strategies as st

from mesh_magics.errors import RunesError
from mesh_magics.runes.decode.fastscan import fast_scan
from mesh_magics.runes.decode.scan import decode_scripts
from mesh_magics.runes.protocol import script as _script
from mesh_magics.runes.protocol import varint as _varint

U32 = 2**32 - 1
edge_ints = st.sampled_from([0, 1, 2, 3, 5, 20, 22, 126, 127, 840_000, U32, U32 + 1, 2**63 - 1, 2**63, 2**64,
                             2**126 - 1, 2**126, 2**127, 2**128 - 1])  # fmt: skip
ints = st.one_of(edge_ints, st.integers(0, 3000), st.integers(0, 2**70), st.integers(0, 2**128 - 1))


def _payload(values: list[int]) -> bytes:
    return b"".join(_varint.encode(v) for v in values)


def _widened(draw: st.DrawFn, values: list[int]) -> bytes:
    """``_payload(values)``, now and then with one of its varints replaced by a raw wide one."""
    parts = [_varint.encode(v) for v in values]
    if parts and draw(st.integers(0, 2)) == 0:
        parts[draw(st.integers(0, len(parts) - 1))] = draw(wide_varints)
    return b"".join(parts)


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
        data = _widened(draw, values) if shape != "random" else draw(st.binary(max_size=30))
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


@settings(deadline=None, max_examples=400)
@given(st.lists(scripts(), min_size=1, max_size=40), st.integers(1, 4))
def test_vectorised_equals_reference(column, n_outputs):
    s = pd.Series(column, dtype="string")
    try:
        want = decode_scripts(s, n_outputs, vectorised=False)
    except RunesError as e:  # bad hex: the same error either way, naming the script
        with pytest.raises(RunesError, match="not valid hex") as info:
            decode_scripts(s, n_outputs)
        assert str(info.value) == str(e)
        return
    got = decode_scripts(s, n_outputs)
    pd.testing.assert_frame_equal(got, want)


def test_common_shapes_take_the_vectorised_path():
    import pyarrow as pa

    from mesh_magics.runes.decode.fastscan import FLAWS

    def rs(*values: int) -> str:
        return (b"\x6a\x5d" + _script.push_data(_payload(list(values)))).hex()

    cases = {  # script -> flaw settled by the vectorised pass
        rs(20, 840_000, 20, 7): None,
        rs(0, 840_000, 3, 5, 0, 0, 1, 9, 1): None,
        rs(22, 1, 0, 840_000, 1, 5, 2): None,
        rs(127, 5, 20, 9, 20, 3): None,
        rs(2, 3, 4, 99, 6, 1000, 8, 10, 10, 5): None,  # etching with terms
        rs(126, 0): "UnrecognizedEvenTag",
        rs(0, 1, 2): "TrailingIntegers",
        rs(20, 0, 20, 1): "UnrecognizedEvenTag",  # 0:1 is no rune id: Mint stays
        rs(0, 1, 0, 5, 4): "EdictOutput",
        rs(2, 2): "UnrecognizedFlag",  # Terms without Etching
        rs(4, 1): "UnrecognizedEvenTag",  # Rune without Etching
        rs(20, 9): "UnrecognizedEvenTag",  # one value: Mint needs two
        rs(20, 9, 20): "TruncatedField",
        "6a5d01ff": "Varint",
    }
    left = ["6a5d6a", "6a5d0b00", rs(0, 2**64, 1, 5, 0), "6a5d01000100"]  # opcode, short push, u128, 2 pushes
    res = fast_scan(pa.array([*cases, *left], pa.large_string()), 3)
    assert res.done.tolist() == [True] * len(cases) + [False] * len(left)
    assert [FLAWS[f] for f in res.flaw[: len(cases)]] == list(cases.values())
    assert res.edicts[:5].tolist() == [0, 2, 1, 0, 0]
    assert (res.mint_block[0], res.mint_tx[0]) == (840_000, 7)
    assert (res.mint_block[3], res.mint_tx[3]) == (9, 3)
    assert res.mint_block[7] == -1


@pytest.mark.parametrize(
    "cap_amount",
    [(2**64, 2**64 - 1), (2**64, 2**64), (2**65, 2**63), (2**70, 2**60), (3, 2**125), (1, 2**127), (2, 2**127),
     (1, 2**128 - 1), (2**127, 1)],
)  # fmt: skip
@pytest.mark.parametrize("premine", [0, 1, 2**100, 2**125, 2**127])
def test_supply_overflow_at_the_edge(cap_amount, premine):
    def rs(*values: int) -> str:
        return (b"\x6a\x5d" + _script.push_data(_payload(list(values)))).hex()

    cap, amount = cap_amount
    s = pd.Series([rs(2, 3, 6, premine, 8, cap, 10, amount)], dtype="string")
    got = decode_scripts(s)
    pd.testing.assert_frame_equal(got, decode_scripts(s, vectorised=False))
    overflow = premine + cap * amount > 2**128 - 1
    flaw = got["flaw"][0]
    assert (flaw == "SupplyOverflow") if overflow else pd.isna(flaw)

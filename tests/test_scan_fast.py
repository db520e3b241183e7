"""The vectorised pass of decode_scripts gives exactly what the pure-Python decoder gives.

Scripts are built to sit on every edge the vectorised pass decides on: tags
near Mint/Pointer/Body, duplicated fields, edict deltas that reset or overflow
``tx``, outputs at and past the output count, 9- and 10-byte varints,
unterminated payloads, PUSHDATA1, bad hex and odd lengths, mixed in one column
so a script's neighbours cannot leak into it.
"""

from __future__ import annotations

import pandas as pd
import pytest
from _scripts import payload as _payload
from _scripts import scripts
from hypothesis import given, settings
from hypothesis import strategies as st

from mesh_magics.errors import RunesError
from mesh_magics.runes.decode.fastscan import fast_scan
from mesh_magics.runes.decode.scan import decode_scripts
from mesh_magics.runes.protocol import script as _script

U32 = 2**32 - 1


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
    "cap_amount", [(2**64, 2**64 - 1), (2**64, 2**64), (2**65, 2**63), (2**70, 2**60), (3, 2**125)]
)
@pytest.mark.parametrize("premine", [0, 1, 2**100, 2**125])
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

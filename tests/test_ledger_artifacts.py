"""The ledger's vectorised runestone decoding gives, script for script, what the reference
decoder gives: the replay's tuple (cenotaph, pointer, edicts with exact u128 amounts), the
mint id, and whether it etches (``range_artifacts`` beside ``decipher``)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from _scripts import payload, scripts
from hypothesis import given, settings
from hypothesis import strategies as st

from mesh_magics.runes.ledger.artifacts import compact_of, range_artifacts
from mesh_magics.runes.protocol import script as _script
from mesh_magics.runes.protocol.runestone import decipher


def _check(column: list[bytes], outputs: list[int]) -> None:
    arts = range_artifacts(pa.array(column, pa.binary()), np.array(outputs, np.int64))
    assert len(arts.index) == len(column)
    for k, (script, count) in enumerate(zip(column, outputs)):
        want = decipher([script, *([b""] * (count - 1))])
        j = int(arts.index[k])
        assert arts.compact[j] == compact_of(want), (script.hex(), count)
        mint = want.mint
        assert arts.mint_block[j] == (-1 if mint is None or mint[0] > 2**63 - 1 else mint[0]), script.hex()
        if mint is not None and mint[0] <= 2**63 - 1:
            assert arts.mint_tx[j] == mint[1]
        assert (j in arts.etchings) == (want.etching is not None), script.hex()
        if j in arts.etchings:
            assert arts.etchings[j] == want


def _binary(script: str | None) -> bytes | None:
    if script is None or len(script) % 2:
        return None
    try:
        return bytes.fromhex(script)
    except ValueError:
        return None


@settings(deadline=None, max_examples=300)
@given(st.lists(st.tuples(scripts(), st.integers(1, 5)), min_size=1, max_size=40))
def test_vectorised_artifacts_equal_the_reference(cases):
    pairs = [(b, n) for s, n in cases if (b := _binary(s)) is not None and b[:2] == b"\x6a\x5d"]
    if pairs:
        _check([b for b, _ in pairs], [n for _, n in pairs])


def _rs(*values: int) -> bytes:
    return b"\x6a\x5d" + _script.push_data(payload(list(values)))


def test_common_shapes_and_u128_amounts():
    column = [
        _rs(20, 840_000, 20, 7),  # a mint
        _rs(20, 840_000, 20, 7),  # the same again: one artifact for both
        _rs(0, 840_000, 3, 5, 0, 0, 1, 2**100, 1),  # two edicts, one of a u128 amount
        _rs(22, 1, 0, 840_000, 1, 2**64 + 3, 2),  # pointer, edict to "every output" (output == count)
        _rs(22, 9, 0, 840_000, 1, 5, 0),  # a pointer past the outputs: a cenotaph
        _rs(2, 1, 4, 99),  # an etching: the reference decoder's, with its rune
        _rs(0, 1, 0, 5, 4),  # edict output past the count: a cenotaph
    ]
    outputs = [3, 3, 3, 2, 2, 3, 3]
    _check(column, outputs)
    arts = range_artifacts(pa.array(column, pa.binary()), np.array(outputs, np.int64))
    assert arts.index[0] == arts.index[1]
    assert arts.compact[arts.index[2]] == (False, None, ((840_000, 3, 5, 0), (840_000, 4, 2**100, 1)))
    assert arts.compact[arts.index[3]] == (False, 1, ((840_000, 1, 2**64 + 3, 2),))
    assert arts.compact[arts.index[4]][0] and arts.compact[arts.index[6]][0]
    assert list(arts.etchings) == [arts.index[5]]

"""The mesh ledger's artifacts (vectorised for the common shapes) equal the reference decoder's.

:func:`mesh_magics.runes.ledger.prepare._artifacts` decodes a range's deciding scripts
with the numpy pass of :mod:`mesh_magics.runes.decode.fastscan` and sends etchings and the
shapes it leaves to :func:`~mesh_magics.runes.protocol.runestone.decipher`; the replay
reads its flat arrays (cenotaph, pointer, mint, edicts with exact u128 amounts). Every
script here is checked against ``decipher`` with its own output count, mixed in one column
so that neighbours cannot leak into each other.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from _varints import wide_varints
from hypothesis import given, settings
from hypothesis import strategies as st

from mesh_magics.runes.ledger.prepare import _artifacts
from mesh_magics.runes.protocol import script as _script
from mesh_magics.runes.protocol import varint as _varint
from mesh_magics.runes.protocol.runestone import Cenotaph, decipher

I64 = 2**63 - 1
edge = st.sampled_from([0, 1, 2, 3, 4, 5, 20, 22, 127, 840_000, 2**32 - 1, 2**32, I64, 2**63, 2**64, 2**127])
ints = st.one_of(edge, st.integers(0, 3000), st.integers(0, 2**128 - 1))


def _rs(values: list[int | bytes], tail: bytes = b"") -> bytes:
    """A runestone of ``values`` (ints as varints, bytes as they are) and ``tail`` after the push."""
    data = b"".join(v if isinstance(v, bytes) else _varint.encode(v) for v in values)
    return b"\x6a\x5d" + _script.push_data(data) + tail


@st.composite
def artifact(draw: st.DrawFn) -> tuple[bytes, int]:
    n_out = draw(st.integers(1, 5))
    shape = draw(st.sampled_from(["mint", "transfer", "etching", "any", "raw"]))
    amounts: st.SearchStrategy[int | bytes] = st.one_of(ints, ints, wide_varints)
    if shape == "mint":
        values = [20, draw(ints), 20, draw(ints)] + draw(st.sampled_from([[], [22, 0], [22, 1], [22, 9]]))
    elif shape == "transfer":
        head = draw(st.sampled_from([[], [22, 0], [22, 2], [20, 5, 20, 1], [22, 2**40]]))
        body = [x for _ in range(draw(st.integers(0, 4)))
                for x in (draw(st.integers(0, 3)), draw(st.integers(0, 3)), draw(amounts), draw(st.integers(0, 6)))]  # fmt: skip
        values = head + [0] + body + draw(st.sampled_from([[], [], [7]]))
    elif shape == "etching":
        values = [2, draw(st.sampled_from([1, 3, 5, 7, 9])), 4, draw(ints), 6, draw(amounts)]
        values += draw(st.sampled_from([[], [8, 10, 10, 5], [0, 0, 0, 7, 0]]))
    elif shape == "any":
        values = draw(st.lists(st.one_of(st.sampled_from([0, 2, 20, 22, 126, 127]), amounts), max_size=12))
    else:
        return b"\x6a\x5d" + draw(st.binary(max_size=20)), n_out
    return _rs(values, draw(st.sampled_from([b"", b"", b"\x51"]))), n_out


def _expected(script: bytes, n_out: int):
    art = decipher([script, *([b""] * (n_out - 1))])
    assert art is not None
    mint = (-1, 0) if art.mint is None or art.mint[0] > I64 else art.mint
    if isinstance(art, Cenotaph):
        return True, -1, mint, [], art.etching is not None
    edicts = [(e.block, e.tx, e.amount, e.output) for e in art.edicts if e.block <= I64]
    return False, -1 if art.pointer is None else art.pointer, mint, edicts, art.etching is not None


def _got(arts, k: int):
    rows = arts.edicts[arts.edict_start[k] : arts.edict_start[k + 1]].tolist()
    base = int(arts.edict_start[k])
    edicts = [(b, x, arts.big.get(base + i, a), o) for i, (b, x, a, o) in enumerate(rows)]
    return (bool(arts.cenotaph[k]), int(arts.pointer[k]), (int(arts.mint_block[k]), int(arts.mint_tx[k])),
            edicts)  # fmt: skip


@settings(deadline=None, max_examples=300)
@given(st.lists(artifact(), min_size=1, max_size=30))
def test_artifacts_equal_the_reference(column):
    scripts = pa.array([s for s, _ in column], pa.binary())
    counts = np.array([n for _, n in column], np.int64)
    arts = _artifacts(scripts, counts)
    etched = {k for k, _ in arts.etchings}
    for k, (script, n_out) in enumerate(column):
        cenotaph, pointer, mint, edicts, etches = _expected(script, n_out)
        assert _got(arts, k) == (cenotaph, pointer, mint, edicts), script.hex()
        assert (k in etched) == etches, script.hex()


def test_common_shapes_take_the_vectorised_path_with_exact_u128_amounts():
    from mesh_magics.runes.decode.fastscan import fast_scan

    big, u128 = 2**100 + 7, 2**128 - 1
    column = [
        _rs([20, 840_000, 20, 3]),
        _rs([22, 1, 0, 840_000, 3, big, 1, 0, 2, 5, 0]),
        _rs([0, 1, 0, I64, 4]),
        _rs([0, 2, 1, u128, 0, 0, 1, 2**126, 1, 0, 0, 2**127 + 5, 0]),  # 19-byte varints: three limbs
    ]
    scripts, counts = pa.array(column, pa.binary()), np.array([3, 3, 4, 2], np.int64)
    fast = fast_scan(scripts, counts)
    assert fast.done.all() and not fast.etching.any()
    arts = _artifacts(scripts, counts)
    assert _got(arts, 0) == (False, -1, (840_000, 3), [])
    assert _got(arts, 1) == (False, 1, (-1, 0), [(840_000, 3, big, 1), (840_000, 5, 5, 0)])
    assert _got(arts, 2) == (False, -1, (-1, 0), [(1, 0, I64, 4)])  # output 4 of 4: split among all
    assert _got(arts, 3) == (False, -1, (-1, 0), [(2, 1, u128, 0), (2, 2, 2**126, 1), (2, 2, 2**127 + 5, 0)])


def test_varints_past_u128_are_left_to_the_reference():
    """ord's Overflow (a 19th byte above 3) and Overlong (a 20th byte) are not settled by the numpy pass."""
    from mesh_magics.runes.decode.fastscan import fast_scan

    nineteen = b"\xff" * 18
    column = [
        _rs([0, 1, 0, nineteen + b"\x03", 0]),  # 2**128 - 1: fast
        _rs([0, 1, 0, nineteen + b"\x04", 0]),  # Overflow
        _rs([0, 1, 0, nineteen + b"\x80\x00", 0]),  # Overlong
        _rs([2, 1, 4, 1000, 6, nineteen + b"\x01"]),  # an etching with a 19-byte premine
    ]
    scripts, counts = pa.array(column, pa.binary()), np.array([1, 1, 1, 1], np.int64)
    assert fast_scan(scripts, counts).done.tolist() == [True, False, False, False]
    arts = _artifacts(scripts, counts)
    assert _got(arts, 0) == (False, -1, (-1, 0), [(1, 0, 2**128 - 1, 0)])
    for k in (1, 2):
        assert _got(arts, k)[0] is True  # a Varint cenotaph, as decipher says
    assert [k for k, _ in arts.etchings] == [3]

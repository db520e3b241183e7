"""Exact integer helpers of the whale suite: limbs back to integers, and the integer sort of holders."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from mesh_magics.runes.whale.exact import to_ints
from mesh_magics.runes.whale.holders import _sorted_desc

EDGES = [0, 1, -1, 2**32 - 1, 2**32, -(2**32), 2**63 - 1, -(2**63), 2**63, -(2**63) - 1, 2**90, -(2**90)]


def _limbs(values: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        {"_a0": [v & (2**32 - 1) for v in values], "_a1": [v >> 32 for v in values]}, dtype="int64"
    )


@given(st.lists(st.one_of(st.sampled_from(EDGES), st.integers(-(2**94), 2**94)), max_size=30))
def test_to_ints_is_exact_and_int64_only_when_everything_fits(values):
    out = to_ints(_limbs(values), ["_a0", "_a1"])
    assert [int(v) for v in out] == values
    fits = all(-(2**63) <= v < 2**63 for v in values)
    assert (out.dtype == np.int64) == fits


@settings(max_examples=60)
@given(
    st.lists(
        st.tuples(st.integers(0, 4), st.integers(0, 50), st.integers(1, 2**40)),
        unique_by=lambda r: (r[0], r[1]),
        max_size=60,
    )
)
def test_integer_holder_sort_matches_the_definition(rows):
    b = pd.DataFrame(rows, columns=["rune_id", "address", "bal"])
    b = pd.concat([b[["rune_id", "address"]], _limbs(b["bal"].tolist())], axis=1)
    got = _sorted_desc(b, 2)
    want = sorted(rows, key=lambda r: (r[0], -r[2], r[1]))
    ranks, seen = [], {}
    for r in want:
        seen[r[0]] = seen.get(r[0], 0) + 1
        ranks.append(seen[r[0]])
    assert list(zip(got["rune_id"], got["address"], got["_rank"])) == [
        (r, a, k) for (r, a, _), k in zip(want, ranks)
    ]
    assert [int(v) for v in to_ints(got, ["_a0", "_a1"])] == [r[2] for r in want]

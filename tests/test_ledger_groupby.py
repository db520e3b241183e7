"""The mint group-by on arrays equals its definition.

:func:`~mesh_magics.runes.ledger.groupby.range_counts` counts a range's attempts per rune
and :func:`~mesh_magics.runes.ledger.groupby.valid_mints` keeps an attempt when the attempts
on its rune before it (in earlier ranges: ``offsets``; in this one: its rank in block order)
are fewer than the cap. Both work on packed int64 rune-id keys, or on structured pairs when a
rune's block does not fit 31 bits; the definition here walks the rows one by one.
"""

from __future__ import annotations

from collections import Counter

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from mesh_magics.runes.ledger.groupby import partition_of, range_counts, valid_mints

# (2**40, 3) packed into 64 bits would wrap onto (0, 3)
RUNES = [(840_000, 1), (840_000, 7), (840_001, 0), (5, 2**32 - 1), (0, 3), (2**40, 3), (2**63 - 1, 0)]


@st.composite
def window(draw: st.DrawFn) -> tuple[pd.DataFrame, dict, int]:
    pool = draw(st.lists(st.sampled_from(RUNES), min_size=1, max_size=4, unique=True))
    caps = {rid: draw(st.integers(0, 6)) for rid in pool}
    rows = draw(st.lists(st.tuples(st.sampled_from(pool), st.integers(0, 2**70)), max_size=40))
    frame = pd.DataFrame(
        {
            "tx": pd.array(range(0, 3 * len(rows), 3), dtype="int64"),
            "block": pd.array([rid[0] for rid, _ in rows], dtype="int64"),
            "rune_tx": pd.array([rid[1] for rid, _ in rows], dtype="int64"),
            "cap": pd.array([caps[rid] for rid, _ in rows], dtype="int64"),
            "amount": pd.Series([amount for _, amount in rows], dtype=object),
        }
    )
    offsets = {rid: draw(st.integers(0, 5)) for rid, _ in rows}
    return frame, offsets, draw(st.integers(1, 3))


@settings(max_examples=300, deadline=None)
@given(window())
def test_counts_and_ranks_equal_the_definition(case: tuple[pd.DataFrame, dict, int]) -> None:
    frame, offsets, n = case
    ids = list(zip(frame["block"].tolist(), frame["rune_tx"].tolist()))
    assert range_counts(frame) == dict(Counter(ids))
    want: list[dict] = [{} for _ in range(n)]
    seen: Counter = Counter()
    for t, rid, cap, amount in zip(frame["tx"].tolist(), ids, frame["cap"].tolist(), frame["amount"]):
        if offsets[rid] + seen[rid] < cap:
            want[partition_of(rid, n)][t] = (rid, amount)
        seen[rid] += 1
    created = [(1, (840_002, 4), 10**30)]
    seeds = valid_mints(frame, offsets, created, n)
    assert [s.mints for s in seeds] == want
    for s in seeds:  # the columns the replay's plain mints read hold the same mints
        t, b, x, amounts = s.mint_columns
        assert dict(zip(t.tolist(), zip(zip(b.tolist(), x.tolist()), amounts))) == s.mints
    assert seeds[partition_of((840_002, 4), n)].etched == {1: ((840_002, 4), 10**30)}

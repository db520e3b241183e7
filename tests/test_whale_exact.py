"""Exact integer helpers of the whale suite: limbs back to integers, and the integer sort of holders."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mesh_magics.runes.whale.exact import to_ints
from mesh_magics.runes.whale.holders import sorted_desc

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
        st.tuples(
            st.sampled_from([0, 1, 2, 257, 4, 70_000]),  # 257: beyond 8 bits; 70 000: beyond 16 (no radix)
            st.integers(0, 50),
            st.one_of(st.integers(1, 2**40), st.sampled_from([2**63 - 1, 2**63, 2**70 + 5])),  # beyond int64
        ),
        unique_by=lambda r: (r[0], r[1]),
        max_size=60,
    )
)
def test_integer_holder_sort_matches_the_definition(rows):
    b = pd.DataFrame(rows, columns=["rune_id", "address", "bal"])
    b = pd.concat([b[["rune_id", "address"]], _limbs(b["bal"].tolist())], axis=1)
    got = sorted_desc(b, 2)
    want = sorted(rows, key=lambda r: (r[0], -r[2], r[1]))
    ranks, seen = [], {}
    for r in want:
        seen[r[0]] = seen.get(r[0], 0) + 1
        ranks.append(seen[r[0]])
    assert list(zip(got["rune_id"], got["address"], got["_rank"])) == [
        (r, a, k) for (r, a, _), k in zip(want, ranks)
    ]
    assert [int(v) for v in to_ints(got, ["_a0", "_a1"])] == [r[2] for r in want]


def _limbs4(values: list[int]) -> pd.DataFrame:
    """Four 32-bit limbs, the last signed (u128 sums), not yet normalized: the low limb may carry."""
    return pd.DataFrame(
        {f"_a{j}": [(v >> (32 * j)) & (2**32 - 1) if j < 3 else v >> 96 for v in values] for j in range(4)},
        dtype="int64",
    )


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["1:1", "2:5", "840000:1"]),
            st.sampled_from(["A", "B", "C", "D"]),
            st.sampled_from(["A", "B", "E", None]),
            # few distinct amounts (ties at the top-n boundary), close ones, and u128-sized ones
            st.one_of(
                st.sampled_from([1, 7, 2**32, 2**32 + 1, 2**53, 2**53 + 1, 2**64 + 5, 2**127]),
                st.integers(1, 2**60),
            ),
        ),
        unique_by=lambda r: r[:3],
        max_size=80,
    ),
    st.integers(1, 12),
    st.sampled_from([2, 4]),
)
def test_q5_top_keeps_exactly_the_best_groups(rows, top, k):
    """The top-n preselection on float64 values drops no group that the exact order keeps."""
    from mesh_magics.runes.whale.flows import top_rows as _q5_top

    if k == 2:
        rows = [r for r in rows if r[3] < 2**63]
    amounts = [r[3] for r in rows]
    df = pd.DataFrame([r[:3] for r in rows], columns=["rune_id", "sender", "receiver"], dtype="string")
    df = pd.concat([df, _limbs(amounts) if k == 2 else _limbs4(amounts)], axis=1)
    df["n"] = 1
    got = _q5_top(df, top, k).reset_index(drop=True)
    want = sorted(rows, key=lambda r: (-r[3], r[0], r[1], "\U0010ffff" if r[2] is None else r[2]))[:top]
    cols = [f"_a{j}" for j in range(k)]
    assert [int(v) for v in to_ints(got, cols)] == [r[3] for r in want]
    assert [
        tuple(None if v is pd.NA else v for v in g)
        for g in got[["rune_id", "sender", "receiver"]].itertuples(index=False)
    ] == [r[:3] for r in want]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 6),  # key
            st.one_of(
                st.sampled_from([0, 1, -1, 2**32 - 1, 2**32, 2**62, 2**63 - 1, -(2**63) + 1]),
                st.integers(-(2**63) + 1, 2**63 - 1),
            ),  # fmt: skip
        ),
        max_size=200,
    )
)
def test_coded_group_sums_are_exact(rows):
    from mesh_magics.runes.whale.coded import _group_sums

    key = np.array([r[0] for r in rows], dtype=np.int64)
    moved = np.array([r[1] for r in rows], dtype=np.int64)
    got = _group_sums(key, moved)
    want: dict[int, int] = {}
    for k, v in rows:
        want[k] = want.get(k, 0) + v
    assert dict(zip(got["key"].tolist(), [int(v) for v in to_ints(got, ["_a0", "_a1"])])) == want


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([0, 3, 7, 40_000]),  # global rune codes, sparse in a partition
            st.integers(-1, 9),  # receiver code, -1: none
            st.integers(-1, 9),  # sender code
            st.one_of(st.sampled_from([1, 2**32 - 1, 2**32, 2**63 - 1]), st.integers(0, 2**63 - 1)),
        ),
        max_size=120,
    )
)
def test_pair_sums_are_the_same_by_dense_slots_and_by_hashing(rows):
    """A coded partition's (rune, address) sums: received less sent, exact, whichever way they
    are grouped (a table of slots for few runes, a hash of packed keys beyond)."""
    from mesh_magics.runes.whale import coded

    rune = np.array([r[0] for r in rows], dtype=np.int32)
    rcv = np.array([r[1] for r in rows], dtype=np.int32)
    snd = np.array([r[2] for r in rows], dtype=np.int32)
    amount = np.array([r[3] for r in rows], dtype=np.int64)
    want: dict[int, int] = {}
    for ru, rc, sn, a in rows:
        if rc >= 0:
            want[ru << 32 | rc] = want.get(ru << 32 | rc, 0) + a
        if sn >= 0:
            want[ru << 32 | sn] = want.get(ru << 32 | sn, 0) - a
    got = {}
    saved = coded.DENSE_SLOTS_PER_ROW
    try:
        for way, slots in (("hash", 0), ("dense", 10**6)):
            coded.DENSE_SLOTS_PER_ROW = slots
            out = coded._pair_sums(rune, rcv, snd, amount)
            assert out["key"].dtype == np.int64
            got[way] = dict(zip(out["key"].tolist(), [int(v) for v in to_ints(out, ["_a0", "_a1"])]))
    finally:
        coded.DENSE_SLOTS_PER_ROW = saved
    assert got["hash"] == want
    assert got["dense"] == want


def test_a_key_with_more_rows_than_float64_sums_exactly_takes_the_integer_group_by():
    from mesh_magics.runes.whale.coded import _group_sums
    from mesh_magics.runes.whale.exact import EXACT_ROWS as _EXACT_ROWS

    # every row of key 1 at the largest amount: its low-limb sum is beyond 2**53
    n = _EXACT_ROWS + 3
    key = np.ones(n, dtype=np.int64)
    key[:2] = [7, 8]
    moved = np.full(n, 2**63 - 1, dtype=np.int64)
    moved[0] = -5
    got = _group_sums(key, moved)
    sums = dict(zip(got["key"].tolist(), [int(v) for v in to_ints(got, ["_a0", "_a1"])]))
    assert sums == {7: -5, 8: 2**63 - 1, 1: (n - 2) * (2**63 - 1)}


_RUNES = ["840000:1", "840000:2", "1:0", "9:9"]  # the last is absent from the thresholds


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([*_RUNES, None]),
            # mostly sends, so that many rows are kept and grouped
            st.sampled_from(["send", "send", "send", "send", None, "mint", "burn", "sen", "send "]),
            st.sampled_from([None, "a", "b", "ä"]),  # sender
            st.sampled_from([None, "a", "c"]),  # receiver
            st.one_of(st.sampled_from([0, 1, 2**32 - 1, 2**32, 2**63 - 1]), st.integers(0, 2**63 - 1)),
        ),
        max_size=60,
    ),
    # limits: small ones (most rows kept: many flows to group) as well as any
    st.lists(st.one_of(st.sampled_from([0, 1, 2**32]), st.integers(0, 2**63 - 1)), min_size=3, max_size=3),
)
@example(  # two senders by three receivers (a null one) in one rune: every packed code decoded
    [
        ("1:0", "send", s, r, 5 + i)
        for i, (s, r) in enumerate([(s, r) for s in "ab" for r in ("a", "c", None)])
    ],
    [0, 0, 0],
)
def test_the_q1_and_q5_kernels_keep_exactly_the_whale_sized_sends(rows, limits):
    """Per partition, Q1's and Q5's Arrow kernels against the definition: a row counts when its
    operation is exactly ``send``, its rune has a limit and its amount reaches it; a null rune,
    operation or address never breaks that (null addresses are groups of their own)."""
    import pyarrow as pa

    from mesh_magics.runes.whale.general import _q1_fast, _q5_fast

    part = pd.DataFrame(
        {
            "rune_id": pd.array([r[0] for r in rows], dtype="string[pyarrow]"),
            "operation": pd.array([r[1] for r in rows], dtype="string[pyarrow]"),
            "sender": pd.array([r[2] for r in rows], dtype="string[pyarrow]"),
            "receiver": pd.array([r[3] for r in rows], dtype="string[pyarrow]"),
            "amount": np.array([r[4] for r in rows], dtype=np.int64),
        }
    )
    ids = pa.array(_RUNES[:3], type=pa.large_string())
    limit = dict(zip(_RUNES[:3], limits))
    kept = [r for r in rows if r[1] == "send" and r[0] in limit and r[4] >= limit[r[0]]]

    q1: dict = {}
    q5: dict = {}
    for rune, _, snd, rcv, amount in kept:
        n, total = q1.get(rune, (0, 0))
        q1[rune] = (n + 1, total + amount)
        n, total = q5.get((rune, snd, rcv), (0, 0))
        q5[(rune, snd, rcv)] = (n + 1, total + amount)

    got1 = _q1_fast(part, ids, np.array(limits, dtype=np.int64))
    sums1 = to_ints(got1, ["_a0", "_a1"])
    assert {r: (int(n), int(v)) for r, n, v in zip(got1["rune_id"], got1["n"], sums1)} == q1
    got5 = _q5_fast(part, ids, np.array(limits, dtype=np.int64))
    keys5 = [
        tuple(None if v is pd.NA else v for v in t)
        for t in got5[["rune_id", "sender", "receiver"]].itertuples(index=False)
    ]
    sums5 = to_ints(got5, ["_a0", "_a1"])
    assert len(keys5) == len(set(keys5))
    assert {k: (int(n), int(v)) for k, n, v in zip(keys5, got5["n"], sums5)} == q5


def test_a_rune_with_more_whale_rows_than_float64_sums_exactly_takes_integer_sums():
    from mesh_magics.runes.whale.exact import EXACT_ROWS, bincount_limbs

    n = EXACT_ROWS + 3  # every row of position 1 at the largest amount: its low-limb sum is beyond 2**53
    at = np.ones(n, dtype=np.int64)
    at[:2] = [0, 2]
    amount = np.full(n, 2**63 - 1, dtype=np.int64)
    amount[0] = 5
    rows, sums = bincount_limbs(at, amount, 3)
    assert rows.tolist() == [1, n - 2, 1]
    got = [int(v) for v in to_ints(pd.DataFrame(sums), ["_a0", "_a1"])]
    assert got == [5, (n - 2) * (2**63 - 1), 2**63 - 1]

"""The Parquet loader's Arrow fast path (``runes.io.arrow_check``) takes only row groups with no
bad row, and builds from them exactly the frame ``coerce`` builds; every other row group goes
to ``coerce``, which names its bad rows."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mesh_magics.runes.io.arrow_check import clean_transfers
from mesh_magics.runes.io.parquet import parquet_partition, parquet_pieces
from mesh_magics.runes.io.schema import coerce
from mesh_magics.runes.io.text import SPACE

T0 = dt.datetime(2024, 4, 20, tzinfo=dt.timezone.utc)


def _rows(n: int) -> dict[str, list]:
    ops = ["etching", "mint", "send", "burn"]
    rows: dict[str, list] = {c: [] for c in
                             ("block_height", "block_time", "txid", "rune_id", "operation", "sender", "receiver", "amount")}  # fmt: skip
    for i in range(n):
        op = ops[i % 4]
        rows["block_height"].append(840_000 + i // 3)
        rows["block_time"].append(T0 + dt.timedelta(minutes=10 * (i // 3)))
        rows["txid"].append(f"{i:064x}" if i % 2 else f"{i:064X}")
        rows["rune_id"].append(f"{840_000 + i % 5}:{i % 3}")
        rows["operation"].append(op)
        rows["sender"].append(None if op in ("etching", "mint") else f"bc1q{i % 7}")
        rows["receiver"].append(None if op == "burn" else f"bc1p{i % 11}")
        rows["amount"].append(i * 1_000_003)
    return rows


def _table(rows: dict[str, list], **types: pa.DataType) -> pa.Table:
    base = {"block_height": pa.int64(), "block_time": pa.timestamp("ns", tz="UTC"), "amount": pa.int64()}
    base.update(types)
    return pa.table({c: pa.array(v, type=base.get(c, pa.string())) for c, v in rows.items()})


def _coerced(table: pa.Table) -> pd.DataFrame:
    return coerce(table.to_pandas(), "transfers", "int64", "t")


@pytest.mark.parametrize(
    "types",
    [
        {},
        {"txid": pa.large_string(), "sender": pa.large_string(), "receiver": pa.large_string()},
        {"block_height": pa.uint32(), "block_time": pa.timestamp("us")},  # naive: taken as UTC
        {"block_time": pa.timestamp("ms", tz="Europe/Zurich")},
    ],
)
def test_a_clean_row_group_is_built_in_arrow_exactly_as_coerce_builds_it(types):
    table = _table(_rows(40), **types)
    fast = clean_transfers(table, "int64")
    assert fast is not None
    slow = _coerced(table)
    assert not slow["_bad_reason"].notna().any()
    pd.testing.assert_frame_equal(fast, slow)


def test_chunked_and_sliced_columns_are_read_at_their_offsets():
    table = pa.concat_tables([_table(_rows(30)), _table(_rows(30))]).slice(7, 41)
    fast = clean_transfers(table, "int64")
    assert fast is not None
    pd.testing.assert_frame_equal(fast, _coerced(table))


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("txid", "g" * 64, "bad-txid"),
        ("txid", " " + "a" * 63, "bad-txid"),
        ("txid", None, "missing-field"),
        ("rune_id", "0840000:1", None),  # not canonical: coerce normalises it, the row is good
        ("rune_id", "840000:01", None),
        ("rune_id", "0:1", "bad-rune-id"),
        ("rune_id", "1:4294967296", "bad-rune-id"),
        ("rune_id", "18446744073709551616:0", "bad-rune-id"),
        ("rune_id", "\uff18:0", None),  # a fullwidth digit: Python reads it, coerce writes "8:0"
        ("operation", "Mint", "unknown-operation"),
        ("operation", "mint ", None),  # trimmed by coerce
        ("sender", "bc1qx\u3000", None),
        ("sender", "", None),  # blank is null: coerce decides what that means for the row
        ("receiver", None, "bad-parties"),
        ("amount", -1, "bad-amount"),
        ("block_height", -5, "bad-height"),
    ],
)
def test_a_row_group_with_anything_to_fix_or_set_aside_goes_to_coerce(column, value, reason):
    rows = _rows(8)
    at = 2  # a send: it needs both parties
    rows[column][at] = value
    table = _table(rows)
    assert clean_transfers(table, "int64") is None
    slow = _coerced(table)
    if reason is not None:
        assert slow["_bad_reason"].tolist()[at] == reason
        assert slow["_bad_reason"].notna().sum() == 1


def test_types_it_does_not_know_and_exact_amounts_go_to_coerce():
    rows = _rows(8)
    assert clean_transfers(_table(rows, amount=pa.uint64()), "int64") is None
    assert clean_transfers(_table(rows, block_height=pa.float64()), "int64") is None
    seconds = dict(rows, block_time=[int(t.timestamp()) for t in rows["block_time"]])
    assert clean_transfers(_table(seconds, block_time=pa.int64()), "int64") is None
    assert clean_transfers(_table(rows), "exact") is None
    assert clean_transfers(_table(rows).drop_columns(["sender"]), "int64") is None


#: text the fast path must tell apart from clean text: every str.isspace character, neighbours
#: it does not trim, digits Python reads but ASCII does not have, separators
_CHARS = st.sampled_from([*SPACE[::4], "\u200b", "\x00", "a", "F", "0", "1", "9", ":", "\uff11"])
_EDITS = {
    "operation": st.sampled_from(["etching", "mint", "send", "burn", "Burn", " send", ""]),
    "sender": st.one_of(st.none(), st.text(_CHARS, max_size=4)),
    "receiver": st.one_of(st.none(), st.text(_CHARS, max_size=4)),
    "rune_id": st.one_of(
        st.sampled_from(["1:0", "840000:2", "01:0", "0:0", "1:00", "2:4294967295"]),
        st.text(_CHARS, max_size=6),
    ),
    "txid": st.one_of(
        st.sampled_from(["0" * 63 + "\uff11", "0" * 63 + ":", "Z" * 64, " " + "a" * 63]),
        st.text(_CHARS, min_size=62, max_size=66),
    ),
    "amount": st.integers(-(2**63), 2**63 - 1),
}


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 12),
    st.lists(
        st.tuples(st.integers(0, 11), st.sampled_from(sorted(_EDITS)), st.data()),
        max_size=3,
    ),
)
def test_whenever_the_fast_path_answers_it_is_coerces_answer(n, edits):
    """Clean rows with up to three hostile values written in: the fast path either declines,
    or answers exactly what coerce answers."""
    cols = _rows(n)
    for row, column, data in edits:
        cols[column][row % n] = data.draw(_EDITS[column])
    table = _table(cols)
    fast = clean_transfers(table, "int64")
    slow = _coerced(table)
    if fast is not None:
        pd.testing.assert_frame_equal(fast, slow)
    elif not slow["_bad_reason"].notna().any():  # no bad row: then some value had to be rewritten
        rewritten = [
            c for c in ("txid", "rune_id", "operation", "sender", "receiver")
            if not slow[c].astype(object).where(slow[c].notna(), None).tolist() == table.column(c).to_pylist()
        ]  # fmt: skip
        assert rewritten, "coerce kept every value as it was: the fast path should have answered"


def test_the_loader_takes_the_fast_path_and_the_slow_one_per_row_group(tmp_path):
    good = _table(_rows(12))
    rows = _rows(12)
    rows["operation"][5] = "swap"
    bad = _table(rows)
    path = tmp_path / "t.parquet"
    with pq.ParquetWriter(path, good.schema) as w:
        w.write_table(good)
        w.write_table(bad)
    fs, pieces, _ = parquet_pieces(str(path), "transfers", None)
    assert [p.row_group for p in pieces] == [0, 1]
    first, second = (parquet_partition(p, fs, "transfers", "int64") for p in pieces)
    pd.testing.assert_frame_equal(first, _coerced(good))
    assert second["_bad_reason"].fillna("").tolist() == [""] * 5 + ["unknown-operation"] + [""] * 6
    assert f"{path} row group 1" in second["_bad_source"][5]

"""The loaders' coercion works in Arrow on text columns and value by value on mixed ones:
both paths must give the same answers on any text (whitespace of every kind, blanks, nulls)."""

from __future__ import annotations

import sys

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from mesh_magics.runes.io import schema, text
from mesh_magics.runes.io.schema import coerce
from mesh_magics.runes.io.text import SPACE

#: every character str.isspace accepts, and neighbours it does not (zero-width space, BOM, NUL)
_CHARS = st.sampled_from([*SPACE, "\u200b", "\ufeff", "\x00", "a", "Z", "•", "1", ":"])
_VALUES = st.lists(st.one_of(st.none(), st.text(_CHARS, max_size=6)), min_size=1, max_size=30)


def test_space_is_what_str_strip_removes():
    assert set(SPACE) == {c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()}


@settings(max_examples=300, deadline=None)
@given(_VALUES)
def test_text_columns_are_trimmed_and_blanked_as_python_does(values):
    obj = pd.Series(values, dtype=object)
    for s in (obj, obj.astype("string")):  # object holding only str, and a string dtype: the Arrow path
        assert text.text_column(s) is not None
        assert text.null(s).tolist() == text.null_values(obj).tolist()
        assert text.strings(s).tolist() == text.strings_values(obj).tolist()
        expect = [None if v is None or not v.strip() else v.strip() for v in values]
        assert [None if v is pd.NA else v for v in text.strings(s)] == expect


def test_a_column_of_mixed_values_takes_the_value_path():
    s = pd.Series([" a ", 5, None, "  "], dtype=object)
    assert text.text_column(s) is None
    assert text.null(s).tolist() == [False, False, True, True]
    assert text.strings(s).tolist() == ["a", "5", pd.NA, pd.NA]


def test_each_distinct_value_is_checked_once_and_nulls_have_no_result():
    seen: list[str] = []

    def check(v: str) -> str:
        seen.append(v)
        if v == "bad":
            raise ValueError("not good")
        return v.upper()

    ids, errs = schema._per_unique(pd.Series(["a", None, "bad", "a", "b"], index=[9, 8, 7, 6, 5]), check)
    assert sorted(seen) == ["a", "b", "bad"]
    assert ids.tolist() == ["A", None, None, "A", "B"] and list(ids.index) == [9, 8, 7, 6, 5]
    assert errs.tolist() == [None, None, "not good", None, None]


def test_padded_and_blank_text_in_a_string_column_is_a_bad_row_or_trimmed():
    tx = "ab" * 32
    raw = pd.DataFrame(
        {
            "block_height": pd.Series([1, 2, 3], dtype="int64"),
            "block_time": pd.to_datetime([1, 2, 3], unit="s", utc=True),
            "txid": pd.Series([f"\u3000{tx}\x1c", tx, tx], dtype="string"),
            "rune_id": pd.Series(["840000:1", "\x85", "840000:1"], dtype="string"),
            "operation": pd.Series(["mint", "mint", "send\u200b"], dtype="string"),
            "amount": pd.Series([5, 6, 7], dtype="int64"),
            "sender": pd.Series([None, None, "a"], dtype="string"),
            "receiver": pd.Series(["\tb ", "b", "c"], dtype="string"),
        }
    )
    out = coerce(raw, "transfers", "int64", "t")
    assert out["txid"].tolist() == [tx, pd.NA, pd.NA] and out["receiver"].tolist() == ["b", pd.NA, pd.NA]
    assert out["_bad_reason"].tolist() == [pd.NA, "missing-field", "unknown-operation"]
    assert out["_bad_source"].tolist() == [pd.NA, "t row 1", "t row 2"]
    assert out["amount"].tolist() == [5, 0, 0]

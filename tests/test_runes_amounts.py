"""One amount parser: the canonical tables and the loaders accept and refuse the same raw amounts.

Amounts are u128 in ASCII decimal digits (or ints / integral Decimals). Text that
``str.isdigit`` accepts but is not ASCII (full-width ``"１２"``, superscript ``"²"``,
Arabic-Indic ``"٣"``) is refused with a clear error by both the tables
(``coerce_amount`` / ``coerce_transfers``: SchemaError naming column and row) and the
loaders (a ``bad-amount`` bad row).
"""

from __future__ import annotations

from decimal import Decimal

import dask
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mesh_magics.errors import SchemaError
from mesh_magics.runes import read_csv
from mesh_magics.runes.io import from_ord_outputs
from mesh_magics.runes.io.common import BadRow, parse_raw_amount
from mesh_magics.runes.tables import AmountError, coerce_amount, coerce_transfers, parse_amount

U128_MAX = 2**128 - 1

#: (value, the amount it is, or None when it must be refused)
CASES = [
    (0, 0),
    (12, 12),
    (np.int64(7), 7),
    (np.uint64(2**63), 2**63),
    (U128_MAX, U128_MAX),
    (U128_MAX + 1, None),
    (-1, None),
    ("12", 12),
    (" 12\t", 12),
    ("0012", 12),
    ("0" * 60 + "5", 5),
    (str(U128_MAX), U128_MAX),
    (str(U128_MAX + 1), None),
    ("1" * 5000, None),  # int() would refuse it (str-digits limit): a clear refusal, no crash
    ("１２", None),  # full-width digits: int("１２") == 12, but not an amount
    ("²", None),  # "²".isdigit() is True, int("²") raises
    ("٣", None),  # Arabic-Indic digit three
    ("1２", None),
    ("12a", None),
    ("-1", None),
    ("+1", None),
    ("1_000", None),
    ("1e3", None),
    ("1.0", None),
    ("", None),
    ("  ", None),
    (Decimal("3"), 3),
    (Decimal("3.000"), 3),
    (Decimal("3.5"), None),
    (Decimal("NaN"), None),
    (Decimal("1E+40"), None),
    (Decimal("-2"), None),
    (1.0, None),
    (float("nan"), None),
    (True, None),
    (None, None),
    ([1], None),
]
IDS = [repr(v)[:24] for v, _ in CASES]


def _tables(value):
    """The tables' entry: coerce_amount of a one-row object column (None when refused)."""
    try:
        (out,) = coerce_amount(pd.Series([value], dtype=object), repr="exact").tolist()
    except SchemaError:
        return None
    return out


def _loader(value):
    """The loaders' per-value entry (None when the row is set aside)."""
    try:
        return parse_raw_amount(value)
    except BadRow:
        return None


@pytest.mark.parametrize("value, expected", CASES, ids=IDS)
def test_tables_and_loaders_agree_on_each_value(value, expected):
    assert _tables(value) == expected
    assert _loader(value) == expected
    if expected is None:
        with pytest.raises(AmountError):
            parse_amount(value)
    else:
        got = parse_amount(value)
        assert got == expected and type(got) is int


def test_a_whole_load_agrees_with_the_tables():
    """Every case through a public loader at once (ord /output documents in memory)."""
    docs = [
        {"outpoint": f"{i:064x}:0", "address": "bc1qa", "runes": {"UNCOMMON•GOODS": {"amount": v}}}
        for i, (v, _) in enumerate(CASES)
    ]
    with dask.config.set(scheduler="sync"):
        res = from_ord_outputs(docs, amount_repr="exact").compute()
    loaded = {int(o.split(":")[0], 16): a for o, a in zip(res.table["outpoint"], res.table["amount"])}
    bad = {
        int(s.split("]")[0].split("[")[1]): r for s, r in zip(res.bad_rows["source"], res.bad_rows["reason"])
    }
    for i, (value, expected) in enumerate(CASES):
        if expected is None:
            assert i not in loaded and bad.get(i) in ("bad-amount", "missing-field"), value
        else:
            assert loaded.get(i) == expected and i not in bad, value
            assert _tables(value) == expected


@pytest.mark.parametrize("text", ["１２", "²", "٣"])
def test_unicode_digits_are_refused_with_the_column_and_row(text, tmp_path):
    raw = pd.DataFrame(
        {
            "block_height": [840000, 840001],
            "block_time": ["2024-04-20 00:00:00Z", "2024-04-20 00:10:00Z"],
            "txid": ["a" * 64, "b" * 64],
            "rune_id": ["840000:1", "840000:1"],
            "operation": ["etching", "send"],
            "sender": [None, "bc1qa"],
            "receiver": ["bc1qa", "bc1qb"],
            "amount": ["1000", text],
        }
    )
    with pytest.raises(SchemaError, match=r"row 1: column 'amount' is not an exact integer") as info:
        coerce_transfers(raw)
    assert repr(text) in str(info.value)
    raw.to_csv(tmp_path / "t.csv", index=False)
    with dask.config.set(scheduler="sync"):
        res = read_csv(tmp_path / "t.csv").compute()
    assert res.table["amount"].tolist() == [1000]
    assert res.bad_rows["reason"].tolist() == ["bad-amount"]
    assert res.bad_rows["detail"].tolist() == [f"amount {text!r} is not a non-negative decimal integer"]


_DIGITISH = st.sampled_from("0123456789 \t-+_.e") | st.characters(categories=("Nd", "No", "Zs"))


@settings(deadline=None, max_examples=300)
@given(
    st.one_of(
        st.integers(min_value=-(2**130), max_value=2**130),
        st.text(_DIGITISH, max_size=45),
        st.decimals(allow_nan=True, allow_infinity=True),
        st.floats(),
        st.booleans(),
        st.none(),
    )
)
def test_tables_and_loaders_agree_on_any_value(value):
    got = _tables(value)
    assert got == _loader(value)
    if got is not None:
        assert 0 <= got <= U128_MAX
        if isinstance(value, str):  # accepted text is ASCII digits and nothing else
            assert value.strip().isascii() and value.strip().isdigit() and int(value.strip()) == got

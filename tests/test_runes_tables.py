"""Canonical tables: validation, coercion, the amount representation, bad rows."""

from __future__ import annotations

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from mesh_magics.errors import SchemaError
from mesh_magics.runes import (
    RUNES_COLUMNS,
    TRANSFERS_COLUMNS,
    validate_runes,
    validate_transfers,
)
from mesh_magics.runes.tables import (
    amount_repr,
    coerce_amount,
    coerce_runes,
    coerce_transfers,
    split_bad_rows,
)


def _raw(amounts=(1000, 5)) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "block_height": [840000, 840001],
            "block_time": ["2024-04-20 00:00:00Z", "2024-04-20 00:10:00Z"],
            "txid": ["a" * 64, "b" * 64],
            "rune_id": ["840000:1", "840000:1"],
            "operation": ["etching", "send"],
            "sender": [None, "bc1qa"],
            "receiver": ["bc1qa", "bc1qb"],
            "amount": list(amounts),
        }
    )


def test_coerce_gives_canonical_dtypes():
    t = coerce_transfers(_raw())
    assert {c: str(t[c].dtype) for c in TRANSFERS_COLUMNS} == TRANSFERS_COLUMNS
    assert amount_repr(t) == "int64" == t.attrs["amount_repr"]
    assert validate_transfers(t) is t
    r = coerce_runes(
        pd.DataFrame(
            {
                "rune_id": ["840000:1"],
                "name": ["A•B"],
                "divisibility": [2],
                "supply": ["1000"],
                "symbol": [None],
            }
        )
    )
    assert {c: str(r[c].dtype) for c in RUNES_COLUMNS} == RUNES_COLUMNS
    validate_runes(r)


def test_exact_representation_beyond_int64():
    t = coerce_transfers(_raw((2**64, "7")))
    assert amount_repr(t) == "exact" and t["amount"].dtype == object
    assert t["amount"].tolist() == [2**64, 7]
    validate_transfers(t)
    with pytest.raises(SchemaError, match="does not fit int64"):
        coerce_transfers(_raw((2**64, 7)), amount_repr="int64")
    big = pd.Series(np.array([2**63, 1], dtype=np.uint64))
    assert coerce_amount(big).tolist() == [2**63, 1]


@pytest.mark.parametrize(
    "bad, match",
    [
        ([1.5, 2.0], "floats cannot"),
        ([-1, 2], "negative"),
        ([2**128, 1], "u128"),
        (["12a", 3], "not an exact integer"),
    ],
)
def test_coerce_amount_refuses_inexact_values(bad, match):
    with pytest.raises(SchemaError, match=match):
        coerce_amount(pd.Series(bad, dtype=object if not isinstance(bad[0], float) else float))


@pytest.mark.parametrize(
    "column, value, match",
    [
        ("operation", "swap", "operation"),
        ("rune_id", "840000-1", "rune_id"),
        ("txid", "xyz", "txid"),
        ("sender", None, "sender"),  # a send without sender
    ],
)
def test_validate_names_row_and_column(column, value, match):
    t = coerce_transfers(_raw())
    t.loc[1, column] = value
    with pytest.raises(SchemaError, match=rf"row 1.*{match}"):
        validate_transfers(t)


def test_validate_parties_per_operation():
    t = coerce_transfers(_raw())
    t.loc[0, "sender"] = "bc1qz"
    with pytest.raises(SchemaError, match="etching/mint"):
        validate_transfers(t)


def test_validate_dtypes_and_columns():
    t = coerce_transfers(_raw())
    with pytest.raises(SchemaError, match="missing column"):
        validate_transfers(t.drop(columns=["txid"]))
    with pytest.raises(SchemaError, match="'amount' has dtype float64"):
        validate_transfers(t.astype({"amount": float}))
    with pytest.raises(SchemaError, match="block_time"):
        validate_transfers(t.assign(block_time=t.block_time.dt.tz_convert("Europe/Paris")))


def test_validate_dask_meta_now_values_lazily():
    t = coerce_transfers(_raw())
    d = dd.from_pandas(t, npartitions=2)
    assert validate_transfers(d).compute().shape == (2, 8)
    with pytest.raises(SchemaError, match="missing column"):
        validate_transfers(d.drop(columns=["receiver"]))
    t.loc[1, "operation"] = "swap"
    lazy = validate_transfers(dd.from_pandas(t, npartitions=2))  # no error yet
    with pytest.raises(SchemaError, match="partition 1"):
        lazy.compute()


def test_validate_runes_values():
    r = coerce_runes(
        pd.DataFrame(
            {
                "rune_id": ["840000:1", "840000:1"],
                "name": ["A", "B"],
                "divisibility": [0, 0],
                "supply": [1, 2],
                "symbol": [None, "$"],
            }
        )
    )
    with pytest.raises(SchemaError, match="repeats"):
        validate_runes(r)


def test_exact_amounts_on_dask_need_convert_string_off():
    t = coerce_transfers(_raw((2**64, 1)))
    with dask.config.set({"dataframe.convert-string": False}):
        d = dd.from_pandas(t, npartitions=1)
    assert amount_repr(d) == "exact"
    assert validate_transfers(d).compute()["amount"].tolist() == [2**64, 1]
    with pytest.raises(SchemaError, match="convert-string"):
        validate_transfers(dd.from_pandas(t, npartitions=1))


@pytest.mark.parametrize("lazy", [False, True])
def test_split_bad_rows(lazy):
    t = coerce_transfers(_raw())
    df = dd.from_pandas(t, npartitions=2) if lazy else t
    good, bad = split_bad_rows(df, df["operation"] == "send", "no sends today")
    good, bad = (good.compute(), bad.compute()) if lazy else (good, bad)
    assert list(good.columns) == list(t.columns) and good["operation"].tolist() == ["etching"]
    assert bad["reason"].tolist() == ["no sends today"] and str(bad["reason"].dtype) == "string"
    good, bad = split_bad_rows(t, lambda x: x["amount"] > 100, "o:" + t["operation"])
    assert bad["reason"].tolist() == ["o:etching"]

"""The synthetic ledger: deterministic, per partition, consistent with the contract."""

from __future__ import annotations

from collections import defaultdict

import pandas as pd
import pytest

from mesh_magics.errors import RunesError
from mesh_magics.runes import synthetic, top_holders, validate_runes, validate_transfers

ARGS = dict(n_rows=3000, n_runes=8, n_addresses=300, npartitions=3)


def _compute(seed=0, **kw):
    t, r = synthetic(**{**ARGS, **kw}, seed=seed)
    return t.compute(scheduler="sync"), r.compute(scheduler="sync")


@pytest.fixture(scope="module")
def ledger():
    return _compute()


def test_same_arguments_same_data_on_any_scheduler(dask_client, ledger):
    t, r = synthetic(**ARGS, seed=0)
    assert t.npartitions == 3
    pd.testing.assert_frame_equal(t.compute(), ledger[0])  # distributed, 2 worker processes
    pd.testing.assert_frame_equal(r.compute(), ledger[1])
    # partitions computed alone, out of order, equal their slice of the whole
    third = t.partitions[2].compute(scheduler="sync")
    pd.testing.assert_frame_equal(third, ledger[0].loc[third.index])


def test_different_seeds_differ(ledger):
    other = _compute(seed=1)[0]
    assert not other["txid"].equals(ledger[0]["txid"])
    assert not other["amount"].equals(ledger[0]["amount"])


def test_shape_and_schema(ledger):
    t, r = ledger
    assert len(t) == ARGS["n_rows"] and len(r) == ARGS["n_runes"]
    validate_transfers(t)
    validate_runes(r)
    assert t.index.equals(pd.RangeIndex(len(t)))
    assert t["block_height"].is_monotonic_increasing and t["block_time"].is_monotonic_increasing
    assert set(t["operation"]) == {"etching", "mint", "send", "burn"}
    assert t["sender"].str.startswith("bc1q").fillna(True).all()
    assert (t.groupby("operation").size()["etching"]) == ARGS["n_runes"]


def test_partitions_respected():
    t, _ = synthetic(**{**ARGS, "npartitions": 5})
    sizes = [len(t.partitions[i].compute(scheduler="sync")) for i in range(5)]
    assert sizes == [600] * 5 and t.npartitions == 5 and t.known_divisions


def test_supply_is_premine_plus_mints(ledger):
    t, r = ledger
    issued = t[t["operation"].isin(["etching", "mint"])].groupby("rune_id")["amount"].sum()
    assert r.set_index("rune_id")["supply"].sort_index().equals(issued.sort_index().rename("supply"))


def test_replayed_balances_never_negative(ledger):
    t, _ = ledger
    bal = defaultdict(int)
    for rune, s, rc, a in zip(t.rune_id, t.sender, t.receiver, t.amount):
        if not pd.isna(rc):
            bal[rune, rc] += a
        if not pd.isna(s):
            bal[rune, s] -= a
            assert bal[rune, s] >= 0
    assert sum(b > 0 for b in bal.values()) > 50


def test_whales_exist(ledger):
    t, r = ledger
    top = top_holders(t, n=1)
    assert len(top) == ARGS["n_runes"]
    share = top.merge(r, on="rune_id")
    assert (share["balance"] / share["supply"]).max() > 0.1


def test_parquet_roundtrip(tmp_path, ledger):
    t, r = synthetic(**ARGS, seed=0, path=tmp_path)
    assert (tmp_path / "transfers").is_dir() and (tmp_path / "runes").is_dir()
    back = t.compute(scheduler="sync").reset_index(drop=True)
    pd.testing.assert_frame_equal(back, ledger[0].reset_index(drop=True), check_dtype=False)
    validate_transfers(back)


def test_bad_arguments():
    with pytest.raises(RunesError, match="n_rows"):
        synthetic(n_rows=0)
    with pytest.raises(RunesError, match="too small"):
        synthetic(n_rows=10, n_runes=50, npartitions=2)
    with pytest.raises(RunesError, match="backend"):
        synthetic(backend="polars")


def test_rune_share_shapes_and_the_default_is_unchanged():
    kw = dict(n_rows=20_000, n_runes=40, n_addresses=2_000, npartitions=2)
    default = synthetic(**kw)[0].compute(scheduler="sync")
    explicit = synthetic(**kw, rune_share="default", zipf_s=3.0)[0].compute(scheduler="sync")
    pd.testing.assert_frame_equal(default, explicit)  # zipf_s only matters for "zipf"
    shares = {}
    for share in ("uniform", "zipf"):
        t, r = synthetic(**kw, rune_share=share)
        df = t.compute(scheduler="sync")
        validate_transfers(df)
        shares[share] = df["rune_id"].value_counts(normalize=True)
    first = r.compute(scheduler="sync")["rune_id"].iloc[0]  # etched first: the Zipf head
    assert shares["zipf"].index[0] == first and shares["zipf"].iloc[0] > 0.15
    assert shares["uniform"].iloc[0] < 0.1
    steep = synthetic(**kw, rune_share="zipf", zipf_s=3.0)[0].compute(scheduler="sync")
    assert steep["rune_id"].value_counts(normalize=True).iloc[0] > 0.5  # one rune dominant


def test_files_sets_the_parquet_file_count_not_the_rows(tmp_path):
    t, _ = synthetic(**ARGS, seed=0, path=tmp_path, files=7)
    assert len(list((tmp_path / "transfers").glob("*.parquet"))) == 7
    ref = synthetic(**ARGS, seed=0)[0].compute(scheduler="sync")
    got = t.compute(scheduler="sync").reset_index(drop=True)  # each file's index starts at 0
    pd.testing.assert_frame_equal(got, ref.reset_index(drop=True), check_dtype=False)


@pytest.mark.parametrize(
    "kw", [{"rune_share": "pareto"}, {"zipf_s": 0}, {"zipf_s": True}, {"files": 0}, {"files": 2.5}]
)
def test_bad_shape_arguments(kw):
    with pytest.raises(RunesError):
        synthetic(**ARGS, **kw)

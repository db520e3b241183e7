"""The whale suite on other dataset shapes, on real worker processes: skew, one dominant rune,
many runes, the per-query engine choice and the coded table's per-partition address codes."""

from __future__ import annotations

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from test_whale_suite import T0, check_all

from mesh_magics.runes import (
    daily_activity,
    synthetic,
    top_holders,
    whale_flows,
    whale_transfers,
)
from mesh_magics.runes.tables import coerce_transfers
from mesh_magics.runes.whale import cache as _whale_cache
from mesh_magics.runes.whale import cache_info, clear_cache
from mesh_magics.runes.whale.cache import coded


@pytest.fixture()
def fresh_cache():
    clear_cache()
    yield
    clear_cache()


def _data(tmp_path, **kw):
    args = dict(n_rows=6000, n_runes=12, n_addresses=300, npartitions=3, seed=11, **kw)
    t, r = synthetic(**args, path=tmp_path)
    pdf, rdf = t.compute(), r.compute()
    return t, r, pdf, rdf


@pytest.mark.parametrize(
    "shape",
    [dict(rune_share="zipf", zipf_s=1.1), dict(rune_share="zipf", zipf_s=3.0), dict(rune_share="uniform")],
    ids=["zipf", "one-rune-dominant", "uniform"],
)
def test_skewed_shapes_match_the_reference(dask_client, tmp_path, fresh_cache, monkeypatch, shape):
    monkeypatch.setattr(_whale_cache, "PARTITION_ROWS", 1500)  # several coded partitions
    t, r, pdf, rdf = _data(tmp_path, files=5, **shape)
    share = pdf["rune_id"].value_counts(normalize=True).iloc[0]
    if shape.get("zipf_s") == 3.0:
        assert share > 0.5
    supply = dict(zip(rdf.rune_id, (int(s) for s in rdf.supply)))
    check_all(t, pdf, supply, r, min_share=0.01, top=5, freq="6h")
    entry = coded(t, build=False)
    assert entry is not None and entry.table.npartitions > 1


def test_q1_and_q5_never_build_the_coded_table(dask_client, tmp_path, fresh_cache):
    t, r, pdf, rdf = _data(tmp_path, rune_share="zipf")
    q1, q5 = whale_transfers(t, r, 0.01), whale_flows(t, r, 0.01, top=9)
    assert cache_info()["misses"] == 0 and cache_info()["entries"] == []  # the general engine, no build
    pd.testing.assert_frame_equal(q1, whale_transfers(pdf, rdf, 0.01))
    pd.testing.assert_frame_equal(q5, whale_flows(pdf, rdf, 0.01, top=9))
    top_holders(t)  # needs the table: built once
    assert cache_info()["misses"] == 1
    hits = cache_info()["hits"]
    pd.testing.assert_frame_equal(whale_transfers(t, r, 0.01), q1)  # now the table is there: used
    pd.testing.assert_frame_equal(whale_flows(t, r, 0.01, top=9), q5)
    assert cache_info()["hits"] == hits + 2 and cache_info()["misses"] == 1


def test_per_partition_address_codes_decode_to_the_same_answers(dask_client, fresh_cache, monkeypatch):
    """The same addresses hold every rune, the runes live in different coded partitions, balances
    tie (ties broken by address asc); address codes differ between partitions."""
    monkeypatch.setattr(_whale_cache, "PARTITION_ROWS", 40)
    rng = np.random.default_rng(5)
    addrs = [f"bc1q{x:038d}" for x in rng.permutation(30)]  # not in string order
    rows = []
    for r in range(6):
        rune = f"84000{r}:1"
        rows.append(("0min", rune, "etching", None, addrs[0], 10_000))
        for i, a in enumerate(addrs[1 : 12 + 2 * r]):
            rows.append((f"{i + 1}min", rune, "send", addrs[0], a, 100 if i % 3 else 250))
    full = [
        (840_000 + i, T0 + pd.Timedelta(ts), f"{i:064x}", ru, op, s, rc, a)
        for i, (ts, ru, op, s, rc, a) in enumerate(rows)
    ]
    cols = ["block_height", "block_time", "txid", "rune_id", "operation", "sender", "receiver", "amount"]
    pdf = coerce_transfers(pd.DataFrame(full, columns=cols))
    t = dd.from_pandas(pdf, npartitions=4)
    got = top_holders(t, n=6)
    pd.testing.assert_frame_equal(got, top_holders(pdf, n=6))
    entry = coded(t, build=False)
    assert entry is not None and entry.table.npartitions > 1
    dicts = dask_client.gather(entry.dicts)
    for d in dicts:  # each distinct (in no order), holding only its partition's addresses
        assert len(set(d.to_pylist())) == len(d) <= len(addrs)
    assert len({tuple(d.to_pylist()) for d in dicts}) > 1
    pd.testing.assert_frame_equal(daily_activity(t), daily_activity(pdf))
    pd.testing.assert_frame_equal(whale_flows(t, _runes(pdf), 0.01), whale_flows(pdf, _runes(pdf), 0.01))


def test_object_string_columns_take_the_coded_path(dask_client, fresh_cache):
    """Python-object strings (no Arrow arrays to share) are coded the same way."""
    t, _ = synthetic(n_rows=3000, n_runes=5, n_addresses=120, npartitions=2, seed=2)
    pdf = t.compute()
    obj = pdf.astype({c: object for c in ("txid", "rune_id", "operation", "sender", "receiver")})
    with dask.config.set({"dataframe.convert-string": False}):
        ddf = dd.from_pandas(obj, npartitions=3)
    assert ddf._meta["sender"].dtype == object
    got = top_holders(ddf, n=4)
    assert cache_info()["misses"] == 1
    want = top_holders(pdf, n=4)
    assert got["address"].tolist() == want["address"].tolist()
    assert got["balance"].tolist() == want["balance"].tolist()


def _runes(pdf: pd.DataFrame) -> pd.DataFrame:
    ids = sorted(pdf["rune_id"].unique())
    return pd.DataFrame(
        {"rune_id": ids, "name": ids, "divisibility": 0, "supply": 10_000, "symbol": None}
    ).astype({"rune_id": "string", "name": "string", "symbol": "string"})

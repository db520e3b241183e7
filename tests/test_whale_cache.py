"""The whale suite's cache on the mesh: reuse for the same input, a fresh build when the input changes."""

from __future__ import annotations

import time

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from mesh_magics.runes import concentration, synthetic, top_holders, whale_netflow
from mesh_magics.runes.whale import WhaleEngine, cache_info, clear_cache, engine_for
from mesh_magics.runes.whale import cache as _whale_cache
from mesh_magics.runes.whale.cache import assign_runes, coded
from mesh_magics.runes.whale.coded import CodedEngine
from mesh_magics.runes.whale.general import GeneralEngine

ARGS = dict(n_rows=3000, n_runes=6, n_addresses=200, npartitions=3)


def _write(path, seed):
    synthetic(**ARGS, seed=seed, path=path)
    return dd.read_parquet(path / "transfers")


@pytest.fixture()
def fresh_cache():
    clear_cache()
    yield
    clear_cache()


def test_same_input_is_cached_and_matches_the_general_path(dask_client, tmp_path, fresh_cache):
    t = _write(tmp_path, seed=1)
    got = top_holders(t, n=3)
    info = cache_info()
    assert info["misses"] == 1 and len(info["entries"]) == 1
    assert info["entries"][0]["derived"] == ["balances"]
    conc = concentration(dd.read_parquet(tmp_path / "transfers"))  # a new read of the same files
    assert cache_info()["hits"] >= 1 and cache_info()["misses"] == 1
    local = t.compute()  # in-memory input: the general (string) path
    pd.testing.assert_frame_equal(got, top_holders(local, n=3))
    pd.testing.assert_frame_equal(conc, concentration(local))
    pd.testing.assert_frame_equal(whale_netflow(t, top=3), whale_netflow(local, top=3))


def test_changed_input_is_not_served_from_the_cache(dask_client, tmp_path, fresh_cache):
    before = top_holders(_write(tmp_path, seed=1), n=3)
    time.sleep(1.1)  # the files' modification times are part of the input's token
    t = _write(tmp_path, seed=2)
    after = top_holders(t, n=3)
    assert cache_info()["misses"] == 2
    pd.testing.assert_frame_equal(after, top_holders(t.compute(), n=3))
    assert not after.equals(before)
    # a changed graph (a filter) is another input too
    sub = t[t["block_height"] % 2 == 0]
    pd.testing.assert_frame_equal(top_holders(sub, n=3), top_holders(sub.compute(), n=3))
    assert cache_info()["misses"] == 3 and len(cache_info()["entries"]) == 2  # LRU keeps two


def test_clear_cache(dask_client, tmp_path, fresh_cache):
    top_holders(_write(tmp_path, seed=1))
    clear_cache()
    assert cache_info()["entries"] == []


@pytest.mark.parametrize("small", [False, True], ids=["default", "grouped-inputs"])
def test_coded_table_holds_each_rune_in_one_partition(dask_client, tmp_path, fresh_cache, monkeypatch, small):
    if small:  # as a large input would: 500-row partitions, inputs grouped before the all-to-all
        monkeypatch.setattr(_whale_cache, "PARTITION_ROWS", 500)
        monkeypatch.setattr(_whale_cache, "MAX_PIECES", 4)
    t = _write(tmp_path, seed=3)
    entry = coded(t)
    parts = dask_client.gather(entry.parts)
    assert 1 < len(parts) <= t.npartitions
    pd.testing.assert_frame_equal(top_holders(t, n=3), top_holders(t.compute(), n=3))
    owners = {}
    for i, part in enumerate(parts):
        for rune in set(part["rune"].tolist()):
            assert owners.setdefault(rune, i) == i, f"rune code {rune} in partitions {owners[rune]} and {i}"
    local = t.compute()
    assert sum(map(len, parts)) == local["rune_id"].notna().sum()
    assert sorted(entry.rune_ids(list(owners)).tolist()) == sorted(local["rune_id"].dropna().unique())


def test_assign_runes_puts_the_largest_first_on_the_least_loaded():
    counts = np.array([100, 1, 1, 50, 50, 0])
    owner = assign_runes(counts, 2)
    loads = np.bincount(owner, weights=counts, minlength=2)
    assert sorted(loads.tolist()) == [101, 101]
    assert owner[0] != owner[3] and owner[3] == owner[4]
    assert assign_runes(np.array([5, 0, 0]), 4).tolist() == [0, 0, 0]  # no more partitions than runes
    assert assign_runes(np.array([], dtype=np.int64), 3).tolist() == []


def test_a_lost_partition_means_a_rebuild(dask_client, tmp_path, fresh_cache):
    t = _write(tmp_path, seed=4)
    expected = top_holders(t.compute(), n=3)  # in memory: the general path, no cache
    entry = coded(t)
    assert entry.alive() and cache_info()["misses"] == 1
    # Lose a partition as a restarted worker would. No query has run on the entry yet, so the
    # partition has no dependents: distributed's cancel asserts that every dependent of a
    # cancelled key is wanted by a client, and a previous query's leftover tasks are not.
    dask_client.cancel(entry.parts[0])
    assert not entry.alive()
    pd.testing.assert_frame_equal(top_holders(t, n=3), expected)
    assert cache_info()["misses"] == 2


def test_engine_for_chooses_one_engine_per_input(dask_client, tmp_path, fresh_cache):
    t = _write(tmp_path, seed=5)
    engine = engine_for(t)  # dask input on the mesh, int64 amounts: the coded table
    assert isinstance(engine, CodedEngine) and engine.name == "coded"
    assert cache_info()["misses"] == 1
    local = t.compute()
    assert isinstance(engine_for(local), GeneralEngine)  # in memory: the general engine
    exact = local.assign(amount=local["amount"].astype(object))
    with dask.config.set({"dataframe.convert-string": False}):
        assert isinstance(engine_for(dd.from_pandas(exact, npartitions=2)), GeneralEngine)
    assert cache_info()["misses"] == 1  # neither built a coded table
    for e in (engine, engine_for(local)):
        assert isinstance(e, WhaleEngine)


@pytest.mark.parametrize("seed", range(6))
def test_a_pieces_address_codes_are_renumbered_the_same_by_mask_and_by_sort(seed):
    from mesh_magics.runes.whale.coding import _renumber

    rng = np.random.default_rng(seed)
    n_addr = int(rng.integers(1, 5_000))
    rows = int(rng.integers(0, 20_000))
    s = rng.integers(-1, n_addr, rows).astype(np.int32)  # -1: a null sender
    r = rng.integers(-1, n_addr, rows).astype(np.int32)
    by_mask, by_sort = _renumber(s, r, n_addr, True), _renumber(s, r, n_addr, False)
    for a, b in zip(by_mask, by_sort):
        assert np.array_equal(a, b) and a.dtype.kind == b.dtype.kind
    used, s2, r2 = by_mask
    assert np.all(np.diff(used) > 0)  # sorted, distinct: codes order as the partition's did
    for old, new in ((s, s2), (r, r2)):
        assert np.array_equal(new < 0, old < 0)
        assert np.array_equal(used[new[new >= 0]], old[old >= 0])
    assert set(used) == set(np.concatenate([s, r])[np.concatenate([s, r]) >= 0])


@pytest.mark.parametrize("seed", range(6))
def test_chunks_are_coded_into_one_dictionary_whatever_their_lengths_and_nulls(seed):
    """Arrow drops empty chunks from a dictionary encoding: the codes still line up with the
    input's chunks (empty ones, all-null ones, string and large_string columns)."""
    import pyarrow as pa

    from mesh_magics.runes.whale.coding import _chunks, _encode_chunks

    rng = np.random.default_rng(seed)
    words = [f"bc1q{w:05d}" for w in range(int(rng.integers(1, 50)))]
    chunks = []
    for _ in range(int(rng.integers(1, 7))):
        n = int(rng.choice([0, 0, 1, int(rng.integers(2, 300))]))
        values = [None if rng.random() < 0.2 else words[int(rng.integers(len(words)))] for _ in range(n)]
        if n and rng.random() < 0.2:
            values = [None] * n
        chunks.append(pa.array(values, type=pa.string() if rng.random() < 0.5 else pa.large_string()))
    column = pd.Series(
        pd.arrays.ArrowStringArray(pa.chunked_array([c.cast(pa.large_string()) for c in chunks]))
    )
    got = _chunks(column)
    assert [len(c) for c in got] == [len(c) for c in chunks]
    codes, dictionary = _encode_chunks(got)
    assert len(codes) == len(chunks)
    names = dictionary.to_pylist()
    assert len(set(names)) == len(names)
    for chunk, code in zip(chunks, codes):
        assert code.dtype == np.int32 and len(code) == len(chunk)
        assert [names[i] if i >= 0 else None for i in code] == chunk.to_pylist()


def _tied(seed: int) -> pd.DataFrame:
    """Transfers where many holders tie: addresses first seen in an order other than their
    strings' (the coded dictionaries keep first appearance), equal balances at every cut."""
    rng = np.random.default_rng(seed)
    names = [f"bc1q{w:04d}" for w in rng.permutation(40)]  # first appearance != string order
    rows = []
    for i, a in enumerate(names):
        for rune in ("1:1", "2:5"):
            rows.append((rune, "mint", None, a, 100 if i % 3 else 250))
    for i in range(120):  # sends of equal amounts between shuffled pairs: tied flows
        s, r = rng.choice(names, 2, replace=False)
        rows.append((("1:1", "2:5")[i % 2], "send", s, r, 7 if i % 4 else 9))
    df = pd.DataFrame(rows, columns=["rune_id", "operation", "sender", "receiver", "amount"])
    df["block_height"] = np.arange(len(df), dtype=np.int64) // 10 + 840_000
    df["block_time"] = pd.Timestamp("2024-04-20", tz="UTC") + pd.to_timedelta(
        df["block_height"] - 840_000, "h"
    )
    df["txid"] = [f"{i:064x}" for i in range(len(df))]
    for c in ("rune_id", "operation", "sender", "receiver", "txid"):
        df[c] = df[c].astype("string[pyarrow]")
    return df


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ties_at_every_cut_are_broken_by_the_address_strings(dask_client, fresh_cache, seed):
    from mesh_magics.runes import whale_flows
    from mesh_magics.runes.whale import engine_for

    local = _tied(seed)
    t = dd.from_pandas(local, npartitions=3)
    runes = pd.DataFrame({"rune_id": ["1:1", "2:5"], "supply": [10**6, 10**6]})
    for n in (1, 3, 7, 13):
        got = top_holders(t, n=n)
        assert isinstance(engine_for(t), CodedEngine)  # the coded table answered
        pd.testing.assert_frame_equal(got, top_holders(local, n=n))
        pd.testing.assert_frame_equal(whale_netflow(t, top=n), whale_netflow(local, top=n))
    for top in (1, 5, 30):
        pd.testing.assert_frame_equal(
            whale_flows(t, runes, min_share=0.000001, top=top),
            whale_flows(local, runes, min_share=0.000001, top=top),
        )


@pytest.mark.parametrize("seed", range(5))
def test_whale_membership_of_rows_matches_a_set_of_rune_address_pairs(seed):
    from mesh_magics.runes.whale.coded import _member

    rng = np.random.default_rng(seed)
    rows = int(rng.integers(0, 5_000))
    rune = rng.integers(0, 6, rows).astype(np.int32)
    codes = rng.integers(-1, 300, rows).astype(np.int32)  # -1: a null address
    pairs = {(int(r), int(a)) for r, a in zip(rng.integers(0, 6, 40), rng.integers(0, 400, 40))}
    keys = np.sort(np.array([(r << 32) | a for r, a in pairs], dtype=np.int64))
    want = np.array([(int(r), int(a)) in pairs for r, a in zip(rune, codes)], dtype=bool)
    assert np.array_equal(_member(rune, codes, keys), want)
    assert not _member(rune, codes, keys[:0]).any()

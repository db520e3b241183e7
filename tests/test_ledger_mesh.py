"""The mesh ledger (index_chain, on a real LocalCluster) against the reference ledger: the same
four tables, exactly, on ord's scenarios and on random chains with many runes, mints, transfers
and cenotaphs over several height partitions and rune partitions; incremental calls; bad input."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from _shared import shared_path

from mesh_magics.chain.blocklist import from_blocks
from mesh_magics.errors import LedgerError
from mesh_magics.runes import index_blocks, index_chain
from mesh_magics.runes.ledger.mesh import chain_frames_to_dask
from mesh_magics.runes.ledger.synthchain import random_chain
from mesh_magics.runes.ledger.testchain import ChainBuilder, etching, runestone

SCENARIOS = shared_path("ledger_scenarios_public.json")


def _rows(df: pd.DataFrame) -> list[tuple]:
    clean = df.astype(object).where(df.notna(), None)
    return sorted(map(tuple, clean.itertuples(index=False)), key=repr)


def assert_same_ledger(mesh, ref) -> None:
    """Every table equal: runes frame for frame; the others as row sets with equal dtypes."""
    mesh = mesh.compute()
    pd.testing.assert_frame_equal(mesh.runes, ref.runes)
    for name in ("balances", "transfers", "events"):
        a, b = getattr(mesh, name), getattr(ref, name)
        assert list(a.columns) == list(b.columns), name
        assert dict(a.dtypes) == dict(b.dtypes), name
        assert _rows(a) == _rows(b), name
    # transfers and events come in block order, as the reference has them
    for name in ("transfers", "events"):
        a, b = getattr(mesh, name), getattr(ref, name)
        assert a["block_height"].tolist() == b["block_height"].tolist(), name


def test_ord_scenarios_on_the_mesh(dask_client):
    for scenario in json.loads(SCENARIOS.read_text()):
        net = scenario["network"]
        frames = from_blocks(scenario["blocks"], net)
        mesh = index_chain(frames, net, blocks_per_partition=3)
        assert_same_ledger(mesh, index_blocks(scenario["blocks"], net))


@pytest.mark.parametrize(
    ("seed", "blocks_per_partition", "rune_partitions"),
    [(11, 6, 1), (12, 5, 2), (13, 9, 3), (14, 1, 2)],
)
def test_random_chains_match_the_reference(dask_client, seed, blocks_per_partition, rune_partitions):
    blocks = random_chain(seed, n_blocks=50, txs_per_block=25)
    ref = index_blocks(blocks, "regtest")
    assert len(ref.runes) >= 15 and len(ref.transfers) >= 300  # a chain with something to get wrong
    assert set(ref.events.event) == {"etched", "minted", "transferred", "burned"}
    mesh = index_chain(from_blocks(blocks, "regtest"), "regtest", blocks_per_partition=blocks_per_partition,
                       rune_partitions=rune_partitions)  # fmt: skip
    assert mesh.transfers.npartitions >= 50 // blocks_per_partition
    assert_same_ledger(mesh, ref)


def test_partitions_of_the_tables_need_not_line_up(dask_client):
    import dask.dataframe as dd

    blocks = random_chain(21, n_blocks=30, txs_per_block=20)
    frames = from_blocks(blocks, "regtest")
    tables = chain_frames_to_dask(frames, 4)
    tables["outputs"] = dd.from_pandas(frames.outputs, npartitions=7, sort=False)  # rows split anywhere
    tables["inputs"] = dd.from_pandas(frames.inputs, npartitions=3, sort=False)
    ref = index_blocks(blocks, "regtest")
    assert_same_ledger(index_chain(tables, "regtest", rune_partitions=2), ref)
    # and two height ranges at a time: the state goes from one window to the next
    assert_same_ledger(index_chain(tables, "regtest", rune_partitions=2, window=2), ref)


def test_persisted_tables_are_read_as_they_are_held(dask_client):
    """Persisted tables (the benchmark's and a notebook's usual case) are used partition for
    partition, with no task to pick each out, and give the same ledger; a collection derived
    from persisted ones is not taken for them."""
    from dask.distributed import wait

    from mesh_magics.runes.ledger.partitions import persisted

    blocks = random_chain(22, n_blocks=24, txs_per_block=20)
    frames = from_blocks(blocks, "regtest")
    tables = chain_frames_to_dask(frames, 4)
    held = {name: t.persist() for name, t in tables.items()}
    wait([f for t in held.values() for f in dask_client.futures_of(t)])
    futures = persisted(dask_client, held["txs"])
    assert futures is not None and len(futures) == held["txs"].npartitions
    assert [len(f.result()) for f in futures] == held["txs"].map_partitions(len).compute().tolist()
    assert persisted(dask_client, tables["txs"]) is None  # not persisted
    assert persisted(dask_client, held["txs"][held["txs"]["height"] > 3]) is None  # derived from persisted
    ref = index_blocks(blocks, "regtest")
    assert_same_ledger(index_chain(held, "regtest", rune_partitions=2), ref)
    # a derived table that drops rows is read as derived: the ledger sees the gap
    cut = dict(held, txs=held["txs"][held["txs"]["height"] != 5])
    with pytest.raises(LedgerError):
        index_chain(cut, "regtest", rune_partitions=2).compute()


def test_a_second_call_indexes_only_the_new_blocks(dask_client):
    blocks = random_chain(31, n_blocks=40, txs_per_block=20)
    frames = from_blocks(blocks, "regtest")
    full = index_blocks(blocks, "regtest")
    first = index_chain(frames, "regtest", end=24, blocks_per_partition=6, rune_partitions=2)
    assert first.height == 24
    assert_same_ledger(first, index_blocks(blocks[:25], "regtest"))
    second = index_chain(frames, "regtest", state=first, blocks_per_partition=6)
    assert second.height == 39
    assert second.transfers["block_height"].min().compute() >= 25  # only the new blocks' rows
    pd.testing.assert_frame_equal(second.runes, full.runes)
    assert _rows(second.balances.compute()) == _rows(full.balances)
    both = pd.concat([first.transfers.compute(), second.transfers.compute()], ignore_index=True)
    assert _rows(both) == _rows(full.transfers)
    with pytest.raises(LedgerError, match="continue from"):
        index_chain(frames, "regtest", start=10, state=first)


def test_a_saved_state_continues_in_a_later_session(dask_client, tmp_path):
    from mesh_magics.runes.ledger import LedgerState

    blocks = random_chain(32, n_blocks=30, txs_per_block=20)
    frames = from_blocks(blocks, "regtest")
    first = index_chain(frames, "regtest", end=17, blocks_per_partition=5, rune_partitions=2)
    first.state.save(tmp_path / "state")
    loaded = LedgerState.load(tmp_path / "state")
    assert loaded.next_height == 18 and loaded.partitions == 2
    later = index_chain(frames, "regtest", state=loaded, blocks_per_partition=5)
    full = index_blocks(blocks, "regtest")
    pd.testing.assert_frame_equal(later.runes, full.runes)
    assert _rows(later.balances.compute()) == _rows(full.balances)
    with pytest.raises(LedgerError, match="no ledger state"):
        LedgerState.load(tmp_path / "nothing")


def test_mainnet_genesis_rune_on_the_mesh(dask_client):
    b = ChainBuilder(start_height=839_990)
    for _ in range(14):
        b.tx([b.block()], 2, runestone(mint=(1, 0), pointer=1))
    b.etch(runestone(etching=etching("ABCDEFGHIJKLMNOP", 77)))
    assert_same_ledger(index_chain(from_blocks(b.blocks, "mainnet"), "mainnet", blocks_per_partition=4),
                       index_blocks(b.blocks, "mainnet"))  # fmt: skip


def test_bad_input_is_a_ledger_error(dask_client):
    blocks = random_chain(41, n_blocks=12, txs_per_block=5)
    frames = from_blocks(blocks, "regtest")
    gap = {name: getattr(frames, name) for name in ("blocks", "txs", "outputs", "inputs")}
    gap = {name: df[df["height"] != 6].reset_index(drop=True) for name, df in gap.items()}
    with pytest.raises(LedgerError, match="no block between 5 and 7"):
        index_chain(gap, "regtest", blocks_per_partition=3)
    # an etching whose committing input spends an output the tables do not hold
    b = ChainBuilder()
    b.etch(runestone(etching=etching("AAAAAAAAAAAAA", 1)))
    tail = from_blocks(b.blocks[1:], "regtest")
    with pytest.raises(LedgerError, match=r"block 5, transaction 1 .*commitment"):
        index_chain(tail, "regtest")


def test_index_chain_needs_a_cluster():
    from distributed import default_client

    try:
        default_client()
        pytest.skip("a default client is running")
    except ValueError:
        pass
    with pytest.raises(LedgerError, match="Client"):
        index_chain(from_blocks([], "regtest"), "regtest")


def test_errors_raised_on_the_workers_name_block_and_transaction(dask_client):
    blocks = random_chain(42, n_blocks=8, txs_per_block=5)
    frames = from_blocks(blocks, "regtest")
    txs = frames.txs.copy()
    rows = txs.index[txs["height"] == 4]
    txs.loc[rows[1:3], "tx_index"] = txs.loc[rows[1:3], "tx_index"].to_numpy()[::-1]  # two swapped
    tables = {"blocks": frames.blocks, "txs": txs, "outputs": frames.outputs, "inputs": frames.inputs}
    with pytest.raises(LedgerError, match=r"block 4, transaction [12]"):
        index_chain(tables, "regtest", blocks_per_partition=3)


def test_a_corrupt_state_that_overflows_u128_is_an_error(dask_client):
    from mesh_magics.runes.ledger.prepare import hex_prefix64

    MAX = 2**128 - 1
    b = ChainBuilder()
    rid, txid = b.etch(runestone(etching=etching("AAAAAAAAAAAAA", MAX)))
    coinbase = b.block()
    b.block()
    b.tx([(txid, 0), coinbase], 1)
    frames = from_blocks(b.blocks, "regtest")
    first = index_chain(frames, "regtest", end=b.height - 1, rune_partitions=1)
    # the state claims the coinbase output holds MAX units too
    live = first.state.live[0].result()
    import pyarrow as pa

    extra = pd.DataFrame({"height": [b.height - 1], "tx_index": [0], "vout": [0],
                          "pfx": hex_prefix64(pa.array([coinbase[0]])), "txid": [coinbase[0]],
                          "address": [None], "balances": [((rid, MAX),)]})  # fmt: skip
    first.state.live[0] = dask_client.scatter(pd.concat([live, extra.astype(live.dtypes)], ignore_index=True))
    with pytest.raises(LedgerError, match=rf"block {b.height}, transaction 1: .*overflows u128"):
        index_chain(frames, "regtest", state=first)


def test_the_six_whale_queries_run_on_the_mesh_transfers(dask_client):
    from mesh_magics.runes import (
        concentration,
        daily_activity,
        top_holders,
        whale_flows,
        whale_netflow,
        whale_transfers,
    )

    blocks = random_chain(51, n_blocks=30, txs_per_block=25, time_of=lambda h: 1713571200 + 1800 * h)
    ref = index_blocks(blocks, "regtest")
    mesh = index_chain(from_blocks(blocks, "regtest"), "regtest", blocks_per_partition=6, rune_partitions=2)
    assert hasattr(mesh.transfers, "npartitions")  # dask, never gathered
    for query in (
        lambda t, r: whale_transfers(t, r, min_share=0.0001),
        lambda t, r: top_holders(t, n=5),
        lambda t, r: concentration(t, top=3),
        lambda t, r: whale_netflow(t, freq="1h", top=3),
        lambda t, r: whale_flows(t, r, min_share=0.0001, top=20),
        lambda t, r: daily_activity(t),
    ):
        got, want = query(mesh.transfers, mesh.runes), query(ref.transfers, ref.runes)
        assert len(want) > 0
        pd.testing.assert_frame_equal(got, want)


def test_indexing_keeps_clients_subscribed_to_the_all_topic_connected(dask_client):
    """``index_chain`` ships its mint terms without a broadcast: a replication logs
    ``WorkerState`` objects to distributed's ``all`` topic, which closed the stream of every
    client subscribed to it (a dashboard, a second notebook)."""
    from distributed import Client

    with Client(dask_client.scheduler.address, timeout=30) as watcher:
        seen: list = []
        watcher.subscribe_topic("all", seen.append)
        blocks = random_chain(21, n_blocks=12, txs_per_block=20)
        assert_same_ledger(
            index_chain(from_blocks(blocks, "regtest"), "regtest"), index_blocks(blocks, "regtest")
        )
        assert watcher.status == "running"
        assert watcher.submit(sum, [1, 2, 3], pure=False).result(timeout=30) == 6

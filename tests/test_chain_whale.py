"""BTC whale queries on a Core-written chain whose transfers are known, exact to the satoshi.

Alice's coinbase (50 BTC) pays Bob 30 (change to Alice); Bob pays Carol 5 and Dave the
rest; Alice sends Carol 0.5; Carol merges her two coins to Eve; Dave and Eve together pay
Frank and Gus, which splits first-in-first-out: Dave's 24.9998 and 1.0002 of Eve's go to
Frank, the rest of Eve's to Gus, the fee to nobody. Every address is a distinct P2WSH.
The queries run on a LocalCluster, on frames in memory and on reopened Parquet, alike.
"""

from __future__ import annotations

import pandas as pd
import pytest

import mesh_magics.chain as chain
from mesh_magics.chain.format.address import address
from mesh_magics.chain.format.build import push
from mesh_magics.chain.regtest import Lock, Regtest
from mesh_magics.chain.whale import sats
from mesh_magics.errors import ChainError

pytest.importorskip("pbk")
BTC = 100_000_000
NAMES = ("alice", "bob", "carol", "dave", "eve", "frank", "gus")
LOCKS = {n: Lock.p2wsh(push(n.encode()) + b"\x75\x51") for n in NAMES}  # <name> OP_DROP OP_TRUE
ADDR = {n: address(lock.script, "regtest") for n, lock in LOCKS.items()}


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    path = tmp_path_factory.mktemp("whales") / "node"
    with Regtest(path) as c:
        cb = c.mine(pay_to=LOCKS["alice"]).coinbase
        c.mine(n=100)
        t1 = c.tx([cb], [(30 * BTC, LOCKS["bob"]), (19_9999_0000, LOCKS["alice"])])
        c.mine([t1])  # 102
        t2 = c.tx([t1.utxo(0)], [(5 * BTC, LOCKS["carol"]), (24_9998_0000, LOCKS["dave"])])
        t3 = c.tx([t1.utxo(1)], [(BTC // 2, LOCKS["carol"]), (19_4998_0000, LOCKS["alice"])])
        c.mine([t2, t3])  # 103
        t4 = c.tx([t2.utxo(0), t3.utxo(0)], [(5_4997_0000, LOCKS["eve"])])
        c.mine([t4])  # 104
        t5 = c.tx([t2.utxo(1), t4.utxo(0)], [(26 * BTC, LOCKS["frank"]), (4_4994_0000, LOCKS["gus"])])
        c.mine([t5])  # 105
        c.mine()
    return path, {"t1": t1, "t2": t2, "t3": t3, "t4": t4, "t5": t5}


def _sources(path, tmp_path):
    tables = chain.read(path, partition_blocks=50)
    frames = chain.from_blocks([b for b in _raws(path)], "regtest")
    return {"mesh": tables, "memory": frames, "parquet": tables.to_parquet(tmp_path / "pq")}


def _raws(path):
    with Regtest(path) as c:
        return [c.block(h).raw for h in range(c.tip.height + 1)]


@pytest.fixture()
def sources(scenario, tmp_path, dask_client):
    return _sources(scenario[0], tmp_path)


def test_whale_transactions_by_threshold(scenario, sources):
    _, t = scenario
    for source in sources.values():
        big = chain.whale_transactions(source, min_btc=20)
        assert big["txid"].tolist() == [t["t1"].txid, t["t5"].txid, t["t2"].txid]  # 50, 30.4995, 30 BTC in
        assert big["value"].tolist() == [50 * BTC, 30_4995_0000, 30 * BTC]
        assert big["fee"].tolist() == [t["t1"].fee, t["t5"].fee, t["t2"].fee]
        assert len(chain.whale_transactions(source, min_btc="5")) == 5  # all five; no coinbase
        outs = chain.whale_transactions(source, min_btc=30, by="output")
        assert outs["txid"].tolist() == [
            t["t1"].txid,
            t["t5"].txid,
        ]  # 49.9999 and 30.4994 out; t2's 29.9998 is not
        with_cb = chain.whale_transactions(source, min_btc=50, coinbase=True)
        assert with_cb["is_coinbase"].sum() == len(with_cb) - 1 and t["t1"].txid in set(with_cb["txid"])


def test_whale_flows_split_first_in_first_out(sources):
    want = [  # largest first; ties by sender then receiver address
        (ADDR["alice"], ADDR["bob"], 30 * BTC),
        *sorted([(ADDR["bob"], ADDR["dave"], 24_9998_0000), (ADDR["dave"], ADDR["frank"], 24_9998_0000)]),
        (ADDR["bob"], ADDR["carol"], 5 * BTC),
        (ADDR["eve"], ADDR["gus"], 4_4994_0000),  # t5: Eve's coin after Dave's, past Frank's 26 BTC
        (ADDR["eve"], ADDR["frank"], 1_0002_0000),  # ... and its first 1.0002 BTC fill Frank's output
    ]
    for source in sources.values():
        flows = chain.whale_flows(source, min_btc=20, top=None)
        got = [(s, r, int(a)) for s, r, a in flows[["sender", "receiver", "amount"]].itertuples(index=False)]
        assert got == want and (flows["n_tx"] == 1).all()
        with_change = chain.whale_flows(source, min_btc=20, top=None, include_change=True)
        alice_self = with_change[
            (with_change["sender"] == ADDR["alice"]) & (with_change["receiver"] == ADDR["alice"])
        ]
        assert alice_self["amount"].tolist() == [19_9999_0000]  # the change, shown only when asked
        assert len(chain.whale_flows(source, min_btc=20, top=2)) == 2
        assert chain.whale_flows(source, min_btc=31)["amount"].tolist() == [
            30 * BTC
        ]  # t1 alone: Alice to Bob


def test_balance_history_over_height(sources):
    for source in sources.values():
        h = chain.balance_history(source, [ADDR["alice"], ADDR["bob"], ADDR["eve"]])
        alice = h[h["address"] == ADDR["alice"]]
        assert alice["height"].tolist() == [1, 102, 103]
        assert alice["delta"].tolist() == [50 * BTC, -30_0001_0000, -5001_0000]
        assert alice["balance"].tolist() == [50 * BTC, 19_9999_0000, 19_4998_0000]
        bob = h[h["address"] == ADDR["bob"]]
        assert bob[["height", "received", "sent", "balance"]].values.tolist() == [
            [102, 30 * BTC, 0, 30 * BTC],
            [103, 0, 30 * BTC, 0],
        ]
        eve = h[h["address"] == ADDR["eve"]]
        assert eve["balance"].tolist() == [5_4997_0000, 0]


def test_thresholds_are_exact_satoshis():
    assert sats("0.1") == sats(0.1) == 10_000_000 and sats(21_000_000) == 21 * 10**14
    with pytest.raises(ChainError, match="whole, non-negative number of satoshis"):
        sats("0.000000001")
    with pytest.raises(ChainError, match="by must be"):
        chain.whale_transactions(chain.from_blocks([], "regtest"), by="both")
    with pytest.raises(ChainError, match="at least one address"):
        chain.balance_history(chain.from_blocks([], "regtest"), [])


@pytest.mark.gpu
def test_the_queries_on_cudf_give_the_same_answers(scenario, tmp_path):
    pytest.importorskip("cudf")
    pytest.importorskip("dask_cudf")
    tables = chain.read(scenario[0])
    for fn, kwargs in (
        (chain.whale_transactions, {"min_btc": 5}),
        (chain.whale_flows, {"min_btc": 20, "top": None}),
    ):
        pd.testing.assert_frame_equal(
            fn(tables, backend="cudf", **kwargs), fn(tables, backend="pandas", **kwargs), check_dtype=False
        )
    addrs = list(ADDR.values())
    pd.testing.assert_frame_equal(
        chain.balance_history(tables, addrs, backend="cudf"), chain.balance_history(tables, addrs)
    )

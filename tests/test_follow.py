"""``runes.follow`` on chains Bitcoin Core's validation engine writes while the follow runs.

The story (tests/_follow.py): funding, an etching's commit and reveal, mints, a small
transfer, a block with a rune whale (60 % of the supply) and a BTC whale (100 BTC), then a
competing branch that Core switches to. Followed from the data directory (Core holds it
open: its index is not on disk yet, the follow reads the appended block and undo files) and
over REST (a real HTTP server on 127.0.0.1 answering as Core does), on a real LocalCluster.
Each step is one poll; the followed rows (with the reorg's rewrites applied) must equal one
``index_chain`` over the final chain.
"""

from __future__ import annotations

import gc
import os
import signal
import threading
import time

import pandas as pd
import pytest
from _follow import NAME, PREMINE, RestNode, Story, holder

from mesh_magics import runes
from mesh_magics.chain.format.address import address, network
from mesh_magics.chain.regtest import Regtest
from mesh_magics.errors import ChainError, LedgerError

pytest.importorskip("pbk")

RULES = {"min_share": 0.01, "min_btc": 60}
NET = network("regtest")


def addr(name: str) -> str:
    return address(holder(name).script, NET)


@pytest.fixture()
def story(tmp_path):
    with Regtest(tmp_path / "node", xor_key=bytes(range(1, 9))) as chain:
        s = Story(chain)
        s.funding(105)
        yield s


class Seen:
    """The rows a follow gave, per block, with each reorg's removals applied."""

    def __init__(self) -> None:
        self.rows: dict[int, tuple[pd.DataFrame, ...]] = {}

    def apply(self, batch) -> None:
        for h, _ in batch.removed:
            self.rows.pop(h, None)
        for h, _ in batch.added:
            self.rows[h] = tuple(
                t[t["block_height"] == h] for t in (batch.events, batch.transfers, batch.alerts)
            )

    def table(self, i: int) -> pd.DataFrame:
        return pd.concat([r[i] for _, r in sorted(self.rows.items())], ignore_index=True)


def _rows(df: pd.DataFrame) -> list[tuple]:
    clean = df.astype(object).where(df.notna(), None)
    return sorted(map(tuple, clean.itertuples(index=False)), key=repr)


def _the_story(f, s: Story, publish=lambda: None) -> Seen:
    """Mine the story step by step, polling after each; check what each batch says."""
    seen = Seen()

    def step():
        publish()
        batch = f.poll()
        assert batch is not None
        seen.apply(batch)
        return batch

    b = step()
    assert [h for h, _ in b.added] == list(range(0, 106)) and b.alerts.empty and not b.removed
    s.commit()
    assert step().events.empty
    s.reveal()
    b = step()
    assert sorted(b.events["event"]) == ["etched", "transferred"]
    assert b.transfers[["operation", "receiver"]].values.tolist() == [["etching", addr("alice")]]
    s.mints()
    assert sorted(step().events["event"]) == ["minted", "minted", "transferred", "transferred"]
    s.small_transfer()
    b = step()
    assert b.alerts.empty  # 5,000 units: 0.5 % of supply; Alice's change does not count
    rune_tx, btc_tx = s.whales()
    b = step()
    assert b.alerts[["kind", "txid", "amount"]].values.tolist() == [
        ["rune", rune_tx.txid, 600_000],
        ["btc", btc_tx.txid, 100 * 10**8],
    ]
    whale = b.alerts.iloc[0]
    assert (whale.rune, whale.supply, whale.sender, whale.receiver) == (
        NAME,
        PREMINE + 2_000,
        addr("alice"),
        addr("carol"),
    )
    assert whale.share == pytest.approx(600_000 / 1_002_000)
    assert b.alerts["block_hash"].tolist() == [s.chain.block(s.whale_height).hash_hex] * 2
    whale_hash = s.chain.block(s.whale_height).hash_hex
    # a reorg at the tip: the whale block is replaced by a longer branch
    again = s.reorg()
    b = step()
    assert b.reorg and b.removed == [(s.whale_height, whale_hash)]
    assert b.retracted["txid"].tolist() == [rune_tx.txid, btc_tx.txid]
    assert [h for h, _ in b.added] == [s.whale_height, s.whale_height + 1]
    assert b.alerts[["kind", "block_height", "txid"]].values.tolist() == [
        ["btc", s.whale_height + 1, again.txid]
    ]
    assert b.transfers.empty  # the new branch moves no runes
    assert f.poll() is None  # nothing new
    assert f.reorgs == 1 and f.n_alerts == 1 and f.recent_alerts()["txid"].tolist() == [again.txid]
    return seen


def _same_as_one_index(f, seen: Seen, tables) -> None:
    full = runes.index_chain(tables, "regtest")
    pd.testing.assert_frame_equal(f.result.runes, full.runes)
    assert _rows(f.result.balances.compute()) == _rows(full.balances.compute())
    assert _rows(seen.table(0)) == _rows(full.events.compute())
    assert _rows(seen.table(1)) == _rows(full.transfers.compute())


def test_following_a_data_directory_while_core_writes_it(dask_client, story):
    f = runes.follow(story.chain.datadir, "regtest", alerts=RULES, depth=3)
    seen = _the_story(f, story)
    # bounded: depth + 1 ledger states, depth blocks of rows, depth blocks held by the source
    assert len(f.window.checkpoints) <= 4 and len(f.window.rows) <= 3
    assert len(f.source.held()) <= 3
    import mesh_magics.chain as chain

    _same_as_one_index(f, seen, chain.read(story.chain.datadir, "regtest", index=False))


def test_following_a_node_over_rest(dask_client, story):
    node = RestNode(story.chain)
    try:
        f = runes.follow(node.url, "regtest", alerts=RULES, depth=3)
        seen = _the_story(f, story, node.publish)
        assert any(p.startswith("/rest/spenttxouts/") for p in node.requests)
        assert len(f.source.held()) <= 4  # and the block below them (REST)
        from mesh_magics.chain.blocklist import from_blocks

        final = [story.chain.block(h).raw for h in range(story.chain.tip.height + 1)]
        _same_as_one_index(f, seen, from_blocks(final, "regtest"))
    finally:
        node.close()


def test_following_from_a_ledger_state_indexed_before(dask_client, story):
    import mesh_magics.chain as chain

    story.commit()
    story.reveal()
    first = runes.index_chain(chain.read(story.chain.datadir, "regtest", index=False), "regtest")
    with pytest.raises(
        LedgerError, match=r"the state ends before block 112: follow from there, not from start=3"
    ):
        runes.follow(story.chain.datadir, "regtest", state=first, start=3)
    f = runes.follow(story.chain.datadir, "regtest", state=first, alerts=RULES, depth=3)
    assert f.poll() is None  # the state ends at the tip
    story.mints()
    rune_tx, btc_tx = story.whales()
    b = f.poll()
    assert [h for h, _ in b.added] == [story.whale_height - 1, story.whale_height]
    assert b.alerts["txid"].tolist() == [rune_tx.txid, btc_tx.txid]
    full = runes.index_chain(chain.read(story.chain.datadir, "regtest", index=False), "regtest")
    pd.testing.assert_frame_equal(f.result.runes, full.runes)
    assert _rows(f.result.balances.compute()) == _rows(full.balances.compute())


def test_a_failing_node_is_polled_again(dask_client, story):
    node = RestNode(story.chain)
    try:
        f = runes.follow(node.url, "regtest", alerts=RULES, depth=3, max_failures=1)
        assert f.poll().added[-1][0] == 105
        node.failing = True  # the node restarts
        story.chain.mine()
        node.publish()
        assert f.poll() is None and "HTTP 503" in f.warning
        node.failing = False
        assert f.poll().added == [(106, story.chain.tip.hash_hex)] and f.warning == ""
        node.failing = True
        assert f.poll() is None
        with pytest.raises(ChainError, match=rf"following {node.url}: .*HTTP 503"):
            f.poll()  # max_failures=1 failure in a row is retried, not two
    finally:
        node.close()


def _settled(client, within: float = 5.0) -> int:
    """How many futures the client holds, once releases in flight are done (a loaded machine lags)."""
    n, deadline = len(client.futures), time.monotonic() + within
    while time.monotonic() < deadline:
        time.sleep(0.1)
        n, before = len(client.futures), n
        if n == before:
            break
    return n


def test_a_long_follow_holds_only_what_the_last_blocks_need(dask_client, story):
    f = runes.follow(story.chain.datadir, "regtest", alerts=RULES, depth=2)
    f.poll()
    story.commit()
    story.reveal()
    story.mints()
    f.poll()
    held = []
    for _ in range(8):  # then one block per poll
        story.chain.mine()
        f.poll()
        gc.collect()  # (the previous batch's tables, released)
        held.append(
            (len(f.window.checkpoints), len(f.window.rows), len(f.source.held()), _settled(dask_client))
        )
    assert all(c <= 3 and r <= 2 and s <= 2 for c, r, s, _ in held), held
    assert len({x[3] for x in held}) == 1, held  # the futures held on the cluster do not grow with the chain


def test_background_follow_stops_and_ctrl_c_ends_a_blocking_one(dask_client, story):
    got = []
    f = runes.follow(
        story.chain.datadir, "regtest", alerts=RULES, depth=3, interval=0.05, on_batch=got.append
    )
    f.start()
    assert f.wait_for(lambda f: f.height == 105)
    story.commit()
    story.reveal()
    assert f.wait_for(lambda f: f.height == story.chain.tip.height)
    f.stop()
    assert f.status == "stopped" and f.error is None and not f._thread.is_alive()
    assert any(len(b.events) for b in got)
    # Ctrl-C while a blocking follow waits or indexes: it ends cleanly, at a whole batch
    story.mints()
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        f.run()  # returns when interrupted
    finally:
        timer.cancel()
    assert f.status == "stopped"
    while f.poll() is not None:  # and it picks up where it was
        pass
    assert f.height == story.chain.tip.height and len(f.result.runes) == 1


def test_an_unreachable_source_and_another_network(dask_client, story, tmp_path):
    with pytest.raises(ChainError, match=r"cannot reach the node's REST interface at http://127\.0\.0\.1:9"):
        runes.follow("http://127.0.0.1:9", "regtest", timeout=2)
    with pytest.raises(ChainError, match="are regtest's, not mainnet's: pass network='regtest'"):
        runes.follow(story.chain.datadir, "mainnet")
    with pytest.raises(ChainError, match="no blk"):
        runes.follow(tmp_path / "nothing", "regtest")
    node = RestNode(story.chain)
    try:
        with pytest.raises(ChainError, match=r"is on regtest, not testnet4: pass network='regtest'"):
            runes.follow(node.url, "testnet4")
    finally:
        node.close()
    with pytest.raises(LedgerError, match=r"min_share must be a share of supply in \(0, 1\]"):
        runes.follow(story.chain.datadir, "regtest", alerts={"min_share": 5})
    with pytest.raises(LedgerError, match="unknown rule"):
        runes.follow(story.chain.datadir, "regtest", alerts={"min_shares": 0.1})


def test_an_error_names_the_source_and_the_block(dask_client, story):
    """Over REST the commit's height is unknown when the follow starts after it (the ledger says so)."""
    node = RestNode(story.chain)
    try:
        story.commit()
        story.reveal()
        node.publish()
        reveal = story.chain.tip.height
        f = runes.follow(node.url, "regtest", start=reveal - 1, depth=2)
        with pytest.raises(
            LedgerError, match=rf"following {node.url}: block {reveal}: .*block {reveal}, transaction 1"
        ):
            f.poll()
    finally:
        node.close()

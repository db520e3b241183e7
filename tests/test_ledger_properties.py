"""Properties of the ledger's tables on random chains (mesh_magics.runes.ledger.synthchain):
whatever the chain, an address's balance from ``transfers`` (received − sent) is what its
outpoints in ``balances`` hold, units created minus burned are what all outputs hold, and the
events agree with the rune entries."""

from __future__ import annotations

from collections import Counter, defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from mesh_magics.runes import index_blocks
from mesh_magics.runes.ledger.synthchain import random_chain
from mesh_magics.runes.whale import top_holders

SETTINGS = settings(max_examples=12, deadline=None, derandomize=True)


def _chain(seed: int):
    return index_blocks(random_chain(seed, n_blocks=25, txs_per_block=15), "regtest")


def _transfer_balances(result) -> dict:
    out: dict = defaultdict(int)
    for rune, sender, receiver, amount in zip(result.transfers.rune_id, result.transfers.sender,
                                              result.transfers.receiver, result.transfers.amount):  # fmt: skip
        if isinstance(receiver, str):
            out[(rune, receiver)] += int(amount)
        if isinstance(sender, str):
            out[(rune, sender)] -= int(amount)
    return {k: v for k, v in out.items() if v}


@given(st.integers(0, 2**32))
@SETTINGS
def test_received_minus_sent_is_what_the_outpoints_hold(seed):
    result = _chain(seed)
    held: dict = defaultdict(int)
    for rune, address, amount in zip(
        result.balances.rune_id, result.balances.address, result.balances.amount
    ):
        if isinstance(address, str):
            held[(rune, address)] += int(amount)
    assert _transfer_balances(result) == dict(held)
    assert all(v > 0 for v in held.values())


@given(st.integers(0, 2**32))
@SETTINGS
def test_units_created_minus_burned_are_what_the_outputs_hold(seed):
    result = _chain(seed)
    held: Counter = Counter()
    for rune, amount in zip(result.balances.rune_id, result.balances.amount):
        held[rune] += int(amount)
    for row in result.runes.astype(object).to_dict("records"):
        created = int(row["premine"]) + int(row["mints"]) * int(row["terms_amount"] or 0)
        assert created == int(row["supply"])
        assert created - int(row["burned"]) == held[row["rune_id"]], row["rune_id"]
    assert set(held) <= set(result.runes.rune_id)


@given(st.integers(0, 2**32))
@SETTINGS
def test_events_agree_with_the_entries(seed):
    result = _chain(seed)
    ev = result.events
    for row in result.runes.astype(object).to_dict("records"):
        mine = ev[ev.rune_id == row["rune_id"]]
        assert (mine.event == "minted").sum() == int(row["mints"])
        assert sum(int(a) for a in mine[mine.event == "burned"].amount) == int(row["burned"])
        assert (mine.event == "etched").sum() == 1


def test_the_generator_exercises_every_kind_of_event():
    result = index_blocks(random_chain(7, n_blocks=60, txs_per_block=30), "regtest")
    assert set(result.events.event) == {"etched", "minted", "transferred", "burned"}
    assert set(result.transfers.operation) == {"etching", "mint", "send", "burn"}
    assert len(result.runes) >= 20 and result.transfers.sender.isna().any()
    assert result.balances.address.isna().any()  # outputs without an address hold runes too


def test_the_whale_queries_run_on_the_transfers():
    result = _chain(3)
    held: dict = defaultdict(int)
    for rune, address, amount in zip(
        result.balances.rune_id, result.balances.address, result.balances.amount
    ):
        if isinstance(address, str):
            held[(rune, address)] += int(amount)
    top = top_holders(result.transfers, n=1000)
    assert {(r, a): int(b) for r, a, b in zip(top.rune_id, top.address, top.balance)} == dict(held)

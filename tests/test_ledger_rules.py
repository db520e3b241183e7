"""ord's ledger rules where ord's own tests are thin: each case builds a small chain in ord's
test-harness shapes (mesh_magics.runes.ledger.testchain) and checks what the reference ledger
(index_blocks) makes of it, against values worked out by hand from ord's rune_updater."""

from __future__ import annotations

import pandas as pd
import pytest

from mesh_magics.errors import LedgerError
from mesh_magics.runes import index_blocks
from mesh_magics.runes.ledger.rules import commitment
from mesh_magics.runes.ledger.testchain import (
    ChainBuilder,
    commit_witness,
    control_block,
    encipher,
    etching,
    p2tr,
    p2wpkh,
    runestone,
)
from mesh_magics.runes.protocol import RESERVED_RUNE, decipher, minimum_rune_at_height, rune_name, rune_number
from mesh_magics.runes.protocol.runestone import Terms

MAX = 2**128 - 1
NAME = "AAAAAAAAAAAAA"  # the first 13-letter name, open at every regtest height used here
OP_RETURN = b"\x6a"


def terms(amount=None, cap=None, height=(None, None), offset=(None, None)):
    return Terms(amount, cap, height, offset)


def sid(rid: tuple[int, int]) -> str:
    return f"{rid[0]}:{rid[1]}"


def run(b: ChainBuilder, network: str = "regtest"):
    return index_blocks(b.blocks, network)


def balances(result) -> dict:
    out: dict = {}
    for t, v, r, a in zip(result.balances.txid, result.balances.vout, result.balances.rune_id,
                          result.balances.amount):  # fmt: skip
        out.setdefault((t, int(v)), {})[r] = int(a)
    return out


def rune(result, rune_id: str) -> dict:
    rows = result.runes[result.runes.rune_id == rune_id].astype(object).to_dict("records")
    assert rows, f"no rune {rune_id}"
    return rows[0]


def etched(b: ChainBuilder, name=NAME, premine=None, t=None, outputs=1, **kw):
    """Etch ``name`` with everything to output 0 (by the default output rule)."""
    return b.etch(runestone(etching=etching(name, premine, t, **kw)), outputs)


# -- artifacts ----------------------------------------------------------------------------
def test_only_the_first_runestone_output_counts():
    b = ChainBuilder()
    rid, txid = etched(b, premine=100)
    b.block()
    # output 0: a cenotaph (an unknown even tag); output 1: a valid transfer, never looked at
    spend = b.tx([(txid, 0)], [p2wpkh("a"), encipher([0, rid[0], rid[1], 100, 0]), p2wpkh("b")],
                 runestone=[126, 0], op_return_index=1)  # fmt: skip
    r = run(b)
    assert balances(r) == {}
    assert rune(r, sid(rid))["burned"] == 100
    assert spend in set(r.transfers.txid)
    # and the other way round: a valid first runestone, then a cenotaph nobody reads
    b2 = ChainBuilder()
    rid2, txid2 = etched(b2, premine=100)
    b2.block()
    spend = b2.tx([(txid2, 0)], [p2wpkh("a"), encipher([126, 0]), p2wpkh("b")],
                  runestone=runestone([(rid2, 30, 3)]), op_return_index=1)  # fmt: skip
    assert balances(run(b2)) == {(spend, 3): {sid(rid2): 30}, (spend, 0): {sid(rid2): 70}}


def test_a_runestone_cannot_mint_the_rune_it_etches_but_the_next_tx_can():
    b = ChainBuilder()
    b.block()
    height = b.height + 6  # where etch() puts the reveal: tx 1 of that block
    own_id = (height, 1)
    t = terms(amount=5, cap=10)
    rid, txid = b.etch(runestone(etching=etching(NAME, 7, t), mint=own_id))
    assert rid == own_id
    minter = b.tx([(txid, 0)], 1, runestone(mint=rid))  # the same block, after it
    r = run(b)
    entry = rune(r, sid(rid))
    assert entry["mints"] == 1 and entry["premine"] == 7 and entry["supply"] == 12
    assert balances(r) == {(minter, 0): {sid(rid): 12}}  # the minter also spent the premine output


# -- cenotaphs ----------------------------------------------------------------------------
def _flaw_cases(mint: tuple[int, int]) -> list[tuple[str, bytes | list[int], bool]]:
    """(flaw, runestone script or integers, whether the mint survives into the cenotaph)."""
    m = [20, mint[0], 20, mint[1]]
    return [
        ("EdictOutput", m + [0, 1, 1, 5, 99], True),
        ("EdictRuneId", m + [0, 0, 1, 5, 0], True),
        ("InvalidScript", b"\x6a\x5d\x05\x00", False),
        ("Opcode", b"\x6a\x5d\x51", False),
        ("SupplyOverflow", m + [2, 3, 6, MAX, 8, 1, 10, 1], True),
        ("TrailingIntegers", m + [0, 1, 1, 5], True),
        ("TruncatedField", m + [22], True),
        ("UnrecognizedEvenTag", m + [126, 0], True),
        ("UnrecognizedFlag", m + [2, 8], True),
        ("Varint", b"\x6a\x5d\x01\x80", False),
    ]


@pytest.mark.parametrize("case", range(10), ids=[c[0] for c in _flaw_cases((0, 0))])
def test_every_cenotaph_flaw_burns_inputs_and_mint(case):
    b = ChainBuilder()
    held, txid = etched(b, premine=1000)
    minted, _ = etched(b, "AAAAAAAAAAAAB", t=terms(amount=50, cap=2))
    flaw, payload, mint_counts = _flaw_cases(minted)[case]
    script = payload if isinstance(payload, bytes) else encipher(payload)
    assert decipher([p2wpkh("x"), script]).flaw == flaw  # the shape really is that flaw
    b.block()
    b.tx([(txid, 0)], [p2wpkh("x")], runestone=script)
    b.block()
    later = b.tx([b.block()], 1, runestone(mint=minted))  # one mint left if the cenotaph took one
    r = run(b)
    assert rune(r, sid(held))["burned"] == 1000
    entry = rune(r, sid(minted))
    assert entry["mints"] == (2 if mint_counts else 1)
    assert entry["burned"] == (50 if mint_counts else 0)
    assert balances(r) == {(later, 0): {sid(minted): 50}}
    kinds = r.events[r.events.txid != later].groupby("event").size().to_dict()
    assert kinds.get("burned") == (2 if mint_counts else 1)


def test_a_cenotaph_etching_creates_an_unmintable_rune_with_no_supply():
    b = ChainBuilder()
    name = rune_number(NAME)
    # Etching | Terms flags, a name, premine, terms, then an unknown even tag
    payload = [2, 3, 4, name, 6, 1000, 8, 10, 10, 5, 1, 2, 3, 1, 5, 36, 126, 0]
    rid, txid = b.etch(payload, commit=commitment(name))
    b.block()
    b.tx([b.block()], 1, runestone(mint=rid))
    r = run(b)
    entry = rune(r, sid(rid))
    assert (entry["premine"], entry["mints"], entry["divisibility"], entry["symbol"]) == (0, 0, 0, None)
    assert entry["terms_cap"] is None and entry["turbo"] is False and entry["name"] == NAME
    assert balances(r) == {}


# -- amounts ------------------------------------------------------------------------------
def test_u128_max_balances_stay_exact_through_splits_and_merges():
    b = ChainBuilder()
    rid, txid = etched(b, premine=MAX)
    b.block()
    split = b.tx([(txid, 0)], 2, runestone([(rid, 0, 3)]))  # 2**127 and 2**127 - 1
    b.block()
    merged = b.tx([(split, 1), (split, 0)], 1)
    r = run(b)
    assert balances(r) == {(merged, 0): {sid(rid): MAX}}
    assert r.balances["amount"].dtype == object and r.balances.attrs["amount_repr"] == "exact"
    sends = r.transfers[r.transfers.operation == "send"]["amount"].tolist()
    assert sorted(sends[:2]) == [2**127 - 1, 2**127] and sum(sends[-2:]) == MAX


def test_an_overflowing_balance_is_an_error_naming_block_and_transaction():
    from mesh_magics.chain.blocklist import from_blocks
    from mesh_magics.runes.ledger.reference import Ledger, Outpoint, run_reference

    b = ChainBuilder()
    rid, txid = etched(b, premine=MAX)
    coinbase = b.block()
    ledger = run_reference(from_blocks(b.blocks, "regtest"), "regtest")
    # a corrupt state: a second outpoint claiming MAX units of the same rune
    ledger.outpoints[coinbase] = Outpoint(b.height, 0, None, {rid: MAX})
    b.block()
    spend = b.tx([(txid, 0), coinbase], 1)
    frames = from_blocks(b.blocks, "regtest")
    tail = type(frames)(*(getattr(frames, t)[getattr(frames, t)["height"] == b.height]
                          for t in ("blocks", "txs", "outputs", "inputs")), "regtest")  # fmt: skip
    with pytest.raises(LedgerError, match=rf"block {b.height}, transaction 1 \({spend}\).*overflows u128"):
        run_reference(tail, "regtest", ledger=ledger)
    assert isinstance(ledger, Ledger)


# -- edicts -------------------------------------------------------------------------------
def test_edicts_to_op_return_outputs_burn_and_the_rest_moves_on():
    b = ChainBuilder()
    rid, txid = etched(b, premine=100)
    b.block()
    # outputs: 0 OP_RETURN (not a runestone), 1 payment, 2 runestone
    spend = b.tx([(txid, 0)], [OP_RETURN + b"\x01\x00", p2wpkh("a")], runestone([(rid, 30, 0)]))
    r = run(b)
    assert rune(r, sid(rid))["burned"] == 30
    assert balances(r) == {(spend, 1): {sid(rid): 70}}  # leftovers: the first non-OP_RETURN output
    burns = r.transfers[r.transfers.operation == "burn"]
    assert burns["amount"].tolist() == [30] and burns["receiver"].isna().all()


@pytest.mark.parametrize(
    ("amount", "expected"),
    [(0, {0: 4, 2: 3, 3: 3}), (4, {0: 4, 2: 4, 3: 2}), (2, {0: 6, 2: 2, 3: 2})],
    ids=["even-split-with-remainder", "amount-runs-out", "amount-each-then-leftover-to-first"],
)
def test_split_over_non_op_return_outputs(amount, expected):
    b = ChainBuilder()
    rid, txid = etched(b, premine=10)
    b.block()
    # outputs: 0 pay, 1 OP_RETURN (skipped by the split), 2 pay, 3 pay, 4 runestone; n = 5
    scripts = [p2wpkh(0), OP_RETURN, p2wpkh(2), p2wpkh(3)]
    spend = b.tx([(txid, 0)], scripts, runestone([(rid, amount, 5)]))
    got = {v: a[sid(rid)] for (t, v), a in balances(run(b)).items() if t == spend}
    assert got == expected  # with amount 2: 2 each, and the 4 left to the first non-OP_RETURN output


def test_a_split_with_no_non_op_return_output_does_nothing_and_leftovers_burn():
    b = ChainBuilder()
    rid, txid = etched(b, premine=10)
    b.block()
    b.tx([(txid, 0)], [OP_RETURN], runestone([(rid, 0, 2)]))
    r = run(b)
    assert balances(r) == {} and rune(r, sid(rid))["burned"] == 10


# -- pointer ------------------------------------------------------------------------------
def test_pointer_to_an_invalid_output_is_a_cenotaph_and_to_op_return_burns():
    b = ChainBuilder()
    rid, txid = etched(b, premine=10, outputs=2)
    b.block()
    b.tx([(txid, 0)], 2, runestone(pointer=3))  # 3 outputs: 3 is out of range
    r = run(b)
    assert rune(r, sid(rid))["burned"] == 10
    b2 = ChainBuilder()
    rid, txid = etched(b2, premine=10)
    b2.block()
    b2.tx([(txid, 0)], [p2wpkh(1), OP_RETURN], runestone(pointer=1))
    assert rune(run(b2), sid(rid))["burned"] == 10


# -- mint terms ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("t", "open_heights"),
    [
        (terms(1, 100, height=(12, 14)), {12, 13}),  # end exclusive
        (terms(1, 100, offset=(2, 4)), {9, 10}),  # etched at 7: [9, 11)
        (terms(1, 100, height=(10, None), offset=(1, 6)), {10, 11, 12}),  # max(8, 10) .. 13
        (terms(1, 100, height=(None, 11), offset=(3, None)), {10}),  # 10 .. min(11, -)
        (terms(1, None), set()),  # no cap: never mintable
    ],
    ids=["height", "offset", "both-start", "both-end", "no-cap"],
)
def test_mints_outside_the_height_and_offset_windows_do_not_count(t, open_heights):
    b = ChainBuilder()
    b.block()
    b.block()
    rid, _ = etched(b, t=t)
    assert rid == (7, 1)
    minters = {}
    for _ in range(8):  # blocks 8..15
        coinbase = b.block()
        minters[b.height] = b.tx([coinbase], 1, runestone(mint=rid))
    r = run(b)
    got = {h for h, txid in minters.items() if (txid, 0) in balances(r)}
    assert got == open_heights and rune(r, "7:1")["mints"] == len(open_heights)


def test_the_cap_is_counted_in_block_order_within_one_block():
    b = ChainBuilder()
    rid, _ = etched(b, t=terms(amount=10, cap=3))
    funding = b.tx([b.block()], 5)
    minters = [b.tx([(funding, k)], 1, runestone(mint=rid)) for k in range(5)]
    r = run(b)
    assert [(m, 0) in balances(r) for m in minters] == [True, True, True, False, False]
    assert rune(r, sid(rid))["mints"] == 3 and rune(r, sid(rid))["supply"] == 30


def test_turbo_divisibility_spacers_and_symbol_are_recorded():
    b = ChainBuilder()
    rid, _ = b.etch(runestone(etching=etching("ABCDEFGHIJKLMN", 5, divisibility=2, spacers=0b101,
                                              symbol="\U0001f415", turbo=True)))  # fmt: skip
    entry = rune(run(b), sid(rid))
    assert entry["turbo"] is True and entry["divisibility"] == 2 and entry["symbol"] == "\U0001f415"
    assert entry["name"] == "A•BC•DEFGHIJKLMN" and entry["rune"] == "ABCDEFGHIJKLMN"


# -- names --------------------------------------------------------------------------------
def test_the_first_etching_of_a_name_wins_even_in_one_block():
    b = ChainBuilder()
    commits = [b.tx([b.block()], [p2tr(("commit", k))]) for k in range(3)]
    for _ in range(5):
        b.block()
    witness = commit_witness(commitment(rune_number(NAME)))
    reveals = [
        b.tx([(c, 0, witness)], 1, runestone(etching=etching(NAME, k + 1))) for k, c in enumerate(commits)
    ]
    r = run(b)
    assert r.runes["rune_id"].tolist() == [f"{b.height}:1"]
    assert balances(r) == {(reveals[0], 0): {f"{b.height}:1": 1}}
    assert r.runes["number"].tolist() == [0]


def test_unnamed_etchings_get_reserved_names_and_explicit_reserved_names_fail():
    b = ChainBuilder()
    rid, txid = b.etch(runestone(etching=etching(None, 9)))
    b.etch(runestone(etching=etching(rune_name(RESERVED_RUNE), 9)))
    r = run(b)
    assert r.runes["rune"].tolist() == [rune_name(RESERVED_RUNE + ((rid[0] << 32) | rid[1]))]
    assert r.runes["number"].tolist() == [0]


@pytest.mark.parametrize("kind", ["not-p2tr", "wrong-push", "five-confirmations", "envelope", "annex"])
def test_the_commitment_check(kind):
    b = ChainBuilder()
    name = rune_number(NAME)
    stone = runestone(etching=etching(NAME, 1))
    if kind == "not-p2tr":
        b.etch(stone, commit_script=p2wpkh("commit"))
    elif kind == "wrong-push":
        b.etch(stone, commit=commitment(name + 1))
    elif kind == "five-confirmations":
        b.etch(stone, confirmations=5)
    elif kind == "envelope":  # an inscription envelope with the commitment as a tag's value
        c = commitment(name)
        envelope = b"\x00\x63\x03ord\x01\x01\x0atext/plain\x01\x0d" + bytes((len(c),)) + c
        envelope += b"\x00\x05hello\x68"
        b.etch(stone, witness=[envelope, control_block()])
    else:  # the tapscript, a control block, then an annex (0x50...): the tapscript is third from last
        b.etch(stone, witness=[*commit_witness(commitment(name)), b"\x50annex"])
    r = run(b)
    assert len(r.runes) == (1 if kind in ("envelope", "annex") else 0)


def test_the_minimum_name_schedule_boundary_on_mainnet():
    for height in (840_000, 857_499, 857_500):
        minimum = minimum_rune_at_height(height)
        b = ChainBuilder(start_height=height - 5)
        low, _ = b.etch(runestone(etching=etching(rune_name(minimum - 1), 1)), confirmations=6)
        assert low[0] == height
        b2 = ChainBuilder(start_height=height - 5)
        ok, _ = b2.etch(runestone(etching=etching(rune_name(minimum), 1)), confirmations=6)
        assert len(run(b, "mainnet").runes) == 1  # only UNCOMMON•GOODS
        r = run(b2, "mainnet")
        assert r.runes["rune"].tolist() == ["UNCOMMONGOODS", rune_name(minimum)]
        assert r.runes["number"].tolist() == [0, 1]


def test_mainnet_genesis_rune_is_mintable_from_840000_only():
    b = ChainBuilder(start_height=839_999)
    early = b.tx([b.block()], 1, runestone(mint=(1, 0)))
    late = b.tx([b.block()], 1, runestone(mint=(1, 0)))
    r = run(b, "mainnet")
    entry = rune(r, "1:0")
    assert entry["name"] == "UNCOMMON•GOODS" and entry["number"] == 0 and entry["symbol"] == "\u29c9"
    assert entry["mints"] == 1 and entry["terms_cap"] == MAX and entry["turbo"] is True
    assert balances(r) == {(late, 0): {"1:0": 1}} and (early, 0) not in balances(r)
    assert index_blocks([], "mainnet").runes["rune_id"].tolist() == ["1:0"]
    assert index_blocks([], "regtest").runes.empty


# -- plain spends, bad input ---------------------------------------------------------------
def test_plain_spends_carry_runes_to_the_first_non_op_return_output():
    b = ChainBuilder()
    rid, txid = etched(b, premine=5)
    b.block()
    spend = b.tx([(txid, 0)], [OP_RETURN + b"\x00", p2wpkh("x"), p2wpkh("y")])
    b.block()
    b.tx([(spend, 1)], [OP_RETURN])
    r = run(b)
    assert balances(r) == {} and rune(r, sid(rid))["burned"] == 5


def test_bad_input_names_block_and_transaction():
    b = ChainBuilder()
    b.block()
    b.tx([b.block()], 1)
    bad = [dict(blk) for blk in b.blocks]
    bad[1] = {**bad[1], "txs": [*bad[1]["txs"], "02000000ff"]}
    with pytest.raises(LedgerError, match=r"block 1, transaction 2"):
        index_blocks(bad, "regtest")
    with pytest.raises(LedgerError, match=r"height"):
        index_blocks([b.blocks[1], b.blocks[0]], "regtest")
    # an etching whose committing input spends an output the blocks do not hold
    b2 = ChainBuilder()
    b2.etch(runestone(etching=etching(NAME, 1)))
    with pytest.raises(LedgerError, match=r"block 5, transaction 1 .*input 0.*commitment"):
        index_blocks(b2.blocks[1:], "regtest")


def test_raw_blocks_give_the_same_ledger_as_block_lists():
    from mesh_magics.runes.ledger.synthchain import random_chain
    from mesh_magics.runes.ledger.testchain import raw_blocks

    blocks = random_chain(5, n_blocks=15, txs_per_block=10)
    a, b = index_blocks(blocks, "regtest"), index_blocks(raw_blocks(blocks), "regtest")
    for name in ("runes", "balances", "transfers", "events"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    hexed = index_blocks(
        [{"height": h, "block": raw.hex()} for h, raw in enumerate(raw_blocks(blocks))], "regtest"
    )
    pd.testing.assert_frame_equal(hexed.transfers, a.transfers)

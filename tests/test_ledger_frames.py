"""The ledger's frame builders sort what they are given: rows in ledger order skip the sort
(the ledgers emit them so), rows out of order come out as a stable sort would put them."""

from __future__ import annotations

import random

import pandas as pd

from mesh_magics.runes.ledger.tables import events_frame, transfers_frame

TIMES = {h: 1_700_000_000 + 600 * h for h in range(5)}


def _transfer_rows(rng: random.Random) -> list[tuple]:
    ops = ("send", "mint", "burn")
    return [
        (rng.randrange(3), rng.randrange(3), f"{rng.randrange(4):064x}", rng.randrange(2) + 1, rng.randrange(2),
         rng.choice(ops), f"a{rng.randrange(3)}", f"b{rng.randrange(3)}", rng.choice((1, 7, 2**70)))
        for _ in range(rng.randrange(1, 40))
    ]  # fmt: skip


def _event_rows(rng: random.Random) -> list[tuple]:
    kinds = ("minted", "etched", "transferred", "burned")
    return [
        (rng.randrange(3), rng.randrange(3), f"{rng.randrange(4):064x}", rng.choice(kinds), rng.randrange(2) + 1,
         rng.randrange(2), rng.choice((1, 2**64)), rng.choice((None, 0, 1)), rng.choice((None, "a", "b")))
        for _ in range(rng.randrange(1, 40))
    ]  # fmt: skip


def test_transfers_come_out_stably_sorted_whatever_order_they_came_in():
    rng = random.Random(3)
    for _ in range(200):
        rows = _transfer_rows(rng)
        want = sorted(rows, key=lambda r: (r[0], r[1], r[3], r[4]))  # stable: ties keep their order
        got = transfers_frame(rows, TIMES)
        assert got["txid"].tolist() == [r[2] for r in want]
        assert got["sender"].tolist() == [r[6] for r in want]
        assert got["amount"].tolist() == [r[8] for r in want]
        pd.testing.assert_frame_equal(got, transfers_frame(want, TIMES))


def test_events_come_out_stably_sorted_whatever_order_they_came_in():
    order = {"minted": 0, "etched": 1, "transferred": 2, "burned": 3}
    rng = random.Random(4)
    for _ in range(200):
        rows = _event_rows(rng)
        want = sorted(rows, key=lambda r: (r[0], r[1], order[r[3]], -1 if r[7] is None else r[7], r[4], r[5]))
        got = events_frame(rows, TIMES)
        assert got["event"].tolist() == [r[3] for r in want]
        assert [None if pd.isna(a) else a for a in got["address"]] == [r[8] for r in want]
        assert got["amount"].tolist() == [r[6] for r in want]
        pd.testing.assert_frame_equal(got, events_frame(want, TIMES))

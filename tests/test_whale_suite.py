"""The six whale-suite queries against an independent, row-by-row Python reference."""

from __future__ import annotations

from collections import defaultdict
from fractions import Fraction

import dask
import dask.dataframe as dd
import pandas as pd
import pytest

from mesh_magics.errors import RunesError, SchemaError
from mesh_magics.runes import (
    concentration,
    daily_activity,
    synthetic,
    top_holders,
    whale_flows,
    whale_netflow,
    whale_transfers,
)
from mesh_magics.runes.tables import coerce_runes, coerce_transfers

T0 = pd.Timestamp("2024-04-20 00:00", tz="UTC")
COLS = ["block_height", "block_time", "txid", "rune_id", "operation", "sender", "receiver", "amount"]


# --------------------------------------------------------------------------- the reference


def _rows(df: pd.DataFrame) -> list[tuple]:
    """(time, rune, op, sender, receiver, amount) with None for nulls, Python ints."""
    out = []
    for t, r, op, s, rc, a in zip(df.block_time, df.rune_id, df.operation, df.sender, df.receiver, df.amount):
        out.append((t, r, op, None if pd.isna(s) else s, None if pd.isna(rc) else rc, int(a)))
    return out


def ref_balances(rows):
    bal = defaultdict(int)
    for _, rune, _, s, rc, a in rows:
        if rc is not None:
            bal[rune, rc] += a
        if s is not None:
            bal[rune, s] -= a
    per = defaultdict(list)
    for (rune, addr), b in bal.items():
        if b > 0:
            per[rune].append((addr, b))
    return {r: sorted(v, key=lambda x: (-x[1], x[0])) for r, v in per.items()}


def ref_top_holders(rows, n):
    return [
        (r, a, b, i + 1) for r, hs in sorted(ref_balances(rows).items()) for i, (a, b) in enumerate(hs[:n])
    ]


def ref_concentration(rows, top):
    out = []
    for rune, hs in sorted(ref_balances(rows).items()):
        bs = [b for _, b in hs]
        total, n = sum(bs), len(bs)
        asc = sorted(bs)
        gini = Fraction(2 * sum((i + 1) * b for i, b in enumerate(asc)), n * total) - Fraction(n + 1, n)
        hhi = sum(Fraction(b, total) ** 2 for b in bs)
        run, naka = 0, 0
        for b in bs:
            run += b
            naka += 1
            if 2 * run > total:
                break
        out.append((rune, n, total, float(Fraction(sum(bs[:top]), total)), float(hhi), float(gini), naka))
    return out


def ref_whale_rows(rows, supply, min_share):
    return [
        r for r in rows if r[2] == "send" and r[1] in supply and r[5] >= Fraction(min_share) * supply[r[1]]
    ]


def ref_whale_transfers(rows, supply, min_share):
    agg = defaultdict(lambda: [0, 0])
    for _, rune, _, _, _, a in ref_whale_rows(rows, supply, min_share):
        agg[rune][0] += 1
        agg[rune][1] += a
    return sorted(((r, n, v) for r, (n, v) in agg.items()), key=lambda x: (-x[2], x[0]))


def ref_whale_flows(rows, supply, min_share, top):
    agg = defaultdict(lambda: [0, 0])
    for _, rune, _, s, rc, a in ref_whale_rows(rows, supply, min_share):
        agg[rune, s, rc][0] += a
        agg[rune, s, rc][1] += 1
    res = sorted(((*k, a, n) for k, (a, n) in agg.items()), key=lambda x: (-x[3], x[0], x[1], x[2]))
    return res[:top]


def _floor(t: pd.Timestamp, step: pd.Timedelta) -> pd.Timestamp:
    epoch = pd.Timestamp(0, tz="UTC")
    return t - (t - epoch) % step


def ref_whale_netflow(rows, freq, top):
    whales = {(r, a) for r, a, _, _ in ref_top_holders(rows, top)}
    agg = defaultdict(lambda: [0, 0])
    step = pd.Timedelta(freq)
    for t, rune, _, s, rc, a in rows:
        for addr, sign in ((rc, 1), (s, -1)):
            if addr is not None and (rune, addr) in whales:
                key = (rune, _floor(t, step))
                agg[key][0] += sign * a
                agg[key][1] += 1
    return sorted((r, b, f, m) for (r, b), (f, m) in agg.items())


def ref_daily_activity(rows):
    agg = defaultdict(lambda: [0, 0, set()])
    for t, rune, _, s, _, a in rows:
        g = agg[rune, _floor(t, pd.Timedelta("1D"))]
        g[0] += 1
        g[1] += a
        if s is not None:
            g[2].add(s)
    return sorted((r, d, n, v, len(ss)) for (r, d), (n, v, ss) in agg.items())


def _tuples(df: pd.DataFrame) -> list[tuple]:
    assert isinstance(df, pd.DataFrame)
    assert df.index.equals(pd.RangeIndex(len(df)))
    return [tuple(int(v) if isinstance(v, int) else v for v in row) for row in df.itertuples(index=False)]


def _same(got: list[tuple], want: list[tuple]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert len(g) == len(w)
        for x, y in zip(g, w):
            if isinstance(y, float):
                assert x == pytest.approx(y, rel=1e-9, abs=1e-12)
            else:
                assert x == y, (g, w)


def check_all(transfers, pdf: pd.DataFrame, supply: dict, runes, *, min_share=0.001, top=10, freq="1h"):
    rows = _rows(pdf)
    _same(_tuples(top_holders(transfers, n=3)), ref_top_holders(rows, 3))
    _same(_tuples(concentration(transfers, top=top)), ref_concentration(rows, top))
    _same(_tuples(whale_transfers(transfers, runes, min_share)), ref_whale_transfers(rows, supply, min_share))
    _same(
        _tuples(whale_flows(transfers, runes, min_share, top=7)), ref_whale_flows(rows, supply, min_share, 7)
    )
    _same(_tuples(whale_netflow(transfers, freq=freq, top=top)), ref_whale_netflow(rows, freq, top))
    _same(_tuples(daily_activity(transfers)), ref_daily_activity(rows))


# --------------------------------------------------------------------------- a hand-made ledger


def _ledger(rows: list[tuple]) -> pd.DataFrame:
    full = [
        (840_000 + i, T0 + pd.Timedelta(t), f"{i:064x}", r, op, s, rc, a)
        for i, (t, r, op, s, rc, a) in enumerate(rows)
    ]
    return coerce_transfers(pd.DataFrame(full, columns=COLS))


HAND = [
    ("0min", "840000:1", "etching", None, "A", 1000),
    ("10min", "840000:1", "mint", None, "B", 100),
    ("20min", "840000:1", "mint", None, "C", 100),
    ("65min", "840000:1", "send", "A", "B", 300),  # whale to whale
    ("90min", "840000:1", "send", "A", "D", 200),
    ("1D 30min", "840000:1", "burn", "D", None, 50),
    ("1D 60min", "840000:1", "send", "B", "C", 50),  # C and D tie at 150
]
HAND_RUNES = pd.DataFrame(
    {"rune_id": ["840000:1"], "name": ["A•B"], "divisibility": [0], "supply": [1200], "symbol": [None]}
)


def test_hand_example_known_answers():
    t = _ledger(HAND)
    runes = coerce_runes(HAND_RUNES)
    assert _tuples(top_holders(t, n=3)) == [
        ("840000:1", "A", 500, 1),
        ("840000:1", "B", 350, 2),
        ("840000:1", "C", 150, 3),
    ]
    (row,) = _tuples(concentration(t, top=2))
    assert row[:3] == ("840000:1", 4, 1150)
    assert row[3] == pytest.approx(850 / 1150, rel=1e-12)
    assert row[4] == pytest.approx((500**2 + 350**2 + 2 * 150**2) / 1150**2, rel=1e-12)
    assert row[5] == pytest.approx(2 * 3500 / (4 * 1150) - 5 / 4, rel=1e-12)
    assert row[6] == 2
    assert _tuples(whale_transfers(t, runes, min_share=0.1)) == [("840000:1", 2, 500)]
    assert _tuples(whale_flows(t, runes, min_share=0.1)) == [
        ("840000:1", "A", "B", 300, 1),
        ("840000:1", "A", "D", 200, 1),
    ]
    assert _tuples(whale_netflow(t, freq="1h", top=2)) == [
        ("840000:1", T0, 1100, 2),
        ("840000:1", T0 + pd.Timedelta("1h"), -200, 3),
        ("840000:1", T0 + pd.Timedelta("1D 1h"), -50, 1),
    ]
    assert _tuples(daily_activity(t)) == [
        ("840000:1", T0, 5, 1700, 1),
        ("840000:1", T0 + pd.Timedelta("1D"), 2, 100, 2),
    ]
    nf = whale_netflow(t)
    assert str(nf["bucket"].dtype) == "datetime64[ns, UTC]" and nf["netflow"].dtype == "int64"


BIG = 2**64 + 5
EXACT = HAND + [
    ("0min", "840001:7", "etching", None, "A", BIG),
    ("2h", "840001:7", "send", "A", "B", 2**63),  # ≥ 2**63: needs the exact representation
    ("3h", "840001:7", "send", "B", "A", 1),
    ("4h", "840001:7", "burn", "A", None, 4),
]


@pytest.mark.parametrize("nparts", [1, 3])
def test_exact_amounts_stay_exact(nparts):
    pdf = _ledger(EXACT)
    assert pdf.attrs["amount_repr"] == "exact"
    runes = coerce_runes(
        pd.concat(
            [
                HAND_RUNES,
                pd.DataFrame(
                    {
                        "rune_id": ["840001:7"],
                        "name": ["BIG"],
                        "divisibility": [0],
                        "supply": [BIG],
                        "symbol": ["$"],
                    }
                ),
            ]
        )
    )
    with dask.config.set({"dataframe.convert-string": False}):
        t = dd.from_pandas(pdf, npartitions=nparts)
    supply = {"840000:1": 1200, "840001:7": BIG}
    check_all(t, pdf, supply, runes, min_share=0.1, top=2)
    th = top_holders(t, n=2)
    assert th.attrs["amount_repr"] == "exact" and th["balance"].dtype == object
    assert th.loc[th.rune_id == "840001:7", "balance"].tolist() == [2**63 + 2, 2**63 - 1]
    # volume of day 1 for the big rune: BIG + 2**63 + 1 + 4, far beyond int64
    day = daily_activity(t)
    assert day.loc[day.rune_id == "840001:7", "volume"].tolist() == [BIG + 2**63 + 5]


def test_int64_sums_do_not_wrap():
    big = 2**62
    rows = [("0min", "840000:1", "etching", None, "A", big)]
    rows += [(f"{i + 1}min", "840000:1", "send", a, b, big) for i, (a, b) in enumerate(["AB", "BA"] * 3)]
    pdf = _ledger(rows)
    assert pdf["amount"].dtype == "int64"
    day = daily_activity(pdf)
    assert day["volume"].tolist() == [7 * big]  # > 2**63 - 1: reported exactly, not wrapped
    assert day.attrs["amount_repr"] == "exact"
    assert _tuples(top_holders(pdf)) == [("840000:1", "A", big, 1)]


def test_in_memory_input_returns_pandas():
    pdf = _ledger(HAND)
    out = concentration(pdf)
    assert type(out) is pd.DataFrame


def test_argument_and_schema_errors():
    pdf = _ledger(HAND)
    with pytest.raises(RunesError, match="positive int"):
        top_holders(pdf, n=0)
    with pytest.raises(RunesError, match="fixed frequency"):
        whale_netflow(pdf, freq="MS")
    with pytest.raises(SchemaError, match="missing column"):
        top_holders(pdf.drop(columns=["sender"]))
    with pytest.raises(SchemaError, match="amount"):
        top_holders(pdf.assign(amount=pdf["amount"].astype(float)))
    with pytest.raises(RunesError, match="min_share"):
        whale_transfers(pdf, HAND_RUNES, min_share=-1)


# --------------------------------------------------------------------------- synthetic, several partitionings


# sends to an output without an address (a non-standard script: the ledger's receiver is null)
NO_ADDRESS = HAND + [
    ("2h", "840000:1", "send", "A", None, 170),
    ("3h", "840000:1", "send", "B", None, 130),
]


# 0: the pandas frame itself; persisted: the kernels mapped on its futures, lazy: a task graph
@pytest.mark.parametrize(("nparts", "persist"), [(0, False), (1, True), (3, True), (3, False)])
def test_a_send_to_no_address_is_a_flow_of_its_own(dask_client, nparts, persist, monkeypatch):
    """Q5 groups by (rune, sender, receiver) as SQL does: a null receiver is a group, not
    dropped (it was, on the general engine only: Q1 counted the row, Q5 lost it). The same
    answer from the general engine's one-task sum, its three rounds and its shuffle (both
    forced) and the coded table."""
    from mesh_magics.runes import whale
    from mesh_magics.runes.whale import general

    pdf = _ledger(NO_ADDRESS)
    runes = coerce_runes(HAND_RUNES)
    t = pdf if nparts == 0 else dd.from_pandas(pdf, npartitions=nparts)
    t = t.persist() if persist else t
    want = ref_whale_flows(_rows(pdf), {"840000:1": 1200}, 0.1, 10)
    assert want == [
        ("840000:1", "A", "B", 300, 1),
        ("840000:1", "A", "D", 200, 1),
        ("840000:1", "A", None, 170, 1),
        ("840000:1", "B", None, 130, 1),
    ]
    assert _tuples(whale_transfers(t, runes, min_share=0.1)) == [("840000:1", 4, 800)]

    def flows():
        return [tuple(None if v is pd.NA else v for v in r) for r in _tuples(whale_flows(t, runes, 0.1))]

    whale.clear_cache()
    assert flows() == want  # general: one task sums them
    monkeypatch.setattr(general, "_FLOW_SUM_ROWS", 0)
    assert flows() == want  # general: the three rounds of flows.top_flows (pandas)
    monkeypatch.setattr(general, "_TOP_FLOWS_FAMILIES", ())
    monkeypatch.setattr(general, "_FLOW_TREE_ROWS", 1)
    assert flows() == want  # general: shuffled (what cuDF partitions take)
    if nparts:
        top_holders(t)  # builds the coded table; Q5 then reads it
        hits = whale.cache_info()["hits"]
        assert flows() == want
        assert whale.cache_info()["hits"] == hits + 1
    whale.clear_cache()


def test_a_persisted_input_runs_its_kernels_on_its_own_partitions(dask_client, ledger):
    """Q1 and Q5 map their kernels on a persisted input's futures (one task a partition); a
    collection with work on top of persisted data, or a lazy one, takes the task graph. The
    answers are the reference's either way."""
    from mesh_magics.runes.whale.frames import held_futures

    pdf, rdf, supply = ledger
    held = dd.from_pandas(pdf, npartitions=4).persist()
    on_top = held[held["amount"] > 0]  # same rows, but not the persisted partitions themselves
    futures = held_futures(held)
    assert futures is not None and len(futures) == 4
    assert held_futures(on_top) is None and held_futures(dd.from_pandas(pdf, npartitions=4)) is None
    rows = _rows(pdf)
    for t in (held, on_top):
        _same(_tuples(whale_transfers(t, rdf, 0.01)), ref_whale_transfers(rows, supply, 0.01))
        _same(_tuples(whale_flows(t, rdf, 0.01, top=7)), ref_whale_flows(rows, supply, 0.01, 7))


def test_a_persisted_inputs_partitions_are_dealt_to_the_threads_of_the_workers_holding_them(
    dask_client, ledger
):
    from distributed import wait

    from mesh_magics.runes.whale.general import slots

    pdf, _, _ = ledger
    held = dd.from_pandas(pdf, npartitions=7).persist()
    futures = held_futures_of(held)
    wait(futures)
    who, threads = dask_client.who_has(futures), dask_client.nthreads()
    got = slots(dask_client, futures)
    assert sorted(f.key for _, fs in got for f in fs) == sorted(f.key for f in futures)  # each once
    for address, fs in got:
        assert address in threads and all(address in who[f.key] for f in fs)
    per_worker = {a: sum(1 for b, _ in got if b == a) for a, _ in got}
    assert all(n <= threads[a] for a, n in per_worker.items())
    assert len(got) <= sum(threads.values())


def held_futures_of(df):
    from mesh_magics.runes.whale.frames import held_futures

    futures = held_futures(df)
    assert futures is not None
    return futures


@pytest.fixture(scope="module")
def ledger():
    transfers, runes = synthetic(n_rows=4000, n_runes=6, n_addresses=150, seed=7, npartitions=2)
    pdf = transfers.compute(scheduler="sync")
    rdf = runes.compute(scheduler="sync")
    return pdf, rdf, dict(zip(rdf.rune_id, (int(s) for s in rdf.supply)))


@pytest.mark.parametrize("nparts", [1, 3, 7])
def test_synthetic_matches_reference(dask_client, ledger, nparts):
    pdf, rdf, supply = ledger
    transfers = dd.from_pandas(pdf, npartitions=nparts)
    runes = dd.from_pandas(rdf, npartitions=1)
    check_all(transfers, pdf, supply, runes, min_share=0.01, top=5, freq="6h")

"""Loaders of mesh_magics.runes: exact values from hand-made files in each format of §10.

Files are read by the real LocalCluster of ``dask_client`` (worker processes);
in-memory inputs are checked with the synchronous scheduler.
"""

from __future__ import annotations

import json
from pathlib import Path

import dask
import pandas as pd
import pytest

from mesh_magics.errors import RunesError, SchemaError
from mesh_magics.runes import io as loaders
from mesh_magics.runes.io import (
    LoadResult,
    bitcoin_etl_frame,
    from_bitcoin_etl,
    from_ord_outputs,
    from_ord_runes,
    from_runehook,
    read_csv,
    read_parquet,
)
from mesh_magics.runes.io.common import BadRow, unscale
from mesh_magics.runes.tables import RUNES_COLUMNS, TRANSFERS_COLUMNS

DATA = Path(__file__).parent / "data" / "runes"
BIG = 10**26  # WHALE•WATCHING•RUNE premine: > 2**64, stays exact
E18 = 10**18


@pytest.fixture()
def sync():
    with dask.config.set(scheduler="sync"):
        yield


def _dtypes(df: pd.DataFrame) -> dict[str, str]:
    return {c: str(t) for c, t in df.dtypes.items()}


def test_public_names():
    assert set(loaders.__all__) >= {
        "read_parquet",
        "read_csv",
        "from_ord_runes",
        "from_ord_outputs",
        "from_runehook",
        "from_bitcoin_etl",
        "bitcoin_etl_frame",
        "LoadResult",
    }
    import mesh_magics.runes as runes

    assert runes.from_runehook is from_runehook


# ---------------------------------------------------------------- exact amounts


@pytest.mark.parametrize(
    ("text", "div", "raw"),
    [
        ("0.00000001", 8, 1),
        ("100.00000", 5, 10_000_000),
        ("12.5", 5, 1_250_000),  # trimmed zeros are padded
        ("7", 0, 7),
        ("50000000.000000000000000000", 18, 5 * 10**25),
        ("340282366920938463463374607431768211455", 0, 2**128 - 1),
    ],
)
def test_unscale_is_exact(text, div, raw):
    assert unscale(text, div) == raw
    assert type(unscale(text, div)) is int


@pytest.mark.parametrize(
    "text",
    ["1.000000001", "1e5", "-1", "0x10", "1_000", "", "340282366920938463463374607431768211456"],
)
def test_unscale_refuses(text):
    with pytest.raises(BadRow):
        unscale(text, 8)


# ---------------------------------------------------------------- runehook


def test_runehook_files_pair_send_and_receive(dask_client):
    divs = {"840000:3": 5, "840100:7": 18}
    res = from_runehook(
        [DATA / "runehook_activity_1.jsonl", DATA / "runehook_page_2.json"], divisibility=divs
    )
    assert res.is_lazy and res.kind == "transfers"
    out = res.compute()
    t = out.table.sort_values(["block_height", "operation", "receiver"]).reset_index(drop=True)
    assert _dtypes(t) == {**TRANSFERS_COLUMNS, "amount": "object"}
    assert out.amount_repr == "exact" and t.attrs["amount_repr"] == "exact"
    rows = list(
        zip(
            t.operation,
            t.sender.astype(object).where(t.sender.notna(), None),
            t.receiver.astype(object).where(t.receiver.notna(), None),
            t.amount,
        )
    )
    alice, bob = (
        "bc1qalice0000000000000000000000000000000",
        "bc1qbob00000000000000000000000000000000000",
    )
    carol = "bc1pcarol000000000000000000000000000000000000000000000000000"
    dave = "bc1pdave0000000000000000000000000000000000000000000000000000"
    erin = "bc1qerin000000000000000000000000000000000"
    assert rows == [
        ("send", alice, alice, 5_000_000),  # change back to the sender
        ("send", alice, bob, 10_000_000),
        ("mint", None, carol, 100_000),
        ("etching", None, dave, 50_000_000 * E18),  # the premine, from the receive row
        ("send", dave, dave, 30_000_000 * E18),  # its receive row sits in the other file
        ("send", dave, erin, 20_000_000 * E18),
        ("burn", alice, None, 1),
    ]
    assert all(type(a) is int for a in t.amount)
    # send + receive rows of one movement count once: hand-computed volumes
    dog = t[t.rune_id == "840000:3"]
    assert sum(dog.amount) == 10_000_000 + 5_000_000 + 100_000 + 1
    assert sum(t[t.rune_id == "840100:7"].amount) == 100_000_000 * E18
    assert t.block_time.iloc[0] == pd.Timestamp(1713620000, unit="s", tz="UTC")

    assert out.counts() == {
        "bad-amount": 1,
        "bad-json": 1,
        "bad-rune-id": 1,
        "unknown-operation": 1,
    }
    bad = out.bad_rows.set_index("reason")
    assert bad.loc["bad-amount", "detail"] == "amount '12.5x' is not a non-negative decimal number"
    assert bad.loc["bad-json", "source"].endswith("runehook_activity_1.jsonl:13")
    assert "840000-3" in bad.loc["bad-rune-id", "record"]
    assert json.loads(bad.loc["unknown-operation", "record"])["operation"] == "transfer"


def _hiro(op, amount=None, address=None, receiver=None, tx="ab", rune="840000:3"):
    rec = {
        "rune": {
            "id": rune,
            "number": 3,
            "name": "DOGGOTOTHEMOON",
            "spaced_name": "DOG•GO•TO•THE•MOON",
        },
        "operation": op,
        "location": {
            "block_hash": "00" * 32,
            "block_height": 840500,
            "tx_id": tx * 32,
            "tx_index": 1,
            "timestamp": 1714000000,
        },
    }
    for k, v in (("amount", amount), ("address", address), ("receiver_address", receiver)):
        if v is not None:
            rec[k] = v
    return rec


def test_runehook_records_infer_divisibility_and_int64(sync):
    page = {
        "limit": 60,
        "offset": 0,
        "total": 5,
        "results": [
            _hiro("send", "0.00000001", "A", "B", rune="840600:1"),
            _hiro("receive", "0.00000001", "B", rune="840600:1"),
            _hiro("send", "92233720368.54775807", "B", "C", tx="cd", rune="840600:1"),  # int64 max raw
            _hiro("receive", "92233720368.54775807", "C", tx="cd", rune="840600:1"),
            _hiro("receive", "3.00000", "Z", tx="ef"),  # nothing explains it
        ],
    }
    out = from_runehook(page).compute()
    assert out.amount_repr == "int64" and str(out.table.amount.dtype) == "int64"
    assert out.table.amount.tolist() == [1, 2**63 - 1]
    assert out.counts() == {"unpaired": 1}
    assert "300000 units received by 'Z'" in out.bad_rows.detail.iloc[0]


def test_runehook_unknown_divisibility_and_cenotaph_mint(sync):
    recs = [
        _hiro("mint", "5.00", tx="aa"),  # a cenotaph mint: no receive, burned
        _hiro("burn", "5.00", tx="aa"),
        _hiro("send", "1", "A", "B", rune="840999:9"),
    ]
    out = from_runehook(recs, divisibility={"840000:3": 2}).compute()
    assert list(zip(out.table.operation, out.table.amount)) == [("burn", 500), ("mint", 500)]
    assert out.table.receiver.isna().all()
    assert out.counts() == {"unknown-divisibility": 1}


# ---------------------------------------------------------------- ord


def test_ord_runes_pages_on_workers(dask_client):
    res = from_ord_runes(str(DATA / "ord_runes_page_*.json"))
    out = res.compute()
    t = out.table.sort_values("rune_id").reset_index(drop=True)
    assert _dtypes(t) == {**RUNES_COLUMNS, "supply": "object"}
    assert out.amount_repr == "exact"
    assert t.rune_id.tolist() == ["1:0", "840000:3", "840100:7"]  # page overlap de-duplicated
    assert t.name.tolist() == ["UNCOMMON•GOODS", "DOG•GO•TO•THE•MOON", "WHALE•WATCHING•RUNE"]
    assert t.divisibility.tolist() == [0, 5, 18]
    assert t.supply.tolist() == [12345, 10**16, BIG]  # premine + mints × terms.amount
    assert type(t.supply.iloc[2]) is int
    assert t.symbol.tolist() == ["⧉", "🐕", "W"]
    assert out.counts() == {"bad-divisibility": 1}
    assert "39" in out.bad_rows.detail.iloc[0]


def test_ord_rune_documents_in_memory(sync):
    entry = {
        "block": 840000,
        "burned": 0,
        "divisibility": 2,
        "etching": "ab" * 32,
        "mints": 3,
        "number": 7,
        "premine": 1000,
        "symbol": None,
        "timestamp": 1713571767,
        "turbo": False,
        "terms": {"amount": 2**64, "cap": 10, "height": [None, None], "offset": [None, 100]},
    }
    docs = [
        {
            "entry": {**entry, "spaced_rune": {"rune": "UNCOMMONGOODS", "spacers": 128}},
            "id": "840000:9",
            "mintable": True,
            "parent": None,
        },
        json.dumps({"entry": {**entry, "spaced_rune": "AB"}, "id": "840000:10"}),
        {"entry": {**entry, "spaced_rune": "A••B"}, "id": "840000:11"},
        {"entry": {**entry, "spaced_rune": "XY", "premine": 2**128 - 1}, "id": "840000:12"},
        {"neither": 1},
    ]
    out = from_ord_runes(docs).compute()
    assert out.table.name.tolist() == ["UNCOMMON•GOODS", "AB"]
    assert out.table.supply.tolist() == [1000 + 3 * 2**64] * 2
    assert out.table.symbol.isna().all()
    assert out.counts() == {"bad-json": 1, "bad-name": 1, "supply-overflow": 1}


def test_ord_outputs_snapshot(dask_client):
    out = from_ord_outputs(DATA / "ord_outputs.json").compute()
    assert out.kind == "balances"
    t = out.table.sort_values("rune").reset_index(drop=True)
    assert list(t.columns) == ["outpoint", "address", "rune", "amount"]
    assert t.rune.tolist() == ["DOG•GO•TO•THE•MOON", "WHALE•WATCHING•RUNE"]
    assert t.amount.tolist() == [4_200_000, 30_000_000 * E18]
    assert t.outpoint.str.endswith(":2").all()
    assert out.counts() == {"bad-amount": 1}


# ---------------------------------------------------------------- canonical files


def _canonical(amounts):
    n = len(amounts)
    return pd.DataFrame(
        {
            "block_height": pd.Series([840000 + i for i in range(n)], dtype="int64"),
            "block_time": pd.Series(
                pd.to_datetime([1713571767 + 600 * i for i in range(n)], unit="s", utc=True)
            ).astype("datetime64[ns, UTC]"),
            "txid": pd.Series([f"{i:064x}" for i in range(n)], dtype="string"),
            "rune_id": pd.Series(["840000:3"] * n, dtype="string"),
            "operation": pd.Series(["send"] * n, dtype="string"),
            "sender": pd.Series(["bc1qa"] * n, dtype="string"),
            "receiver": pd.Series(["bc1qb"] * n, dtype="string"),
            "amount": pd.Series(amounts, dtype="int64" if max(amounts) < 2**63 else object),
        }
    )


@pytest.mark.parametrize("amounts", [[1, 2**63 - 1, 7], [1, 2**64 + 1, 2**128 - 1]])
def test_parquet_and_csv_round_trip(dask_client, tmp_path, amounts):
    df = _canonical(amounts)
    stored = df.assign(amount=df.amount.astype(str)) if df.amount.dtype == object else df
    dd_path = tmp_path / "pq"
    dd_path.mkdir()
    stored.iloc[:2].to_parquet(dd_path / "part.0.parquet")
    stored.iloc[2:].to_parquet(dd_path / "part.1.parquet")
    stored.to_csv(tmp_path / "t.csv", index=False)
    for res in (read_parquet(str(dd_path)), read_csv(tmp_path / "t.csv")):
        out = res.compute()
        got = out.table.sort_values("block_height").reset_index(drop=True)
        pd.testing.assert_frame_equal(got, df, check_dtype=True)
        assert out.amount_repr == ("int64" if df.amount.dtype == "int64" else "exact")
        assert out.counts() == {}


def test_csv_bad_rows(dask_client):
    out = read_csv(DATA / "transfers.csv").compute()
    t = out.table.sort_values("block_height").reset_index(drop=True)
    assert t.amount.tolist() == [10_000_000, 50_000_000 * E18, 20_000_000 * E18, 1]
    assert t.block_time.iloc[0] == pd.Timestamp(1713620000, unit="s", tz="UTC")
    assert t.sender.isna().tolist() == [False, True, False, False]
    assert out.counts() == {"bad-amount": 1, "bad-parties": 1, "unknown-operation": 1}
    assert set(out.bad_rows.source.str.split(" ").str[0]) == {str(DATA / "transfers.csv")}


def test_runes_table_parquet(sync, tmp_path):
    runes = pd.DataFrame(
        {
            "rune_id": ["840000:3", "1:0"],
            "name": ["DOG.GO.TO.THE.MOON", "UNCOMMON•GOODS"],
            "divisibility": [5, 0],
            "supply": ["10000000000000000", str(2**128 - 1)],
            "symbol": ["🐕", None],
        }
    )
    runes.to_parquet(tmp_path / "runes.parquet")
    out = read_parquet(tmp_path / "runes.parquet", table="runes").compute()
    assert out.table.name.tolist() == ["DOG•GO•TO•THE•MOON", "UNCOMMON•GOODS"]
    assert out.table.supply.tolist() == [10**16, 2**128 - 1]


def test_canonical_errors(sync, tmp_path):
    df = _canonical([1, 2])
    df.drop(columns=["receiver"]).to_parquet(tmp_path / "x.parquet")
    with pytest.raises(SchemaError, match="missing \\['receiver'\\]"):
        read_parquet(tmp_path / "x.parquet")
    big = _canonical([1, 2**64])
    big.assign(amount=big.amount.astype(str)).to_parquet(tmp_path / "big.parquet")
    res = read_parquet(tmp_path / "big.parquet", amount_repr="int64")
    with pytest.raises(SchemaError, match="does not fit int64"):
        res.compute()
    with pytest.raises(RunesError):
        read_parquet(tmp_path / "big.parquet", table="balances")


# ---------------------------------------------------------------- bitcoin-etl


def _etl_records():
    return [json.loads(line) for line in (DATA / "bitcoin_etl.jsonl").read_text().splitlines()]


def test_bitcoin_etl_frame():
    res = bitcoin_etl_frame(_etl_records())
    assert isinstance(res, LoadResult) and not res.is_lazy
    t = res.table
    assert _dtypes(t) == {
        "txid": "string",
        "block_height": "int64",
        "block_time": "datetime64[ns, UTC]",
        "tx_index": "int64",
        "scripts": "object",
        "addresses": "object",
    }
    assert t.block_height.tolist() == [840001, 840002]  # 839999 is before activation
    assert t.tx_index.tolist() == [17, 2]
    assert t.block_time.iloc[0] == pd.Timestamp(1713572400, unit="s", tz="UTC")
    # outputs in index order; OP_RETURN / nonstandard outputs have no receiver
    assert t.scripts.iloc[0] == ["6a5d0614c0a2331403", "5120" + "aa" * 32]
    assert t.addresses.iloc[0] == [
        None,
        "bc1pminter0000000000000000000000000000000000000000000000000",
    ]
    assert res.counts() == {"bad-script": 1}
    short = bitcoin_etl_frame([{**_etl_records()[0], "hash": "5d1b"}])
    assert short.counts() == {"bad-txid": 1} and short.table.empty
    assert bitcoin_etl_frame(_etl_records(), network="regtest").table.block_height.tolist() == [
        840001,
        839999,
        840002,
    ]
    with pytest.raises(RunesError, match="unknown network"):
        bitcoin_etl_frame([], network="litecoin")


def test_from_bitcoin_etl_decodes_on_workers(dask_client):
    pytest.importorskip("mesh_magics.runes.decode.batch")
    out = from_bitcoin_etl(DATA / "bitcoin_etl.jsonl").compute()
    t = out.table
    assert t.txid.tolist() == ["5d1b8e5f4c3a2910ffeeddccbbaa99887766554433221100aabbccddeeff0011"]
    assert t.rune_id.tolist() == ["840000:3"]
    assert t.operation.tolist() == ["mint"]
    assert t.block_height.tolist() == [840001]
    assert out.counts() == {"bad-script": 1}
    # the same records from memory give the same events
    mem = from_bitcoin_etl(_etl_records()).compute()
    pd.testing.assert_frame_equal(mem.table.reset_index(drop=True), t.reset_index(drop=True))


def test_mixing_paths_and_records_is_refused():
    with pytest.raises(RunesError, match="not both"):
        from_runehook([str(DATA / "runehook_page_2.json"), _hiro("burn", "1", "A")])


def test_loaded_tables_pass_the_table_contract(sync):
    from mesh_magics.runes.tables import amount_repr, validate_runes, validate_transfers

    hook = from_runehook(
        [DATA / "runehook_activity_1.jsonl", DATA / "runehook_page_2.json"],
        divisibility={"840000:3": 5, "840100:7": 18},
    )
    validate_transfers(hook.table).compute()  # lazily, partition by partition
    validate_transfers(hook.compute().table)
    assert amount_repr(hook.compute().table) == hook.amount_repr == "exact"
    csv = read_csv(DATA / "transfers.csv")
    validate_transfers(csv.compute().table)
    runes = from_ord_runes(str(DATA / "ord_runes_page_*.json")).compute()
    validate_runes(runes.table)
    assert amount_repr(runes.table, "supply") == "exact"


TXID = "ab" * 32
UTXO = {  # ord's /r/utxo/<outpoint>: no outpoint field, the outpoint is the URL's
    "inscriptions": [],
    "runes": {"DOG•GO•TO•THE•MOON": {"amount": 12345, "divisibility": 5, "symbol": "D"}},
    "sat_ranges": None,
    "value": 10000,
}


def test_ord_utxo_documents_take_their_outpoint_from_a_mapping_or_the_file_name(sync, tmp_path):
    res = from_ord_outputs({f"{TXID}:1": UTXO, f"{TXID}:2": {"jsonrpc": "2.0", "id": 7, "result": UTXO}})
    done = res.compute()
    table, bad = done.table, done.bad_rows
    assert list(table["outpoint"]) == [f"{TXID}:1", f"{TXID}:2"] and list(table["amount"]) == [12345, 12345]
    assert bad.empty
    (tmp_path / f"{TXID}_3.json").write_text(json.dumps(UTXO))
    (tmp_path / "nameless.json").write_text(json.dumps(UTXO))
    done = from_ord_outputs(str(tmp_path / "*.json")).compute()
    table, bad = done.table, done.bad_rows
    assert list(table["outpoint"]) == [f"{TXID}:3"]
    assert list(bad["reason"]) == ["missing-field"] and "name the file <txid>:<vout>.json" in bad["detail"][0]


def test_json_rpc_envelopes_are_unwrapped_and_their_errors_named(sync):
    doc = {"outpoint": f"{TXID}:0", **UTXO}
    done = from_ord_outputs([{"jsonrpc": "2.0", "id": 1, "result": doc}]).compute()
    table, bad = done.table, done.bad_rows
    assert list(table["outpoint"]) == [f"{TXID}:0"] and bad.empty
    failed = {"jsonrpc": "2.0", "id": 2, "error": {"code": -32601, "message": "no such method"}}
    done = from_ord_outputs([failed]).compute()
    table, bad = done.table, done.bad_rows
    assert table.empty and list(bad["reason"]) == ["rpc-error"] and "no such method" in bad["detail"][0]


def test_a_broken_json_document_is_one_error_at_its_line_and_column(sync, tmp_path):
    lines = json.dumps({"outpoint": f"{TXID}:4", **UTXO}, indent=1).splitlines() * 300
    lines[5] += ","  # a stray comma on line 6
    path = tmp_path / "broken.json"
    path.write_text("\n".join(lines))
    done = from_ord_outputs(str(path)).compute()
    table, bad = done.table, done.bad_rows
    assert table.empty and len(bad) == 1  # not one bad row per line
    assert bad["reason"][0] == "bad-json" and "not valid JSON at line 6 column" in bad["detail"][0]
    good = [json.dumps({"outpoint": f"{TXID}:{i}", **UTXO}) for i in range(3)]
    path.write_text("\n".join([good[0], "{not json", good[1], good[2]]))  # JSON lines stay per line
    done = from_ord_outputs(str(path)).compute()
    table, bad = done.table, done.bad_rows
    assert len(table) == 3 and list(bad["source"]) == [f"{path}:2"]

"""decode_transactions on pandas and on dask (real LocalCluster) frames."""

from __future__ import annotations

import pandas as pd
import pytest

from mesh_magics.errors import RunesError, SchemaError
from mesh_magics.runes import decode_outputs, decode_transactions
from mesh_magics.runes.decode.batch import DECODED_COLUMNS
from mesh_magics.runes.protocol import script as _script
from mesh_magics.runes.protocol import varint as _varint
from mesh_magics.runes.protocol.names import minimum_rune_at_height

P2WPKH = "0014" + "11" * 20
OP_RETURN = "6a0401020304"
DOG = 11382812169668186247  # DOGGOTOTHEMOON
RESERVED = 6402364363415443603228541259936211926


def rs(*ints: int) -> str:
    payload = b"".join(_varint.encode(i) for i in ints)
    return (b"\x6a\x5d" + _script.push_data(payload)).hex()


# (txid, height, tx_index, scripts, addresses)
TXS = [
    # named etching, premine 1000: 300 by edict 0:0 to output 1, the rest to the pointer
    # (output 2); an edict on another rune to the OP_RETURN output burns
    ("a1", 840_000, 3, [rs(2, 1, 4, DOG, 6, 1000, 22, 2, 0, 0, 0, 300, 1, 5, 7, 20, 0),
                        P2WPKH, P2WPKH], [None, "bc1alice", "bc1bob"]),
    # mint request, and an edict split across every non-OP_RETURN output
    ("b2", 840_001, 0, [P2WPKH, rs(20, 840_000, 20, 3, 0, 840_000, 3, 0, 3), P2WPKH],
     ["bc1carol", None, "bc1dave"]),
    # cenotaph with a mint: the mint is burned, and so are the inputs
    ("c3", 840_001, 1, [rs(20, 840_000, 20, 3, 126, 0), P2WPKH], [None, "bc1erin"]),
    # no runestone (plain OP_RETURN and a payment)
    ("d4", 840_002, 0, [OP_RETURN, P2WPKH], [None, "bc1frank"]),
    # before activation: ignored
    ("e5", 839_999, 5, [rs(20, 1, 20, 1)], [None]),
    # unnamed (reserved) etching: premine 10 split over 3 outputs, no ledger needed
    ("f6", 840_002, 7, [P2WPKH, rs(2, 1, 6, 10, 0, 0, 0, 0, 4), P2WPKH, P2WPKH],
     ["bc1g", None, "bc1h", "bc1i"]),
    # etching without premine
    ("g7", 840_003, 1, [rs(2, 1)], [None]),
    # premine with nowhere to go: burned
    ("h8", 840_003, 2, [rs(2, 1, 6, 5), OP_RETURN], [None, None]),
    # a name in the reserved range can never be etched: no row
    ("i9", 840_003, 3, [rs(2, 1, 4, RESERVED, 6, 5), P2WPKH], [None, "bc1j"]),
    # a name still locked at that height (A opens at 1,049,999): no row
    ("k11", 840_004, 1, [rs(2, 1, 4, 0, 6, 5), P2WPKH], [None, "bc1l"]),
    # edict with amount 0 (all that is left): amount unknown
    ("j10", 840_004, 0, [rs(0, 840_000, 3, 0, 1), P2WPKH], [None, "bc1k"]),
]  # fmt: skip


def make_frame(txs=TXS) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "txid": pd.array([t[0] for t in txs], dtype="string"),
            "block_height": pd.array([t[1] for t in txs], dtype="int64"),
            "block_time": pd.to_datetime([1713571200 + 600 * (t[1] - 840_000) for t in txs],
                                         unit="s", utc=True).astype("datetime64[ns, UTC]"),
            "tx_index": pd.array([t[2] for t in txs], dtype="int64"),
            "scripts": [t[3] for t in txs],
            "addresses": [t[4] for t in txs],
        }
    )  # fmt: skip


COLS = ["txid", "rune_id", "event", "operation", "receiver", "amount", "output", "flaw",
        "needs_ledger"]  # fmt: skip
NA = None
EXPECTED = [
    ("a1", "840000:3", "premine", "etching", "bc1alice", 300, 1, NA, True),
    ("a1", "840000:3", "premine", "etching", "bc1bob", 700, 2, NA, True),
    ("a1", "5:7", "edict", "burn", NA, 20, 0, NA, True),
    ("b2", "840000:3", "mint_request", "mint", NA, NA, NA, NA, True),
    ("b2", "840000:3", "edict", "send", NA, NA, 3, NA, True),
    ("c3", "840000:3", "mint_request", "burn", NA, NA, NA, "UnrecognizedEvenTag", True),
    ("c3", NA, "cenotaph", "burn", NA, NA, NA, "UnrecognizedEvenTag", True),
    ("f6", "840002:7", "premine", "etching", "bc1g", 4, 0, NA, False),
    ("f6", "840002:7", "premine", "etching", "bc1h", 3, 2, NA, False),
    ("f6", "840002:7", "premine", "etching", "bc1i", 3, 3, NA, False),
    ("g7", "840003:1", "premine", "etching", NA, 0, NA, NA, False),
    ("h8", "840003:2", "premine", "burn", NA, 5, NA, NA, False),
    ("j10", "840000:3", "edict", "send", "bc1k", NA, 1, NA, True),
]


def rows(df: pd.DataFrame) -> list[tuple]:
    return [
        tuple(None if v is pd.NA or v is None else v for v in r)
        for r in df[COLS].astype(object).itertuples(index=False)
    ]


def test_pandas_rows_and_schema():
    out = decode_transactions(make_frame())
    assert rows(out) == EXPECTED
    assert list(out.columns) == list(DECODED_COLUMNS)
    for col, dtype in DECODED_COLUMNS.items():
        if col != "amount":
            assert str(out[col].dtype) == dtype, col
    assert str(out["amount"].dtype) == "Int64"
    assert out.attrs["amount_repr"] == "int64"
    assert out["sender"].isna().all()
    first = out.iloc[0]
    assert first["block_height"] == 840_000
    assert first["block_time"] == pd.Timestamp(1713571200, unit="s", tz="UTC")


def test_rows_match_the_per_tx_decode():
    frame = make_frame()
    out = decode_transactions(frame)
    for txid, height, tx_index, scripts, _ in TXS:
        got = out[out["txid"] == txid]
        decoded = decode_outputs(scripts)
        if height < 840_000 or decoded["kind"] == "none":
            assert got.empty
            continue
        # decoding the transaction alone gives the same rows
        alone = decode_transactions(frame[frame["txid"] == txid])
        assert rows(alone) == rows(got)
        mints = got[got["event"] == "mint_request"]["rune_id"].tolist()
        assert mints == ([decoded["mint"]] if decoded["mint"] else [])
        if decoded["kind"] == "cenotaph":
            assert got[got["event"] == "cenotaph"]["flaw"].tolist() == decoded["flaws"]
            assert (got["flaw"] == decoded["flaws"][0]).all()
            continue
        own = {"0:0", f"{height}:{tx_index}"}
        edicts = [(e["id"], int(e["amount"]) or None, e["output"])
                  for e in decoded["edicts"] if e["id"] not in own]  # fmt: skip
        got_edicts = got[got["event"] == "edict"]
        assert [(r, None if pd.isna(a) else a, o) for r, a, o in zip(
            got_edicts["rune_id"], got_edicts["amount"], got_edicts["output"])] == edicts  # fmt: skip
        premine = got[got["event"] == "premine"]["amount"].sum()
        etching = decoded["etching"]
        if etching is not None:
            rune = None if etching["rune_n"] is None else int(etching["rune_n"])
            open_ = rune is None or minimum_rune_at_height(height) <= rune < RESERVED
            assert premine == (int(etching["premine"] or 0) if open_ else 0)


def test_exact_amounts_never_wrap():
    txs = [("x", 840_010, 1, [rs(2, 1, 6, 2**100), P2WPKH], [None, "bc1big"])]
    out = decode_transactions(make_frame(txs))
    assert out.attrs["amount_repr"] == "exact"
    assert out["amount"].dtype == object
    assert out["amount"].tolist() == [2**100]
    with pytest.raises(RunesError, match="amount_repr='exact'"):
        decode_transactions(make_frame(txs), amount_repr="int64")
    small = decode_transactions(make_frame(), amount_repr="exact")
    assert small.attrs["amount_repr"] == "exact" and small["amount"].dtype == object
    assert rows(small) == EXPECTED


def test_first_rune_height_is_configurable():
    out = decode_transactions(make_frame(), first_rune_height=0)
    assert out[out["txid"] == "e5"]["event"].tolist() == ["mint_request"]


def test_null_lists():
    frame = make_frame()
    frame.at[0, "addresses"] = None
    frame.at[1, "scripts"] = None
    out = decode_transactions(frame)
    assert out[out["txid"] == "a1"]["receiver"].isna().all()
    assert len(out[out["txid"] == "a1"]) == 3
    assert (out["txid"] != "b2").all()


def test_empty_and_missing_addresses():
    empty = decode_transactions(make_frame()[:0])
    assert empty.empty and list(empty.columns) == list(DECODED_COLUMNS)
    no_addresses = decode_transactions(make_frame().drop(columns="addresses"))
    assert no_addresses["receiver"].isna().all()
    assert len(no_addresses) == len(EXPECTED)


def test_schema_errors():
    with pytest.raises(SchemaError, match="scripts"):
        decode_transactions(make_frame().drop(columns="scripts"))
    bad = make_frame()
    bad.at[0, "addresses"] = ["only-one"]
    with pytest.raises(SchemaError, match="3 scripts but 1 addresses"):
        decode_transactions(bad)
    with pytest.raises(RunesError, match="amount_repr"):
        decode_transactions(make_frame(), amount_repr="float")
    with pytest.raises(SchemaError):
        decode_transactions([1, 2, 3])


def to_dask(frame: pd.DataFrame, npartitions: int):
    import dask
    import dask.dataframe as dd

    # keep the list columns as objects: dask would turn them into strings
    with dask.config.set({"dataframe.convert-string": False}):
        return dd.from_pandas(frame, npartitions=npartitions)


def test_stringified_list_columns_are_refused():
    import dask.dataframe as dd

    ddf = dd.from_pandas(make_frame(), npartitions=1)  # convert-string turns lists into str
    with pytest.raises(SchemaError, match="convert-string"):
        decode_transactions(ddf)
    frame = make_frame()
    frame["scripts"] = frame["scripts"].astype(str)
    with pytest.raises(SchemaError, match="convert-string"):
        decode_transactions(frame)


@pytest.mark.parametrize("npartitions", [1, 3])
def test_dask_matches_pandas(dask_client, npartitions):
    frame = make_frame()
    ddf = to_dask(frame, npartitions)
    lazy = decode_transactions(ddf)
    assert lazy.npartitions == ddf.npartitions
    assert list(lazy.columns) == list(DECODED_COLUMNS)
    assert lazy._meta.attrs["amount_repr"] == "exact"
    out = lazy.compute().reset_index(drop=True)
    expected = decode_transactions(frame, amount_repr="exact")
    pd.testing.assert_frame_equal(out, expected)
    assert out.attrs["amount_repr"] == "exact"
    assert rows(out) == EXPECTED


def test_dask_int64_repr(dask_client):
    out = decode_transactions(to_dask(make_frame(), 2), amount_repr="int64")
    result = out.compute().reset_index(drop=True)
    assert str(result["amount"].dtype) == "Int64"
    pd.testing.assert_frame_equal(result, decode_transactions(make_frame(), amount_repr="int64"))

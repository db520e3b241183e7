"""Hostile and broken files through the loaders: every one a bad row with its reason, or a
RunesError naming the file, never a bare exception. Real files in tmp_path; the
synchronous scheduler reads them here (the suite, benchmarks/reliability, does the rest).
"""

from __future__ import annotations

import bz2
import gzip
import json
import os

import dask
import numpy as np
import pandas as pd
import pytest

from mesh_magics.errors import RunesError, SchemaError
from mesh_magics.runes.io import (
    REASONS,
    from_bitcoin_etl,
    from_ord_outputs,
    from_ord_runes,
    from_runehook,
    read_csv,
    read_parquet,
    reader,
)
from mesh_magics.runes.io.reader import loads, parse_documents

TXID = "ab" * 32
OUTPUT = {"outpoint": f"{TXID}:0", "address": "bc1qx", "runes": {"DOG•GO•TO•THE•MOON": {"amount": 5}}}


@pytest.fixture(autouse=True)
def sync():
    with dask.config.set(scheduler="sync"):
        yield


def _outputs(tmp_path, data: bytes, name: str = "o.json"):
    p = tmp_path / name
    p.write_bytes(data)
    return from_ord_outputs(p).compute()


def _line(**change) -> str:
    doc = json.loads(json.dumps(OUTPUT))
    doc.update(change)
    return json.dumps(doc, ensure_ascii=False)


@pytest.mark.parametrize(
    "text, match",
    [
        ('{"a": NaN}', "NaN is not a JSON number"),
        ('{"a": [Infinity]}', "Infinity is not a JSON number"),
        ('{"a": -Infinity}', "-Infinity is not"),
        ('{"a": 1, "b": {"c": 1, "c": 2}}', "'c' appears twice"),
        ("[" * 100_000 + "]" * 100_000, "nested deeper"),
        ('{"a": 1' + "0" * 5000 + "}", "more than 4300 digits"),
    ],
)
def test_strict_json_refuses(text, match):
    with pytest.raises(ValueError, match=match):
        loads(text)


def test_strict_json_keeps_numbers_exact():
    doc = loads('{"u64": 18446744073709551616, "u128": 340282366920938463463374607431768211456, "d": 1.10}')
    assert doc["u64"] == 2**64 and doc["u128"] == 2**128 and str(doc["d"]) == "1.10"


def test_json_lines_keep_their_good_lines(tmp_path):
    lines = [
        _line(),
        _line(outpoint=f"{TXID}:1").replace('"amount": 5', '"amount": NaN'),
        _line(outpoint=f"{TXID}:2")[:-1] + ', "address": "dup"}',
        "[" * 50_000 + "]" * 50_000,
        _line(outpoint=f"{TXID}:3").replace('"amount": 5', f'"amount": {2**128}'),
        _line(outpoint=f"{TXID}:4").replace('"amount": 5', f'"amount": {2**64}'),
    ]
    out = _outputs(tmp_path, "\n".join(lines).encode(), "o.jsonl")
    assert out.table.amount.tolist() == [5, 2**64] and out.amount_repr == "exact"
    assert out.counts() == {"bad-amount": 1, "bad-json": 3}
    bad = out.bad_rows.set_index("source")["detail"]
    assert "NaN" in bad[f"{tmp_path / 'o.jsonl'}:2"] and "twice" in bad[f"{tmp_path / 'o.jsonl'}:3"]


@pytest.mark.parametrize(
    "encode",
    [
        lambda t: t.encode("utf-8-sig"),
        lambda t: t.encode("utf-16"),
        lambda t: t.encode("utf-16-be").join([b"\xfe\xff", b""]),
        lambda t: t.encode("utf-32"),
    ],
)
def test_byte_order_marks_are_read(tmp_path, encode):
    out = _outputs(tmp_path, encode(json.dumps([OUTPUT], ensure_ascii=False, indent=1)))
    assert out.table.rune.tolist() == ["DOG•GO•TO•THE•MOON"] and out.counts() == {}


def test_lines_that_are_not_utf8_are_set_aside(tmp_path):
    latin = _line(address="café").encode("latin-1", "replace").replace(b"?", b"\xe9")
    data = b"\n".join([_line().encode(), latin, os.urandom(64).replace(b"\n", b" "), _line().encode()])
    out = _outputs(tmp_path, data, "o.jsonl")
    assert len(out.table) == 2 and out.counts() == {"bad-encoding": 2}
    assert "re-encode the file as UTF-8" in out.bad_rows.detail.iloc[0]


def test_a_whole_document_not_utf8_is_one_bad_row(tmp_path):
    text = json.dumps([OUTPUT, {**OUTPUT, "address": "café"}], indent=1, ensure_ascii=False)
    out = _outputs(tmp_path, text.encode("latin-1", "replace"))
    assert len(out.table) == 0 and out.counts() == {"bad-encoding": 1}


def test_a_line_longer_than_the_limit_is_skipped_not_held(tmp_path, monkeypatch):
    monkeypatch.setattr(reader, "MAX_DOCUMENT_BYTES", 1000)
    monkeypatch.setattr(reader, "_CHUNK", 256)
    huge = '{"outpoint": "' + "x" * 5000 + '"}'
    out = _outputs(tmp_path, "\n".join([huge, _line(), huge, _line()]).encode(), "o.jsonl")
    assert len(out.table) == 2 and out.counts() == {"too-large": 2}
    assert out.bad_rows.source.str.endswith((":1", ":3")).all()
    doc = json.dumps([OUTPUT] * 40, indent=1)  # a whole document over the limit
    out = _outputs(tmp_path, doc.encode(), "whole.json")
    assert len(out.table) == 0 and out.counts() == {"too-large": 1}
    assert "JSON lines" in out.bad_rows.detail.iloc[0]


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress])
def test_truncated_compressed_files_keep_what_came_before(tmp_path, compress):
    n = 30_000  # bz2 decodes blocks of 900 kB: several of them
    data = compress("\n".join(_line(outpoint=f"{TXID}:{i}") for i in range(n)).encode())
    ext = ".gz" if compress is gzip.compress else ".bz2"
    out = _outputs(tmp_path, data[: len(data) // 2], f"o.jsonl{ext}")
    assert 0 < len(out.table) < n
    assert out.counts()["truncated"] == 1
    assert out.counts().get("bad-json", 0) <= 1  # the line cut in the middle, at most


def test_in_memory_text_follows_the_same_rules():
    docs = parse_documents(_line() + "\n" + '{"a": NaN}', "records[0]")
    assert [s for s, _ in docs] == ["records[0]:1", "records[0]:2"]
    assert isinstance(docs[1][1], Exception) and docs[1][1].reason == "bad-json"
    assert [s for s, _ in parse_documents("\n\n" + _line() + "\n\n", "r")] == ["r"]
    [(_, bad)] = parse_documents('{\n "a": 1,\n "b": \n}', "r")
    assert "line 4 column 1" in bad.detail


def test_every_json_loader_survives_binary_garbage(tmp_path):
    p = tmp_path / "garbage.json"
    p.write_bytes(np.random.default_rng(1).integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    for load in (from_ord_runes, from_ord_outputs, from_runehook, lambda x: from_bitcoin_etl(x, "regtest")):
        out = load(p).compute()
        assert len(out.table) == 0 and set(out.counts()) <= {"bad-encoding", "bad-json"}, out.counts()
    assert {"bad-encoding", "too-large", "truncated"} <= set(REASONS)


def test_unreadable_files_are_errors_naming_them(tmp_path):
    with pytest.raises(RunesError, match="cannot read"):
        from_ord_outputs(tmp_path / "no-dir" / "x.json").compute()


# ---------------------------------------------------------------- Parquet and CSV


def _transfers(n: int = 20) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "block_height": np.arange(n) + 840_000,
            "block_time": pd.Timestamp("2024-05-01", tz="UTC"),
            "txid": [TXID] * n,
            "rune_id": "840000:3",
            "operation": "mint",
            "sender": None,
            "receiver": "bc1qx",
            "amount": [str(i) for i in range(n)],
        }
    )


@pytest.mark.parametrize("cut", ["empty", "half", "no-footer", "garbage"])
def test_parquet_without_a_footer_is_an_error_naming_the_file(tmp_path, cut):
    _transfers().to_parquet(tmp_path / "ok.parquet")
    data = (tmp_path / "ok.parquet").read_bytes()
    broken = {
        "empty": b"",
        "half": data[: len(data) // 2],
        "no-footer": data[:-8],
        "garbage": os.urandom(999),
    }
    (tmp_path / "bad.parquet").write_bytes(broken[cut])
    with pytest.raises(RunesError, match="bad.parquet is not a readable Parquet file"):
        read_parquet(tmp_path / "bad.parquet")


def test_a_corrupt_row_group_is_one_bad_row_and_the_others_load(tmp_path):
    _transfers(4000).to_parquet(tmp_path / "t.parquet", row_group_size=1000, compression="snappy")
    data = bytearray((tmp_path / "t.parquet").read_bytes())
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(tmp_path / "t.parquet").metadata
    col = meta.row_group(2).column(7)  # the amounts of row group 2
    start = col.dictionary_page_offset or col.data_page_offset
    for i in range(start + 40, start + col.total_compressed_size - 8):
        data[i] ^= 0x5A
    (tmp_path / "t.parquet").write_bytes(bytes(data))
    out = read_parquet(tmp_path / "t.parquet").compute()
    assert len(out.table) == 3000 and out.counts() == {"truncated": 1}
    assert "row group 2 (1000 rows)" in out.bad_rows.detail.iloc[0]


def test_parquet_with_wrong_types_sets_rows_aside(tmp_path):
    df = _transfers(3)
    df["amount"] = [1.5, 2.0, float("nan")]
    df["block_height"] = ["840000", "x", "-1"]
    df.to_parquet(tmp_path / "t.parquet")
    out = read_parquet(tmp_path / "t.parquet").compute()
    assert len(out.table) == 0 and out.counts() == {"bad-amount": 1, "bad-height": 2}
    with pytest.raises(SchemaError, match="missing"):
        read_parquet(_write(tmp_path / "m.parquet", df.drop(columns=["txid"])))


def _write(path, df):
    df.to_parquet(path)
    return path


@pytest.mark.parametrize(
    "data, match",
    [
        (b"", "the file is empty"),
        (b"block_height,txid\n\xff\xfe\x00", "not UTF-8"),
        ("block_height\n1\n".encode("utf-16"), "encoding='utf-16'"),
        (b'block_height,txid\n1,"never closed\n2,x\n', "quoting"),
    ],
)
def test_csv_that_does_not_parse_is_a_runes_error(tmp_path, data, match):
    (tmp_path / "t.csv").write_bytes(data)
    with pytest.raises(RunesError, match=match):
        read_csv(tmp_path / "t.csv").compute()


def test_csv_in_another_encoding_reads_with_it(tmp_path):
    df = _transfers(2).assign(receiver=["café", "naïve"])
    df.to_csv(tmp_path / "t.csv", index=False, encoding="latin-1")
    with pytest.raises(RunesError, match="encoding='latin-1'"):
        read_csv(tmp_path / "t.csv").compute()
    out = read_csv(tmp_path / "t.csv", encoding="latin-1").compute()
    assert out.table.receiver.tolist() == ["café", "naïve"]


def test_lone_surrogates_are_bad_rows_not_a_crash(tmp_path):
    """'\\ud800' is valid JSON syntax but not text: Arrow-backed string columns refuse it."""
    escaped = _line(outpoint=f"{TXID}:1", address="bc1q\\ud800x").replace("\\\\ud800", "\\ud800")
    pair = _line(outpoint=f"{TXID}:2", address="bc1q\\ud83d\\ude00").replace("\\\\u", "\\u")  # a valid pair
    out = _outputs(tmp_path, "\n".join([_line(), escaped, pair]).encode(), "o.jsonl")
    assert out.table.address.tolist() == ["bc1qx", "bc1q😀"] and out.counts() == {"bad-encoding": 1}
    records = [
        {**OUTPUT, "address": "bc1q\ud800"},
        {**OUTPUT, "runes": {"D\udc00G": {"amount": 1}}},
        OUTPUT,
    ]
    out = from_ord_outputs(records).compute()  # dicts in memory, never JSON
    assert len(out.table) == 1 and out.counts() == {"bad-encoding": 2}
    assert "bc1q\\ud800" in out.bad_rows.record.iloc[0]  # the record kept, escaped
    runes = from_ord_runes(
        [{"id": "840000:1", "entry": {"spaced_rune": "A", "divisibility": 0, "symbol": "\ud800"}}]
    )
    assert runes.compute().counts() == {"bad-encoding": 1}
    etl = [{"hash": TXID, "block_number": 840_001, "block_timestamp": 1713572400, "index": 1,
            "outputs": [{"index": 0, "script_hex": "0014" + "00" * 20, "addresses": ["bc1q\ud800"]}]}]  # fmt: skip
    assert from_bitcoin_etl(etl).compute().bad_rows.reason.tolist() == ["bad-encoding"]

"""Bad-input cases on Parquet and CSV files, and the 2 GiB line (registered by :mod:`.input_cases`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import Context, Outcome, Skip, case
from ._servers import ROOT

__all__: list[str] = []

TXID = "ab" * 32


def _frame(n: int = 6) -> Any:
    import numpy as np
    import pandas as pd

    return pd.DataFrame(
        {
            "block_height": np.arange(n) + 840_000,
            "block_time": pd.Timestamp("2024-05-01", tz="UTC"),
            "txid": [TXID] * n,
            "rune_id": "840000:3",
            "operation": "mint",
            "sender": None,
            "receiver": "bc1qx",
            "amount": [str(i + 1) for i in range(n)],
        }
    )


def _load(loader: str, path: Path, **kw: Any) -> Any:
    import dask

    from mesh_magics.runes import io

    with dask.config.set(scheduler="sync"):
        return getattr(io, loader)(path, **kw).compute()


def _outcome(out: Any) -> Outcome:
    got = out.counts()
    detail = "" if out.bad_rows.empty else f": {out.bad_rows.detail.iloc[0][:90]}"
    return Outcome(f"{len(out.table)} rows, bad rows {got or 'none'}{detail}")


def _refused(loader: str, path: Path, error: str, match: str, **kw: Any) -> Outcome:
    from mesh_magics import errors

    try:
        out = _load(loader, path, **kw)
    except getattr(errors, error) as e:
        assert match in str(e), f"{error} without {match!r}: {e}"
        return Outcome(f"{error}: {str(e)[:150]}")
    raise AssertionError(f"loaded {len(out.table)} rows, {out.counts()}: expected {error}")


# ------------------------------------------------------------------ Parquet


def _pq_file(ctx: Context, name: str = "t.parquet", **kw: Any) -> Path:
    path = ctx.dir / name
    _frame(**kw).to_parquet(path)
    return path


def _cut(ctx: Context, keep: Callable[[bytes], bytes]) -> Path:
    path = _pq_file(ctx)
    path.write_bytes(keep(path.read_bytes()))
    return path


def _corrupt_row_group(ctx: Context) -> Outcome:
    import pyarrow.parquet as pq

    path = ctx.dir / "t.parquet"
    _frame(4000).to_parquet(path, row_group_size=1000)
    data = bytearray(path.read_bytes())
    col = pq.ParquetFile(path).metadata.row_group(1).column(7)
    start = col.dictionary_page_offset or col.data_page_offset
    for i in range(start + 40, start + col.total_compressed_size - 8):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    out = _load("read_parquet", path)
    assert len(out.table) == 3000 and out.counts() == {"truncated": 1}, (len(out.table), out.counts())
    return _outcome(out)


def _typed(ctx: Context, **columns: Any) -> Outcome:
    df = _frame(3)
    for k, v in columns.items():
        df[k] = v
    path = ctx.dir / "t.parquet"
    df.to_parquet(path)
    out = _load("read_parquet", path)
    assert len(out.table) + len(out.bad_rows) == 3, (len(out.table), out.counts())
    return _outcome(out)


def _check(
    fn: Callable[[Context], Any], rows: int | None, counts: dict[str, int] | None
) -> Callable[[Context], Outcome]:
    """A case from ``fn(ctx) -> LoadResult`` and the rows and bad-row counts it must give."""

    def run(ctx: Context) -> Outcome:
        out = fn(ctx)
        if isinstance(out, Outcome):
            return out
        if rows is not None:
            assert len(out.table) == rows, f"{len(out.table)} rows (expected {rows}), bad {out.counts()}"
        if counts is not None:
            assert out.counts() == counts, f"bad rows {out.counts()}, expected {counts}"
        return _outcome(out)

    return run


def _decimal128(ctx: Context) -> Any:
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    df = _frame(3)
    table = pa.Table.from_pandas(df.drop(columns=["amount"]), preserve_index=False)
    # decimal128(38, 0) holds amounts below 10**38; u128::MAX has 39 digits: decimal256(39, 0)
    for name, amounts, kind in (
        ("d128.parquet", [10**38 - 1, 2**64, 7], pa.decimal128(38, 0)),
        ("d256.parquet", [2**128 - 1, 2**64, 7], pa.decimal256(39, 0)),
    ):
        column = pa.array([decimal.Decimal(a) for a in amounts], kind)
        pq.write_table(table.append_column("amount", column), ctx.dir / name)
        out = _load("read_parquet", ctx.dir / name)
        assert sorted(out.table.amount) == sorted(amounts) and out.amount_repr == "exact", out.table.amount
    return out


def _dataset_dir(ctx: Context) -> Any:
    d = ctx.dir / "ds"
    d.mkdir()
    _frame(2).to_parquet(d / "part.0.parquet")
    _frame(3).to_parquet(d / "part.1.parquet")
    (d / "_metadata").write_bytes(b"not parquet")
    (d / ".part.1.parquet.crc").write_bytes(b"\x00\x01")
    return _load("read_parquet", d)


PARQUET: dict[str, Callable[[Context], Outcome]] = {
    "empty_file": lambda ctx: _refused(
        "read_parquet", _cut(ctx, lambda b: b""), "RunesError", "not a readable Parquet"
    ),
    "half_a_file": lambda ctx: _refused(
        "read_parquet", _cut(ctx, lambda b: b[: len(b) // 2]), "RunesError", "footer"
    ),
    "footer_cut": lambda ctx: _refused(
        "read_parquet", _cut(ctx, lambda b: b[:-6]), "RunesError", "not a readable"
    ),
    "binary_garbage": lambda ctx: _refused(
        "read_parquet", _cut(ctx, lambda b: os.urandom(4096)), "RunesError", "not a readable"
    ),
    "par1_magic_around_garbage": lambda ctx: _refused(
        "read_parquet",
        _cut(ctx, lambda b: b"PAR1" + os.urandom(900) + b"PAR1"),
        "RunesError",
        "not a readable",
    ),
    "missing_file": lambda ctx: _refused("read_parquet", ctx.dir / "none.parquet", "RunesError", "no file"),
    "missing_column": lambda ctx: _refused(
        "read_parquet",
        _write(ctx, _frame().drop(columns=["receiver"])),
        "SchemaError",
        "missing ['receiver']",
    ),
    "corrupt_row_group": _corrupt_row_group,
    "float_amounts": _check(lambda ctx: _typed(ctx, amount=[1.5, 2.0, float("nan")]), None, None),
    "string_heights": _check(lambda ctx: _typed(ctx, block_height=["840000", "x", "-1"]), None, None),
    "bool_times": _check(lambda ctx: _typed(ctx, block_time=[True, False, True]), None, None),
    "int_rune_ids": _check(lambda ctx: _typed(ctx, rune_id=[1, 2, 3]), None, None),
    "bytes_txids": _check(lambda ctx: _typed(ctx, txid=[b"\x00\xff", b"", b"x" * 32]), None, None),
    "extra_columns": _check(
        lambda ctx: _load("read_parquet", _write(ctx, _frame().assign(extra=1, more="x"))), 6, {}
    ),
    "zero_rows": _check(lambda ctx: _load("read_parquet", _write(ctx, _frame().iloc[:0])), 0, {}),
    "u128_decimal_columns": _check(_decimal128, 3, {}),
    "dataset_directory": _check(_dataset_dir, 5, {}),
}


def _write(ctx: Context, df: Any, name: str = "t.parquet") -> Path:
    df.to_parquet(ctx.dir / name)
    return ctx.dir / name


def _register(prefix: str, table: dict[str, Callable[[Context], Outcome]], what: str) -> None:
    for variant, fn in table.items():

        def run(ctx: Context, fn: Callable[[Context], Outcome] = fn) -> Outcome:
            out = fn(ctx)
            return out if isinstance(out, Outcome) else _outcome(out)

        run.__name__ = f"{prefix}_{variant}"
        run.__doc__ = f"{what} with {variant.replace('_', ' ')}: a documented result or error"
        case("bad-input", quick=True)(run)


_register("read_parquet", PARQUET, "read_parquet")


# ------------------------------------------------------------------ CSV

HEADER = "block_height,block_time,txid,rune_id,operation,sender,receiver,amount"
ROW = f"840001,2024-05-01T00:00:00Z,{TXID},840000:3,mint,,bc1qx,5"


def _csv(ctx: Context, data: bytes | str, **kw: Any) -> Any:
    path = ctx.dir / "t.csv"
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return _load("read_csv", path, **kw)


def _csv_refused(data: bytes, match: str) -> Callable[[Context], Outcome]:
    def run(ctx: Context) -> Outcome:
        (ctx.dir / "t.csv").write_bytes(data)
        return _refused("read_csv", ctx.dir / "t.csv", "RunesError", match)

    return run


def _latin1_with_encoding(ctx: Context) -> Any:
    out = _csv(ctx, f"{HEADER}\n{ROW.replace('bc1qx', 'café')}\n".encode("latin-1"), encoding="latin-1")
    assert out.table.receiver.tolist() == ["café"], out.table.receiver.tolist()
    return out


def _utf16_with_encoding(ctx: Context) -> Any:
    return _csv(ctx, f"{HEADER}\n{ROW}\n{ROW}\n".encode("utf-16"), encoding="utf-16", blocksize=None)


def _quoted(ctx: Context) -> Any:
    row = ROW.replace("bc1qx", '"bc1q, with\nnewline ""and quotes"""')
    out = _csv(ctx, f"{HEADER}\n{row}\n{ROW}\n")
    assert out.table.receiver.tolist()[0] == 'bc1q, with\nnewline "and quotes"', out.table.receiver.tolist()
    return out


def _u128(ctx: Context) -> Any:
    rows = [ROW.replace(",5", f",{v}") for v in (2**128 - 1, 2**64, 2**128)]
    out = _csv(ctx, HEADER + "\n" + "\n".join(rows) + "\n")
    assert sorted(out.table.amount) == [2**64, 2**128 - 1], out.table.amount.tolist()
    return out


CSV: dict[str, Callable[[Context], Outcome]] = {
    "empty_file": _csv_refused(b"", "empty"),
    "unclosed_quote": _csv_refused(f'{HEADER}\n840001,"never closed,x\n{ROW}\n'.encode(), "quoting"),
    "latin1_bytes": _csv_refused(
        f"{HEADER}\n{ROW.replace('bc1qx', 'café')}\n".encode("latin-1"), "encoding='latin-1'"
    ),
    "utf16_bom": _csv_refused(f"{HEADER}\n{ROW}\n".encode("utf-16"), "encoding='utf-16'"),
    "binary_garbage": _csv_refused(bytes(range(128, 256)) * 20, "not UTF-8"),
    "missing_columns": lambda ctx: _refused(
        "read_csv", _csv_path(ctx, "block_height,txid\n1,2\n"), "SchemaError", "missing"
    ),
    "header_only": _check(lambda ctx: _csv(ctx, HEADER + "\n"), 0, {}),
    "extra_columns": _check(lambda ctx: _csv(ctx, f"{HEADER},extra\n{ROW},x\n{ROW},y\n"), 2, {}),
    "wrong_types": _check(
        lambda ctx: _csv(ctx, f"{HEADER}\nabc,notatime,zz,1:x,op,,,1.5\n{ROW}\n"), 1, {"bad-height": 1}
    ),
    "quoted_newlines_and_commas": _check(_quoted, 2, {}),
    "utf8_bom": _check(lambda ctx: _csv(ctx, f"{HEADER}\n{ROW}\n".encode("utf-8-sig")), 1, {}),
    "crlf_lines": _check(lambda ctx: _csv(ctx, f"{HEADER}\r\n{ROW}\r\n{ROW}\r\n"), 2, {}),
    "nul_bytes": _check(lambda ctx: _csv(ctx, f"{HEADER}\n{ROW}\n\x00\x00\x00\n"), 1, None),
    "u128_amounts": _check(_u128, 2, {"bad-amount": 1}),
    "latin1_with_encoding": _check(_latin1_with_encoding, 1, {}),
    "utf16_with_encoding": _check(_utf16_with_encoding, 2, {}),
    "short_rows": _check(lambda ctx: _csv(ctx, f"{HEADER}\n840001,2024-05-01T00:00:00Z\n{ROW}\n"), 1, None),
}


def _csv_path(ctx: Context, text: str) -> Path:
    (ctx.dir / "t.csv").write_text(text)
    return ctx.dir / "t.csv"


_register("read_csv", CSV, "read_csv")


# ------------------------------------------------------------------ a 2 GiB line

_TWO_GIB_CHILD = r"""
import json, resource, sys, time
import dask
dask.config.set(scheduler="sync")
from mesh_magics.runes.io import from_runehook
t0 = time.monotonic()
out = from_runehook(sys.argv[1], divisibility={"840000:3": 0}).compute()
try:  # this process's own peak: ru_maxrss also counts the parent's memory at the fork
    hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
except OSError:
    hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"rows": len(out.table), "counts": out.counts(), "seconds": time.monotonic() - t0,
                  "detail": out.bad_rows.detail.tolist(), "sources": out.bad_rows.source.tolist(),
                  "max_rss_mib": hwm / 1024}))
"""


@case("bad-input")
def runehook_two_gib_line(ctx: Context) -> Outcome:
    """a JSON-lines file with a 2 GiB line between good lines: skipped in bounded memory"""
    import shutil

    size = 2 * 2**30
    if shutil.disk_usage(ctx.dir).free < size + 2**30:
        raise Skip("needs 3 GiB of free disk for the 2 GiB line")
    good = '{"rune": {"id": "840000:3"}, "operation": "send", "address": "a", "receiver_address": "b", ' \
           '"amount": "5", "location": {"tx_id": "%064x", "block_height": 840001, "timestamp": 1713572400}}'  # fmt: skip
    path = ctx.dir / "two-gib.jsonl"
    block = b"x" * 2**24
    t0 = time.monotonic()
    with open(path, "wb") as f:
        f.write(
            (good % 1).encode() + b"\n" + b'{"rune": {"id": "840000:3"}, "operation": "send", "address": "'
        )
        for _ in range(size // len(block)):
            f.write(block)
        f.write(b'"}\n' + (good % 2).encode() + b"\n" + (good % 3).encode() + b"\n")
    written = time.monotonic() - t0
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _TWO_GIB_CHILD, str(path)],
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    finally:
        path.unlink()
    assert proc.returncode == 0, f"the loader's process ended with {proc.returncode}: {proc.stderr[-2000:]}"
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["rows"] == 3 and got["counts"] == {"too-large": 1}, got
    assert got["sources"][0].endswith(":2"), got["sources"]
    assert got["max_rss_mib"] < 1024, f"peak memory {got['max_rss_mib']:.0f} MiB for a skipped line"
    return Outcome(
        f"2 GiB line (written in {written:.0f} s, deleted after): skipped as too-large in {got['seconds']:.1f} s, "
        f"peak RSS {got['max_rss_mib']:.0f} MiB; the 3 good lines around it loaded",
        got,
    )

"""Bad-input cases: every loader with corrupt and hostile files, the decoder with random scripts.

Each case writes real files into its directory and loads them (the synchronous scheduler
reads them in this process: the code is the one the workers run; one case repeats the
hostile files on a real LocalCluster). Every case ends in a documented result (rows, and
bad rows with a reason of ``REASONS``) or a documented error of the MeshError tree, and
the figure says which. The JSON families are here; Parquet, CSV, the 2 GiB line and the
decoder are in :mod:`._input_files` and :mod:`._input_decoder`.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import Context, Outcome, case

__all__: list[str] = []

TXID = "ab" * 32
#: an etching of DOGGOTOTHEMOON with a premine of 1000 (see decode_transactions' docstring)
PREMINE = "6a5d1002010487a1c3f0c0ebf7fb9d0106e807"


@dataclass(frozen=True)
class Fmt:
    """A JSON loader and one document of its format (``@N@`` a number, ``@T@`` a text)."""

    name: str
    template: str
    values: str | None  # the column that holds the number, when it is an amount

    def line(self, i: int, number: Any = 5, text: str = "x") -> str:
        return (
            self.template.replace("@I@", str(i))
            .replace("@H@", f"{i:064x}")
            .replace("@N@", str(number))
            .replace("@T@", text)
        )

    def load(self, path: Any) -> Any:
        from mesh_magics.runes import io

        loader: Callable[[Any], Any] = {
            "ord_runes": io.from_ord_runes,
            "ord_outputs": io.from_ord_outputs,
            "runehook": io.from_runehook,
            "bitcoin_etl": io.from_bitcoin_etl,
        }[self.name]
        return loader(path).compute()


FORMATS = [
    Fmt(
        "ord_outputs",
        f'{{"outpoint": "{TXID}:@I@", "address": "bc1q@T@", "runes": {{"DOG•GO•TO•THE•MOON": {{"amount": @N@}}}}}}',
        "amount",
    ),
    Fmt(
        "ord_runes",
        '{"id": "840000:@I@", "entry": {"spaced_rune": "DOG•GO•TO•THE•MOON", "divisibility": 0, '
        '"premine": @N@, "mints": 0, "symbol": "@T@"}}',
        "supply",
    ),
    Fmt(
        "runehook",
        '{"rune": {"id": "840000:3"}, "operation": "send", "address": "a@T@", "receiver_address": "b", '
        '"amount": @N@, "location": {"tx_id": "@H@", "block_height": 840001, "timestamp": 1713572400}}',
        "amount",
    ),
    Fmt(
        "bitcoin_etl",
        '{"hash": "@H@", "block_number": 840001, "block_timestamp": 1713572400, "index": @I@, "outputs": ['
        f'{{"index": 0, "script_hex": "{PREMINE}", "addresses": [], "value": 0}}, '
        '{"index": 1, "script_hex": "0014' + "11" * 20 + '", "addresses": ["bc1q@T@"], "value": @N@}]}',
        None,  # the number is an output's value in sats: the decoder does not read it
    ),
]


def _lines(f: Fmt, second: str | None = None, **kw: Any) -> list[str]:
    """Three documents, ids 1..3; the second one changed by ``kw`` or replaced by ``second``."""
    lines = [f.line(1), f.line(2, **kw) if second is None else second, f.line(3)]
    return lines


def _doc(f: Fmt, lines: list[str]) -> str:
    """The documents as one pretty-printed JSON array (a whole-file document)."""
    return (
        "[\n" + ",\n".join(json.dumps(json.loads(ln), indent=1, ensure_ascii=False) for ln in lines) + "\n]\n"
    )


# A variant: (file name, bytes) from a format, and the rows and bad-row counts it must give
# (``None`` for "any"; a callable gets the result and asserts what it must).
Expect = tuple[int | None, dict[str, int] | Callable[[Any], None]]


def _garbage(f: Fmt) -> bytes:
    import numpy as np

    return np.random.default_rng(14).integers(0, 256, 30_000, dtype=np.uint8).tobytes()


def _only(*reasons: str) -> Callable[[Any], None]:
    def check(out: Any) -> None:
        counts = out.counts()
        assert counts and set(counts) <= set(reasons), counts

    return check


def _gzip_cut(f: Fmt) -> bytes:
    data = gzip.compress("\n".join(f.line(i) for i in range(1, 4001)).encode())
    return data[: len(data) // 2]


def _gzip_check(out: Any) -> None:
    counts = out.counts()
    assert counts.get("truncated") == 1 and counts.get("bad-json", 0) <= 1, counts
    assert 0 < len(out.table) < 4000, len(out.table)


def _amount_is(value: int) -> Callable[[Fmt, Any], None]:
    def check(f: Fmt, out: Any) -> None:
        if f.values is not None:
            got = sorted(out.table[f.values].tolist())
            assert value in got and all(type(v) is int for v in got), got

    return check


def _variants(f: Fmt) -> dict[str, tuple[str, Callable[[], bytes], Expect, Any]]:
    """name -> (file name, the bytes, expected (rows, counts), an extra check or None)."""
    j = "\n".join
    amount_reason = {} if f.values is None else {"bad-amount": 1}
    rows_if_amount = 3 if f.values is None else 2
    out: dict[str, tuple[str, Callable[[], bytes], Expect, Any]] = {
        "empty": ("x.json", lambda: b"", (0, {}), None),
        "blank_lines": ("x.jsonl", lambda: b"\n  \n\t\r\n\n", (0, {}), None),
        "binary_garbage": ("x.json", lambda: _garbage(f), (0, _only("bad-encoding", "bad-json")), None),
        "nul_bytes": ("x.json", lambda: b"\x00" * 64, (0, {"bad-json": 1}), None),
        "latin1_line": (
            "x.jsonl",
            lambda: b"\n".join(
                [f.line(1).encode(), f.line(2, text="\xe9").encode("latin-1", "replace"), f.line(3).encode()]
            ),
            (2, {"bad-encoding": 1}),
            None,
        ),
        "utf8_bom": ("x.jsonl", lambda: j(_lines(f)).encode("utf-8-sig"), (3, {}), None),
        "utf16_bom": ("x.jsonl", lambda: j(_lines(f)).encode("utf-16"), (3, {}), None),
        "utf32_bom": ("x.jsonl", lambda: j(_lines(f)).encode("utf-32"), (3, {}), None),
        "crlf_lines": ("x.jsonl", lambda: "\r\n".join(_lines(f)).encode(), (3, {}), None),
        "u64_plus_one": ("x.jsonl", lambda: j(_lines(f, number=2**64)).encode(), (3, {}), _amount_is(2**64)),
        "u128_max": (
            "x.jsonl",
            lambda: j(_lines(f, number=2**128 - 1)).encode(),
            (3, {}),
            _amount_is(2**128 - 1),
        ),
        "u128_plus_one": (
            "x.jsonl",
            lambda: j(_lines(f, number=2**128)).encode(),
            (rows_if_amount, amount_reason),
            None,
        ),
        "float_amount": (
            "x.jsonl",
            lambda: j(_lines(f, number="5.5")).encode(),
            (rows_if_amount, amount_reason)
            if f.name != "runehook"
            else (3, {}),  # runehook amounts are decimals
            None,
        ),
        "nan": ("x.jsonl", lambda: j(_lines(f, number="NaN")).encode(), (2, {"bad-json": 1}), None),
        "infinity": (
            "x.jsonl",
            lambda: j(_lines(f, number="-Infinity")).encode(),
            (2, {"bad-json": 1}),
            None,
        ),
        "duplicate_key": (
            "x.jsonl",
            lambda: j(_lines(f, second=f.line(2)[:-1] + ', "k": 1, "k": 2}')).encode(),
            (2, {"bad-json": 1}),
            None,
        ),
        "deep_nesting": (
            "x.jsonl",
            lambda: j(_lines(f, second="[" * 100_000 + "]" * 100_000)).encode(),
            (2, {"bad-json": 1}),
            None,
        ),
        "huge_integer": (
            "x.jsonl",
            lambda: j(_lines(f, number="1" + "0" * 5000)).encode(),
            (2, {"bad-json": 1}),
            None,
        ),
        "lone_surrogate": (
            "x.jsonl",
            lambda: j(_lines(f, text="\\ud800")).encode(),
            (2, {"bad-encoding": 1}),
            None,
        ),
        "truncated_line": (
            "x.jsonl",
            lambda: j(_lines(f))[: -len(f.line(3)) // 2].encode(),
            (2, {"bad-json": 1}),
            None,
        ),
        "whole_document": ("x.json", lambda: _doc(f, _lines(f)).encode(), (3, {}), None),
        "truncated_document": (
            "x.json",
            lambda: _doc(f, _lines(f))[:-40].encode(),
            (0, {"bad-json": 1}),
            None,
        ),
        "truncated_gzip": ("x.jsonl.gz", lambda: _gzip_cut(f), (None, _gzip_check), None),
        "wrong_shapes": ("x.jsonl", lambda: b'42\nnull\n"text"\n[1, 2]', (0, {"bad-json": 5}), None),
    }
    if f.name in ("ord_outputs", "ord_runes"):
        envelope = '{"jsonrpc": "2.0", "id": 7, "error": {"code": -32000, "message": "boom"}}'
        out["rpc_error"] = (
            "x.jsonl",
            lambda: j(_lines(f, second=envelope)).encode(),
            (2, {"rpc-error": 1}),
            None,
        )
    return out


def _json_case(
    f: Fmt, variant: str, name: str, make: Callable[[], bytes], expect: Expect, extra: Any
) -> None:
    def fn(ctx: Context) -> Outcome:
        import dask

        path = ctx.dir / name
        path.write_bytes(make())
        with dask.config.set(scheduler="sync"):
            out = f.load(path)
        rows, counts = expect
        got = out.counts()
        if rows is not None:
            assert len(out.table) == rows, f"{len(out.table)} rows, expected {rows}; bad rows {got}"
        if callable(counts):
            counts(out)
        else:
            assert got == counts, f"bad rows {got}, expected {counts}"
        if extra is not None:
            extra(f, out)
        detail = "" if out.bad_rows.empty else f": {out.bad_rows.detail.iloc[0][:80]}"
        return Outcome(f"{len(out.table)} rows, bad rows {got or 'none'}{detail}")

    fn.__name__ = f"{f.name}_{variant}"
    fn.__doc__ = f"{f.name} with a file of {variant.replace('_', ' ')}: a documented result"
    case("bad-input", quick=True)(fn)


for _f in FORMATS:
    for _variant, (_name, _make, _expect, _extra) in _variants(_f).items():
        _json_case(_f, _variant, _name, _make, _expect, _extra)


def _long_line_case(f: Fmt) -> None:
    def fn(ctx: Context) -> Outcome:
        import dask

        from mesh_magics.runes.io import reader

        path = ctx.dir / "x.jsonl"
        long = f.line(2, text="y" * 300_000)
        path.write_text("\n".join([f.line(1), long, f.line(3)]))
        old = reader.MAX_DOCUMENT_BYTES
        reader.MAX_DOCUMENT_BYTES = 100_000  # the limit scaled down; the 2 GiB case uses the real one
        try:
            with dask.config.set(scheduler="sync"):
                out = f.load(path)
        finally:
            reader.MAX_DOCUMENT_BYTES = old
        assert len(out.table) == 2 and out.counts() == {"too-large": 1}, (len(out.table), out.counts())
        return Outcome("a 300 kB line over a 100 kB limit: skipped (too-large), the 2 lines around it loaded")

    fn.__name__ = f"{f.name}_line_over_the_limit"
    fn.__doc__ = f"{f.name}: a line over MAX_DOCUMENT_BYTES is skipped without being held"
    case("bad-input", quick=True)(fn)


for _f in FORMATS:
    _long_line_case(_f)


@case("bad-input", quick=True)
def loaders_missing_file(ctx: Context) -> Outcome:
    """a path that does not exist: RunesError naming it, from every JSON loader"""
    import dask

    from mesh_magics.errors import RunesError

    said = []
    for f in FORMATS:
        with dask.config.set(scheduler="sync"):
            try:
                f.load(ctx.dir / "nope" / "x.json")
            except RunesError as e:
                assert "nope" in str(e), e
                said.append(f.name)
    assert len(said) == len(FORMATS), said
    return Outcome(f"{len(said)} loaders: RunesError naming the path")


@case("bad-input")
def hostile_files_on_real_workers(ctx: Context) -> Outcome:
    """the hostile ord /output files on a real 2-worker LocalCluster: same results, no worker lost"""
    from distributed import Client, LocalCluster

    f = FORMATS[0]
    variants = _variants(f)
    paths = {}
    for variant, (name, make, _, _) in variants.items():
        (ctx.dir / variant).mkdir()
        paths[variant] = ctx.dir / variant / name
        paths[variant].write_bytes(make())
    with LocalCluster(
        n_workers=2, threads_per_worker=1, dashboard_address=None, memory_limit="1GiB"
    ) as cluster:
        with Client(cluster) as client:
            before = set(client.nthreads())
            got = {v: (len(out.table), out.counts()) for v, out in ((v, f.load(p)) for v, p in paths.items())}
            after = set(client.nthreads())
    wrong = {}
    for variant, (_, _, (rows, counts), _) in variants.items():
        n, c = got[variant]
        if (rows is not None and n != rows) or (not callable(counts) and c != counts):
            wrong[variant] = got[variant]
    assert not wrong, wrong
    assert before == after, f"workers changed: {before} -> {after}"
    return Outcome(
        f"{len(paths)} hostile files read on 2 worker processes: all as documented, 0 workers lost"
    )


from . import _input_decoder, _input_files  # noqa: E402,F401 - register their cases

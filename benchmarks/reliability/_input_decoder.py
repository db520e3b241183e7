"""Bad-input cases on the runestone decoders (registered by :mod:`.input_cases`).

The bulk is generated with numpy (tag/value payloads with u128-sized values and
unterminated varints, random payloads behind the magic, pushes cut short, other
OP_RETURNs, payment scripts, random bytes) and goes through
:func:`~mesh_magics.runes.decode.decode_scripts` in one call; a seeded sample is checked
against the reference :func:`~mesh_magics.runes.protocol.runestone.decipher`. Hypothesis
draws the shapes the bulk is unlikely to hit.
"""

from __future__ import annotations

import re
import time
from typing import Any

from . import Context, Outcome, case

__all__: list[str] = []

_TAGS = [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 1, 3, 5, 7, 9, 11, 13, 126, 127, 24, 2**14]
_MINT = re.compile(r"[0-9]+:[0-9]+")


def _varints(values: list[int]) -> bytes:
    out = bytearray()
    for v in values:
        while True:
            b, v = v & 0x7F, v >> 7
            out.append(b | 0x80 if v else b)
            if not v:
                break
    return bytes(out)


def random_scripts(n: int, seed: int) -> list[str]:
    """``n`` hex scripts of many shapes (see the module docstring), reproducible by ``seed``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    shape = rng.integers(0, 10, n)
    lens = rng.integers(0, 12, n)
    raw = rng.integers(0, 256, (n, 40), dtype=np.uint8)
    vals = rng.integers(0, 2**20, (n, 12)).tolist()
    big = (rng.random((n, 12)) < 0.05).tolist()
    tags = rng.integers(0, len(_TAGS), (n, 12)).tolist()
    out = []
    for i in range(n):
        s, k, r = int(shape[i]), int(lens[i]), raw[i]
        if s <= 4:  # tag/value pairs, some values past u64 and u128, edicts after a body tag
            seq: list[int] = []
            for j in range(k // 2):
                seq += [_TAGS[tags[i][j]], vals[i][j] << 100 if big[i][j] else vals[i][j]]
            if s == 4:
                seq += [0, *vals[i][: k % 8]]
            data = _varints(seq) + (b"\x80" if r[0] < 20 else b"")  # some end in an unterminated varint
            push = bytes([len(data)]) + data if len(data) <= 75 else b"\x4c" + bytes([len(data)]) + data
            b = b"\x6a\x5d" + push + (b"" if r[1] > 30 else r[2:4].tobytes())
        elif s <= 6:
            b = b"\x6a\x5d" + r[: k * 3].tobytes()  # random bytes behind the magic
        elif s == 7:
            b = b"\x6a" + r[:k].tobytes()  # another OP_RETURN
        elif s == 8:
            b = b"\x00\x14" + r[:20].tobytes()  # a payment
        else:
            b = r[: k * 3].tobytes()
        out.append(b.hex())
    return out


def _reference(script: str, n_outputs: int) -> tuple[str, str | None, int, str | None]:
    from mesh_magics.runes.protocol.runestone import Cenotaph, decipher

    art = decipher([script, *([None] * (n_outputs - 1))])
    if art is None:
        return "none", None, 0, None
    mint = None if art.mint is None else f"{art.mint[0]}:{art.mint[1]}"
    if isinstance(art, Cenotaph):
        return "cenotaph", art.flaw, 0, mint
    return "runestone", None, len(art.edicts), mint


def _documented(frame: Any) -> dict[str, int]:
    """Asserts every row is a documented outcome; returns the counts of kinds."""
    import pandas as pd

    from mesh_magics.runes.protocol.runestone import FLAWS

    kinds = frame["kind"].value_counts().to_dict()
    assert set(kinds) <= {"none", "runestone", "cenotaph"}, kinds
    flawed = frame["flaw"].notna()
    assert (flawed == (frame["kind"] == "cenotaph")).all(), "a flaw without a cenotaph, or a cenotaph without"
    assert set(frame.loc[flawed, "flaw"]) <= set(FLAWS), set(frame.loc[flawed, "flaw"]) - set(FLAWS)
    assert (frame["edicts"] >= 0).all() and (frame.loc[frame["kind"] != "runestone", "edicts"] == 0).all()
    mints = frame["mint"].dropna()
    assert all(_MINT.fullmatch(m) for m in mints), mints[:5]
    assert not pd.isna(frame["kind"]).any()
    return {str(k): int(v) for k, v in kinds.items()}


@case("bad-input", quick=True)
def decoder_random_scripts(ctx: Context) -> Outcome:
    """1,000,000 random scripts through decode_scripts: no exception, every row documented, equal to decipher"""
    import numpy as np
    import pandas as pd

    from mesh_magics.runes.decode import decode_scripts

    n, sample, n_outputs = (50_000, 2_000, 4) if ctx.quick else (1_000_000, 20_000, 4)
    t0 = time.monotonic()
    scripts = random_scripts(n, seed=7)
    made = time.monotonic() - t0
    t0 = time.monotonic()
    frame = decode_scripts(pd.Series(scripts, dtype="string"), n_outputs)
    decoded = time.monotonic() - t0
    kinds = _documented(frame)
    assert len(frame) == n
    picks = np.random.default_rng(1).choice(n, sample, replace=False).tolist()
    rows = frame.iloc[picks]
    disagree = []
    for i, kind, flaw, edicts, mint in zip(picks, rows["kind"], rows["flaw"], rows["edicts"], rows["mint"]):
        got = (kind, None if pd.isna(flaw) else flaw, int(edicts), None if pd.isna(mint) else mint)
        if got != _reference(scripts[i], n_outputs):
            disagree.append((scripts[i], got, _reference(scripts[i], n_outputs)))
    assert not disagree, f"{len(disagree)} of {sample} differ from decipher, e.g. {disagree[:2]}"
    flaws = frame["flaw"].value_counts().to_dict()
    return Outcome(
        f"{n:,} random scripts: 0 exceptions, {kinds.get('runestone', 0):,} runestones, "
        f"{kinds.get('cenotaph', 0):,} cenotaphs ({len(flaws)} flaws), {kinds.get('none', 0):,} none, "
        f"{int(frame['mint'].notna().sum()):,} mints; 100% agree with decipher on {sample:,}; "
        f"decoded in {decoded:.1f} s (generated in {made:.1f} s)",
        {"kinds": kinds, "flaws": {str(k): int(v) for k, v in flaws.items()}, "seconds": decoded},
    )


@case("bad-input", quick=True)
def decoder_hypothesis_shapes(ctx: Context) -> Outcome:
    """hypothesis-drawn columns of runestone shapes: the vectorised pass equals the reference, all documented"""
    import pandas as pd
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from mesh_magics.errors import RunesError
    from mesh_magics.runes.decode import decode_scripts
    from mesh_magics.runes.protocol import script as _script

    edges = [0, 1, 2, 20, 22, 127, 128, 2**32 - 1, 2**32, 2**63, 2**64 - 1, 2**64, 2**128 - 1, 2**128, 2**130]
    ints = st.one_of(st.sampled_from(edges), st.integers(0, 3000), st.integers(0, 2**140))

    @st.composite
    def scripts(draw: Any) -> str | None:
        values = draw(st.lists(st.one_of(st.sampled_from(_TAGS), ints), max_size=24))
        data = _varints(values)
        cut = draw(
            st.sampled_from(
                [None, None, None, "unterminated", "overlong", "short-push", "two-pushes", "opcode"]
            )
        )
        if cut == "unterminated":
            data += b"\xff"
        elif cut == "overlong":
            data += b"\x80" * 19 + b"\x01"  # a varint longer than u128
        push = _script.push_data(data)
        if cut == "short-push":
            push = push[:-1]
        elif cut == "two-pushes":
            push += _script.push_data(b"\x00")
        elif cut == "opcode":
            push += b"\x51"
        if draw(st.booleans()) and len(data) < 0xFF:
            push = bytes([0x4C, len(data)]) + data
        script = (b"\x6a\x5d" + push).hex()
        return draw(st.sampled_from([script, script, script, script.upper(), None, ""]))

    seen = {"examples": 0, "rows": 0}
    examples = 300 if ctx.quick else 3000

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(scripts(), min_size=1, max_size=30), st.integers(1, 5))
    def check(column: list[str | None], n_outputs: int) -> None:
        s = pd.Series(column, dtype="string")
        try:
            want = decode_scripts(s, n_outputs, vectorised=False)
        except RunesError:
            raise AssertionError(f"a well-formed hex column was refused: {column}") from None
        got = decode_scripts(s, n_outputs)
        pd.testing.assert_frame_equal(got, want)
        _documented(got)
        seen["examples"] += 1
        seen["rows"] += len(column)

    check()
    return Outcome(f"{seen['examples']} hypothesis columns ({seen['rows']} scripts, u128 edges, cut pushes, overlong "
                   "varints): vectorised == reference, every row documented")  # fmt: skip


@case("bad-input", quick=True)
def decoder_random_transactions(ctx: Context) -> Outcome:
    """random transactions through decode_transactions: no exception, only documented events and flaws"""
    import numpy as np
    import pandas as pd

    from mesh_magics.runes.decode import decode_transactions
    from mesh_magics.runes.protocol import script as _script
    from mesh_magics.runes.protocol.runestone import FLAWS

    n = 2_000 if ctx.quick else 50_000
    rng = np.random.default_rng(3)
    scripts = random_scripts(n, seed=11)
    # and well-formed messages with random numbers: mints, edicts (outputs past the end too),
    # etchings with a premine and a pointer, so that every event kind occurs
    for i in rng.choice(n, n // 2, replace=False).tolist():
        b, t, amt, out = (int(x) for x in rng.integers(0, 900_000, 4))
        values = [
            [20, 840_000 + b % 5000, 20, t % 100],
            [0, 840_000 + b % 5000, t % 100, amt, out % 7, 0, 1, amt % 3, out % 5],
            [2, 1, 4, 2**67 + b, 6, amt * 10**20, 22, out % 4],
            [2, 3, 4, b + 1, 6, amt, 10, t, 8, 2**64 + out, 22, 0],
        ][i % 4]
        scripts[i] = (b"\x6a\x5d" + _script.push_data(_varints(values))).hex()
    pay = "0014" + "22" * 20
    outs = []
    for i in range(n):
        k = int(rng.integers(1, 6))
        where = int(rng.integers(0, k))
        outs.append([scripts[i] if j == where else (pay if rng.random() < 0.8 else "6a") for j in range(k)])
    txs = pd.DataFrame(
        {
            "txid": pd.Series([f"{i:064x}" for i in range(n)], dtype="string"),
            "block_height": rng.integers(840_000, 900_000, n),
            "block_time": pd.Timestamp("2024-05-01", tz="UTC"),
            "tx_index": rng.integers(0, 4000, n),
            "scripts": outs,
            "addresses": [
                [None if s.startswith("6a") else f"bc1q{i}" for s in o] for i, o in enumerate(outs)
            ],
        }
    )
    t0 = time.monotonic()
    events = decode_transactions(txs)
    took = time.monotonic() - t0
    assert set(events["event"]) <= {"premine", "edict", "mint_request", "cenotaph"}, set(events["event"])
    assert set(events["operation"]) <= {"etching", "mint", "send", "burn"}, set(events["operation"])
    assert set(events["flaw"].dropna()) <= set(FLAWS)
    assert events["needs_ledger"].dtype == bool
    assert all(a is None or pd.isna(a) or (isinstance(a, int) and 0 <= a < 2**128) for a in events["amount"])
    counts = events["event"].value_counts().to_dict()
    return Outcome(f"{n:,} random transactions ({len(events):,} events {counts}) in {took:.1f} s: 0 exceptions, "
                   "only documented events, operations and flaws")  # fmt: skip


@case("bad-input", quick=True)
def decoder_bad_hex_and_empty(ctx: Context) -> Outcome:
    """a column with malformed hex is a RunesError naming the script (both paths); empty and null are none"""
    import pandas as pd

    from mesh_magics.errors import RunesError
    from mesh_magics.runes.decode import decode_scripts

    ok = decode_scripts(pd.Series([None, "", "00", "6a"], dtype="string"))
    assert ok["kind"].tolist() == ["none"] * 4, ok
    said = []
    for bad in ("6a5d0", "6a5dzz", "6a5d\u00e9e9"):
        s = pd.Series(["6a5d00", bad], dtype="string")
        msgs = []
        for vectorised in (True, False):
            try:
                decode_scripts(s, vectorised=vectorised)
            except RunesError as e:
                msgs.append(str(e))
        assert len(msgs) == 2 and msgs[0] == msgs[1] and bad[:6] in msgs[0], msgs
        said.append(bad)
    return Outcome(
        f"null/empty/short scripts: none; {len(said)} malformed hex scripts: RunesError naming each, same on both paths"
    )


@case("bad-input", quick=True)
def decoder_huge_scripts(ctx: Context) -> Outcome:
    """scripts of 10 kB to 1 MB (PUSHDATA4, a 1 MB varint run, a push claiming 4 MiB) decode to documented rows"""
    import pandas as pd

    from mesh_magics.runes.decode import decode_scripts
    from mesh_magics.runes.protocol import script as _script

    big = [
        (b"\x6a\x5d" + _script.push_data(b"\x01" * 10_000)).hex(),
        (b"\x6a\x5d" + _script.push_data(_varints([20, 840_000, 20, 1] * 25_000))).hex(),
        (b"\x6a\x5d" + b"\x4e" + (2**20).to_bytes(4, "little") + b"\x80" * 2**20).hex(),
        (b"\x6a\x5d" + b"\x4e" + (2**22).to_bytes(4, "little") + b"\x00").hex(),  # claims 4 MiB, has 1 byte
        (b"\x6a\x5d" + bytes(range(256)) * 4000).hex(),
    ]
    t0 = time.monotonic()
    frame = decode_scripts(pd.Series(big, dtype="string"), 2)
    kinds = _documented(frame)
    for script, flaw in zip(big, frame["flaw"]):
        assert _reference(script, 2)[1] == (None if pd.isna(flaw) else flaw)
    return Outcome(f"{len(big)} scripts up to {max(map(len, big)) // 2 // 2**10} KiB: {kinds}, flaws "
                   f"{frame['flaw'].dropna().tolist()}, equal to decipher, {time.monotonic() - t0:.1f} s")  # fmt: skip

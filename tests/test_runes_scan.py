"""decode_scripts (vectorised prefilter + decipher) agrees with decode_outputs script by script."""

from __future__ import annotations

import pandas as pd

from mesh_magics.runes import decode_outputs
from mesh_magics.runes.decode.scan import decode_scripts
from mesh_magics.runes.protocol import script as _script
from mesh_magics.runes.protocol import varint as _varint


def rs(*ints: int) -> str:
    return (b"\x6a\x5d" + _script.push_data(b"".join(_varint.encode(i) for i in ints))).hex()


SCRIPTS = [
    rs(20, 840_000, 20, 3), rs(0, 840_000, 3, 5, 0), rs(2, 1, 4, 99, 6, 1000), rs(126, 0), rs(0, 1, 2),
    "6a5d01ff", "6A5D0b00", "6a5d", "6a04deadbeef", "0014" + "11" * 20, "", None, "6a5dff",
]  # fmt: skip


def test_matches_decode_outputs():
    got = decode_scripts(pd.Series(SCRIPTS, dtype="string", index=range(10, 10 + len(SCRIPTS))))
    assert list(got.index) == list(range(10, 10 + len(SCRIPTS)))
    for script, row in zip(SCRIPTS, got.itertuples()):
        want = decode_outputs([script or ""])
        assert row.kind == want["kind"], script
        if want["kind"] == "cenotaph":
            assert row.flaw == want["flaws"][0]
        if want["kind"] == "runestone":
            assert row.edicts == len(want["edicts"])
        if want["kind"] != "none":
            assert (None if pd.isna(row.mint) else row.mint) == want["mint"]

"""The Runes protocol itself, in pure Python: names, varints, scripts, runestones.

=================  ==============================================================
module             what it holds
=================  ==============================================================
:mod:`.names`      rune names, spaced names, rune ids, the minimum name per height
:mod:`.varint`     the protocol's LEB128 u128 varints
:mod:`.script`     Bitcoin script instructions, the runestone payload
:mod:`.runestone`  ord's decoder: :func:`decipher`, :func:`decode_outputs`
=================  ==============================================================

This is the reference the columnar decoders (:mod:`mesh_magics.runes.decode`)
are tested against; it works on Python ints and bytes, one transaction at a
time.

Import rule: the standard library and :mod:`mesh_magics.errors` only (no
numpy, pandas, pyarrow or dask, and no other part of :mod:`mesh_magics`), so
the protocol can be read, tested and reused on its own.
"""

from __future__ import annotations

from .names import (
    MAX_SPACERS,
    RESERVED_RUNE,
    SPACER,
    U128_MAX,
    format_rune_id,
    format_spaced_rune,
    minimum_rune_at_height,
    parse_rune_id,
    parse_spaced_rune,
    rune_name,
    rune_number,
)
from .runestone import (
    FLAW_SERDE,
    FLAWS,
    Cenotaph,
    Edict,
    Etching,
    Runestone,
    Terms,
    decipher,
    decode_many,
    decode_outputs,
    runestone_output,
    to_json,
)

__all__ = [
    "FLAWS",
    "FLAW_SERDE",
    "MAX_SPACERS",
    "RESERVED_RUNE",
    "SPACER",
    "U128_MAX",
    "Cenotaph",
    "Edict",
    "Etching",
    "Runestone",
    "Terms",
    "decipher",
    "decode_many",
    "decode_outputs",
    "format_rune_id",
    "format_spaced_rune",
    "minimum_rune_at_height",
    "parse_rune_id",
    "parse_spaced_rune",
    "rune_name",
    "rune_number",
    "runestone_output",
    "to_json",
]

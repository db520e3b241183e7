"""Columnar runestone decoders: whole columns of scripts, frames of transactions.

=================  ==============================================================
module             what it holds
=================  ==============================================================
:mod:`.scan`       :func:`decode_scripts`: per output script, kind, flaw, edicts,
                   mint (Arrow prefilter, then the vectorised fast scan)
:mod:`.fastscan`   the numpy decoder of the common runestone shapes (internal)
:mod:`.batch`      :func:`decode_transactions`: transactions to stateless transfer
                   events, partition by partition on the workers
=================  ==============================================================

Both decoders defer to the pure-Python reference in
:mod:`mesh_magics.runes.protocol` for anything unusual, and are tested against it.

Import rule: numpy, pandas and pyarrow; :mod:`mesh_magics.errors`,
:mod:`mesh_magics.runes.protocol` and :mod:`mesh_magics.runes.tables`. Never
the loaders (:mod:`mesh_magics.runes.io`) or the whale suite
(:mod:`mesh_magics.runes.whale`): the loaders call the decoders, not the other
way round.
"""

from __future__ import annotations

from .batch import DECODED_COLUMNS, FIRST_RUNE_HEIGHT, INPUT_COLUMNS, decode_transactions
from .scan import SCAN_COLUMNS, decode_scripts

__all__ = [
    "DECODED_COLUMNS",
    "FIRST_RUNE_HEIGHT",
    "INPUT_COLUMNS",
    "SCAN_COLUMNS",
    "decode_scripts",
    "decode_transactions",
]

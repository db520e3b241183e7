"""The Runes ledger with ord's exact rules: from chain tables to runes, balances, transfers.

=================  ==============================================================
module             what it holds
=================  ==============================================================
:mod:`.rules`      ord's rule helpers: activation, names, commitment, mint terms,
                   the genesis rune
:mod:`.reference`  the reference ledger: ord's ``rune_updater`` in plain Python, one
                   transaction at a time (the oracle)
:mod:`.flows`      sender attribution (first in, first out) for ``transfers``
:mod:`.tables`     the result tables and :class:`LedgerResult`
:mod:`.blocks`     :func:`index_blocks`: block lists in memory, by the reference
:mod:`.mesh`       :func:`index_chain`: the ledger on the mesh
:mod:`.partitions` the chain tables by height: partitions, ranges, windows read
:mod:`.state`      :class:`LedgerState`: where a mesh ledger stopped; save, load
:mod:`.prepare`    per height range: decode, local etching checks, the spend map
:mod:`.groupby`    first etching per name, mint validity by rank below the cap
:mod:`.replay`     the balance replay per range and rune partition
:mod:`.resolve`    txids and addresses for the replay's positions, the result frames
:mod:`.testchain`  block lists in ord's test-harness shapes (tests, benchmarks)
:mod:`.synthchain` random chains with mainnet-like runes activity
:mod:`.gcpause`    the cyclic GC paused around allocation-heavy steps
=================  ==============================================================

Import rule (``tests/test_layers.py``): numpy, pandas, pyarrow, dask and distributed;
:mod:`mesh_magics.errors`, :mod:`mesh_magics.runes.protocol`, ``.tables`` and ``.decode``,
and of the chain package :mod:`mesh_magics.chain.format` plus the in-memory tables
(:mod:`mesh_magics.chain.schema`, :mod:`mesh_magics.chain.blocklist`), which
:func:`index_blocks` builds its input with.
"""

from __future__ import annotations

from .blocks import index_blocks
from .mesh import index_chain
from .reference import Ledger, run_reference
from .state import LedgerState
from .tables import LedgerResult

__all__ = ["Ledger", "LedgerResult", "LedgerState", "index_blocks", "index_chain", "run_reference"]

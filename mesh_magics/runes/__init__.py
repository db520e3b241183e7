"""Bitcoin Runes on dask.dataframe: decoding, canonical tables, loaders, a
synthetic ledger and the whale suite (pandas on CPU, cuDF on GPU).

Everything here works from plain Python with any Dask client; heavy modules are
imported on first use: ``import mesh_magics.runes`` imports nothing but this
file, and each public name below loads its sub-package when first touched.

=================  ==============================================================
sub-package        responsibility (import rule in its ``__init__`` docstring)
=================  ==============================================================
:mod:`.protocol`   the Runes protocol in pure Python: names, varints, scripts,
                   runestones (ord's decoder, the reference)
:mod:`.tables`     the canonical ``transfers`` / ``runes`` tables: columns,
                   dtypes, the one amount parser, coercion, validation
:mod:`.decode`     columnar decoders: output scripts, frames of transactions
:mod:`.io`         the loaders (Parquet, CSV, ord, runehook, bitcoin-etl)
:mod:`.synth`      the deterministic synthetic ledger
:mod:`.whale`      the six whale queries behind one engine interface
:mod:`.ledger`     the ledger with ord's rules: chain tables to runes, balances,
                   transfers, events (reference and mesh)
:mod:`.tip`        following a node's tip: the ledger kept current, whale alerts
=================  ==============================================================

Layers only import downwards: ``protocol`` (standard library and
:mod:`mesh_magics.errors`) and ``tables`` are the bottom; ``decode`` uses
them; ``io`` uses those three; ``synth`` uses ``protocol`` and ``tables``;
``whale`` uses ``tables`` only; ``ledger`` uses ``protocol``, ``tables``,
``decode`` and the chain package's formats and in-memory tables; ``tip`` uses
``ledger`` and the chain package's sources and readers. Nothing in
:mod:`mesh_magics.runes` imports the notebook side (IPython, widgets, the
dashboard, the server, the store, the core of the mesh).
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> the sub-package that exports it (imported lazily)
_EXPORTS: dict[str, str] = {
    # names and ids
    "rune_name": "protocol",
    "rune_number": "protocol",
    "parse_spaced_rune": "protocol",
    "format_spaced_rune": "protocol",
    "parse_rune_id": "protocol",
    "format_rune_id": "protocol",
    # decoding
    "decode_outputs": "protocol",
    "decode_transactions": "decode",
    # tables
    "TRANSFERS_COLUMNS": "tables",
    "RUNES_COLUMNS": "tables",
    "validate_transfers": "tables",
    "validate_runes": "tables",
    # loaders
    "read_parquet": "io",
    "read_csv": "io",
    "from_ord_runes": "io",
    "from_ord_outputs": "io",
    "from_runehook": "io",
    "from_bitcoin_etl": "io",
    # data
    "synthetic": "synth",
    # the ledger
    "index_blocks": "ledger",
    "index_chain": "ledger",
    # following the tip
    "follow": "tip",
    "AlertRules": "tip",
    # the whale suite
    "whale_transfers": "whale",
    "top_holders": "whale",
    "concentration": "whale",
    "whale_netflow": "whale",
    "whale_flows": "whale",
    "daily_activity": "whale",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'mesh_magics.runes' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{mod}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

"""Bitcoin Runes on dask.dataframe: decoding, canonical tables, loaders, a
synthetic ledger and the whale suite (pandas on CPU, cuDF on GPU).

Everything here works from plain Python with any Dask client; heavy modules are
imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> module that defines it (imported lazily)
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

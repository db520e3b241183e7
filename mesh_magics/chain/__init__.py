"""Bitcoin's own data, read in parallel on the mesh (issue #15).

A node's data directory becomes four tables (``blocks``, ``txs``, ``outputs``,
``inputs``; :mod:`.schema`) as dask DataFrames partitioned by height range, each task
reading its own byte ranges of the block and undo files on its worker::

    import mesh_magics.chain as chain

    tables = chain.read("~/.bitcoin", network="mainnet", start=840_000)
    tables = tables.to_parquet("chain-runes-era")          # once; later: chain.open(path)
    whales = chain.whale_transactions(tables, min_btc=1_000)

The public names (imported lazily; ``import mesh_magics.chain`` loads nothing heavy):

* readers: :func:`read` (a data directory), :func:`read_blocks` (blocks in memory),
  :func:`open` (tables written by :meth:`ChainTables.to_parquet`), :func:`from_blocks`
  (the reference, one process), :func:`from_bitcoin_etl` (bitcoin-etl exports),
  :class:`RestFollower` (a running node's tip over REST), :class:`DatadirFollower` (a
  running node's tip from its data directory);
* BTC whales: :func:`whale_transactions`, :func:`whale_flows`, :func:`balance_history`;
* fixtures: :mod:`.regtest` (chains written by Core's validation engine).

The layers below: :mod:`.format` (the serialization, in plain Python and compiled
kernels), :mod:`.source` (data directory, index, REST, the tip of a data directory), :mod:`.columnar` (the tables of
a buffer of blocks), :mod:`.tables` / :mod:`.reader` (the tables on the mesh).

Import rule (``tests/test_layers.py``): no IPython, widgets or server packages; of the
package only ``errors`` and ``config``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .blocklist import from_blocks
    from .etl import from_bitcoin_etl
    from .reader import read, read_blocks
    from .source.rest import RestFollower
    from .source.tail import DatadirFollower
    from .tables import ChainTables, open
    from .whale import balance_history, whale_flows, whale_transactions

#: public name -> the module (relative) that defines it
_LAZY = {
    "read": "reader",
    "read_blocks": "reader",
    "open": "tables",
    "ChainTables": "tables",
    "from_blocks": "blocklist",
    "from_bitcoin_etl": "etl",
    "RestFollower": "source.rest",
    "DatadirFollower": "source.tail",
    "whale_transactions": "whale",
    "whale_flows": "whale",
    "balance_history": "whale",
}

__all__ = [
    "ChainTables",
    "DatadirFollower",
    "RestFollower",
    "balance_history",
    "from_bitcoin_etl",
    "from_blocks",
    "open",
    "read",
    "read_blocks",
    "whale_flows",
    "whale_transactions",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'mesh_magics.chain' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value

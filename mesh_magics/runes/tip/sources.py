"""Where a follow reads new blocks from: a data directory or a node's REST interface, one interface.

:func:`open_source` takes a data directory path (a
:class:`~mesh_magics.chain.source.tail.DatadirFollower`: blocks read on the workers,
undo data included), an ``http(s)://`` URL (a
:class:`~mesh_magics.chain.source.rest.RestFollower`: blocks fetched by the client, one
request at a time), or an already made follower of either kind. Each :class:`Source`
says which blocks it holds (:meth:`Source.held`, height and hash), polls the node
(:meth:`Source.poll`), gives the chain tables of held heights (:meth:`Source.tables`) and
forgets the blocks a follow no longer needs (:meth:`Source.seal`).

Over REST the prevout heights are known only for coins created in blocks read in this
follow (``RestFollower``'s rule): an etching whose commit output is older than the
follow's first block cannot have its commitment's confirmations checked, and the ledger
says so (a :class:`~mesh_magics.errors.LedgerError` naming the block and transaction);
follow the data directory in that case, or start the follow before the commit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ...chain.format.address import network as chain_network
from ...chain.source.rest import RestFollower, Update
from ...chain.source.tail import DatadirFollower
from ...errors import ChainError

__all__ = ["FrameTables", "Source", "open_source"]

#: Core's ``chain`` names in ``/rest/chaininfo.json`` -> this package's network names
_REST_CHAINS = {
    "main": "mainnet",
    "test": "testnet3",
    "testnet4": "testnet4",
    "signet": "signet",
    "regtest": "regtest",
}
_NAMES = ("blocks", "txs", "outputs", "inputs")


@dataclass
class FrameTables:
    """Chain tables held by the client (pandas), as attributes and by name."""

    blocks: pd.DataFrame
    txs: pd.DataFrame
    outputs: pd.DataFrame
    inputs: pd.DataFrame

    def __getitem__(self, name: str) -> pd.DataFrame:
        return getattr(self, name)


class Source:
    """One follower behind the interface of the module doc."""

    def __init__(self, follower: Any, name: str) -> None:
        self.follower, self.name = follower, name

    @property
    def kind(self) -> str:
        return "rest" if isinstance(self.follower, RestFollower) else "datadir"

    def poll(self) -> Update:
        return self.follower.poll()

    def held(self) -> dict[int, str]:
        """Height -> display hash of every block held."""
        return {b.height: (b.hash if isinstance(b.hash, str) else b.hex) for b in self.follower.blocks}

    def tables(self, lo: int, hi: int) -> Any:
        """The chain tables of held heights ``lo..hi``: dask (data directory) or pandas (REST)."""
        if isinstance(self.follower, DatadirFollower):
            return self.follower.tables(lo, hi)
        chosen = [b for b in self.follower.blocks if lo <= b.height <= hi]
        if [b.height for b in chosen] != list(range(lo, hi + 1)):
            raise ChainError(f"{self.name}: blocks {lo}..{hi} are not all held (poll first)")
        frames = {n: pd.concat([b.frames[n] for b in chosen], ignore_index=True) for n in _NAMES}
        return FrameTables(**frames)

    def seal(self, below: int) -> None:
        """Forget the held blocks below height ``below`` (over REST the one below stays: the
        follower needs a block to compare with the node's after a reorg of all the others)."""
        if isinstance(self.follower, DatadirFollower):
            self.follower.seal(below)
        else:
            self.follower.blocks = [b for b in self.follower.blocks if b.height >= below - 1]


def open_source(source: Any, network: str, *, start: int | None, depth: int, timeout: float = 10.0) -> Source:
    """A :class:`Source` for ``source`` (module doc); a REST node on another chain is refused."""
    if isinstance(source, DatadirFollower):
        return Source(source, str(source.datadir))
    if isinstance(source, RestFollower):
        _check_rest_chain(source, network)
        return Source(source, source.url)
    if isinstance(source, str) and source.startswith(("http://", "https://")):
        f = RestFollower(source, network, start=start, reorg_depth=depth, timeout=timeout)
        _check_rest_chain(f, network)
        return Source(f, f.url)
    if isinstance(source, (str, Path)):
        return Source(DatadirFollower(source, network, start=start, reorg_depth=depth), str(source))
    raise ChainError(
        f"source: give a data directory, an http(s):// URL of a node's REST interface, or a follower; "
        f"not {type(source).__name__}"
    )


def _check_rest_chain(f: RestFollower, network: str) -> None:
    body = f.get("/rest/chaininfo.json")
    if body is None:
        raise ChainError(f"{f.url}/rest/chaininfo.json: 404: start the node with -rest=1")
    chain = json.loads(body).get("chain")
    found = _REST_CHAINS.get(chain, chain)
    if found is not None and found != chain_network(network).name:
        raise ChainError(f"the node at {f.url} is on {found}, not {network}: pass network={found!r}")

"""The client's plan of a data directory read: which blocks, in which files, in which task.

:func:`locate` finds the blocks directory of a data directory (``~/.bitcoin``, its
``testnet3/``, ``testnet4/``, ``signet/``, ``regtest/``, or a ``blocks/`` directory
itself), the network (from the first record's magic; a ``network`` given must agree) and
the XOR key. :func:`make_plan` picks the best chain, from the block index
(:mod:`.index`) or, with ``index=False``, from the files alone (:mod:`.scan`), keeps the
heights ``[start, end)``, and cuts it into height ranges of at most ``partition_blocks``
blocks and about ``partition_txs`` transactions: one mesh task each. The plan holds
positions only (a few dozen bytes per block); tasks read the blocks themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ChainError
from ..format.address import NETWORKS, Network, network
from ..format.framing import dexor, read_xor_key
from .files import BlockRef
from .index import best_chain, read_index
from .scan import blk_files, local_map, plan_without_index

__all__ = ["NET_DIRS", "Partition", "Plan", "Source", "locate", "make_plan"]

#: the sub-directory of a data directory each network keeps its files in
NET_DIRS = {
    "mainnet": "",
    "testnet3": "testnet3",
    "testnet4": "testnet4",
    "signet": "signet",
    "regtest": "regtest",
}


@dataclass(frozen=True)
class Source:
    """A blocks directory, its network and XOR key."""

    blocks_dir: Path
    network: Network
    key: bytes


@dataclass(frozen=True)
class Partition:
    """One task's blocks: the heights ``first..last`` (inclusive) and where each block is."""

    index: int
    first: int
    last: int
    n_tx: int
    refs: tuple[BlockRef, ...]


@dataclass
class Plan:
    source: Source
    partitions: list[Partition]
    tip: bytes | None  # the chosen tip (internal order)
    via_index: bool
    notes: list[str] = field(default_factory=list)

    @property
    def n_blocks(self) -> int:
        return sum(len(p.refs) for p in self.partitions)


def _magic(blocks_dir: Path, key: bytes) -> bytes | None:
    files = blk_files(blocks_dir)
    if not files:
        return None
    with open(blocks_dir / f"blk{files[0]:05d}.dat", "rb") as f:
        head = np.frombuffer(bytearray(f.read(4)), dtype=np.uint8)
    dexor(head, key, 0)
    return head.tobytes()


def locate(path: str | Path, net: str | Network | None = None) -> Source:
    """The blocks directory, network and XOR key of a data directory (see the module doc)."""
    p = Path(path).expanduser()
    wanted = network(net) if net is not None else None
    options = []
    if wanted is not None and NET_DIRS.get(wanted.name):
        options.append(p / NET_DIRS[wanted.name] / "blocks")
    options += [p / "blocks", p]
    if wanted is None:
        options += [p / d / "blocks" for d in NET_DIRS.values() if d]
    blocks = next((o for o in options if o.is_dir() and blk_files(o)), None)
    if blocks is None:
        raise ChainError(
            f"no blk*.dat files under {p}: give the node's data directory (or its blocks/ directory)"
        )
    key = read_xor_key(blocks)
    magic = _magic(blocks, key)
    found = next((n for n in NETWORKS.values() if n.magic == magic), None)
    if wanted is not None and isinstance(net, Network) and net.name not in NETWORKS:
        return Source(blocks, wanted, key)  # a custom network (a signet with its own challenge)
    if found is None:
        assert magic is not None
        hint = "blocks/xor.dat does not match the files" if any(key) else "not a Bitcoin Core block file"
        raise ChainError(f"{blocks}/blk*.dat starts with {magic.hex()}, no network's magic: {hint}")
    if wanted is not None and found.name != wanted.name:
        raise ChainError(
            f"the block files in {blocks} are {found.name}'s, not {wanted.name}'s: pass network={found.name!r}"
        )
    return Source(blocks, found, key)


def _cut(
    chain: list[BlockRef], n_txs: list[int], partition_blocks: int, partition_txs: int
) -> list[Partition]:
    parts: list[Partition] = []
    group: list[BlockRef] = []
    count = 0
    for ref, n in zip(chain, n_txs):
        if group and (len(group) >= partition_blocks or count + n > partition_txs):
            parts.append(Partition(len(parts), group[0].height, group[-1].height, count, tuple(group)))
            group, count = [], 0
        group.append(ref)
        count += n
    if group:
        parts.append(Partition(len(parts), group[0].height, group[-1].height, count, tuple(group)))
    return parts


def make_plan(path: str | Path, net: str | Network | None = None, *, start: int | None = None,
              end: int | None = None, index: bool = True, copy_index: bool = False, tip: str | None = None,
              partition_blocks: int = 300, partition_txs: int = 1_000_000,
              run: Callable[[Callable[..., Any], list[tuple[Any, ...]]], list[Any]] = local_map) -> Plan:  # fmt: skip
    """The plan of reading heights ``[start, end)`` of the best chain (see the module doc)."""
    if partition_blocks < 1 or partition_txs < 1:
        raise ChainError("partition_blocks and partition_txs must be positive")
    src = locate(path, net)
    notes: list[str] = []
    refs: list[BlockRef] = []
    n_txs: list[int] = []
    lo = 0 if start is None else start
    hi = None if end is None else end
    if index:
        chain = best_chain(
            read_index(src.blocks_dir, copy=copy_index), bytes.fromhex(tip)[::-1] if tip else None
        )
        for e in chain:
            if e.height < lo or (hi is not None and e.height >= hi):
                continue
            if e.data_pos < 0 or (e.height > 0 and e.undo_pos < 0):
                raise ChainError(
                    f"the index has no {'data' if e.data_pos < 0 else 'undo data'} for block {e.height} "
                    f"({e.hash[::-1].hex()}): a pruned node keeps only recent blocks; pass start= above it"
                )
            refs.append(
                BlockRef(e.height, e.hash, e.file, e.data_pos, e.file if e.undo_pos >= 0 else -1, e.undo_pos)
            )
            n_txs.append(e.n_tx)
        top = chain[-1].hash
    else:
        if tip:
            raise ChainError("tip= needs the block index (index=True)")
        pairs, note = plan_without_index(src.blocks_dir, src.network, src.key, run)
        if note:
            notes.append(note)
        for height, (b, undo_pos) in enumerate(pairs):
            if height < lo or (hi is not None and height >= hi):
                continue
            refs.append(
                BlockRef(height, b.hash, b.file, b.data_pos, b.file if undo_pos >= 0 else -1, undo_pos)
            )
            n_txs.append(b.n_tx)
        top = pairs[-1][0].hash
    if start is not None and (not refs or refs[0].height != start):
        raise ChainError(f"start={start} is above the chain's tip")
    return Plan(src, _cut(refs, n_txs, partition_blocks, partition_txs), top, index, notes)

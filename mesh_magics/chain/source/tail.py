"""Following a data directory's tip while the node writes it, reorgs included.

A running node holds ``blocks/index/LOCK`` and writes its block index to LevelDB only
when it flushes (about hourly, and at shutdown; an embedded ``libbitcoinkernel`` not at
all until it closes), but it appends every block to ``blk*.dat`` and every connected
block's undo record to ``rev*.dat`` as it goes. :class:`DatadirFollower` therefore reads
the index once (a copy, :func:`~.index.read_index`), for the blocks it already knows and
the file positions it stops at, and from then on reads only what the node appended to
the block and undo files (:func:`~mesh_magics.chain.format.framing.scan_records` from
the last offset seen). New headers are linked to their parents, a block counts as
connected once its undo record is found (matched by its checksum, the parent's hash,
as :func:`~.scan.match_undo` does), and the best chain is the most-work connected tip
(ties: the block stored first). Without an index (or an empty one) every file is
scanned once.

:meth:`DatadirFollower.poll` gives an :class:`~.rest.Update` as
:class:`~.rest.RestFollower` does: blocks removed (a reorg) and added, and the tip.
:meth:`DatadirFollower.tables` is the chain tables of held heights, read on the mesh's
workers (:func:`~mesh_magics.chain.reader.read_partition`, undo data included). The
last ``reorg_depth`` blocks stay rewritable; a reorg deeper than that is a
:class:`~mesh_magics.errors.ChainError`. :meth:`DatadirFollower.seal` forgets the blocks
below them. Memory stays bounded: the headers of the last :data:`KEEP` heights below the
tip, the held blocks, and at most ``max_pending`` headers or undo records waiting for
their parent or block.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ChainError
from ..format.address import Network
from ..format.framing import dexor, scan_records
from ..format.tx import compact_size, parse_header
from .files import BlockRef
from .index import read_index
from .plan import Partition, Source, locate
from .rest import Update
from .scan import _shape_fits, blk_files

__all__ = ["KEEP", "DatadirFollower"]

#: heights of headers kept below the tip, so that a fork that deep is still recognised (as too deep)
KEEP = 2016


@dataclass
class _Node:
    hash: bytes  # internal order
    prev: bytes
    height: int
    work: int  # chain work up to and including this block
    file: int
    data_pos: int
    n_tx: int
    undo_pos: int = -1
    connected: bool = False

    @property
    def hex(self) -> str:
        return self.hash[::-1].hex()

    def ref(self) -> BlockRef:
        undo_file = self.file if self.undo_pos >= 0 else -1
        return BlockRef(self.height, self.hash, self.file, self.data_pos, undo_file, self.undo_pos)


class DatadirFollower:
    """A data directory's best chain from ``start`` on (default: its tip), kept current by :meth:`poll`."""

    def __init__(self, datadir: str | Path, network: str | Network | None = None, *, start: int | None = None,
                 reorg_depth: int = 6, copy_index: bool = True, max_pending: int = 4096) -> None:  # fmt: skip
        if reorg_depth < 0:
            raise ChainError(f"reorg_depth must be 0 or more, not {reorg_depth}")
        self.source: Source = locate(datadir, network)
        self.net = self.source.network
        self.datadir = Path(datadir)
        self.start = start
        self.reorg_depth = reorg_depth
        self.copy_index = copy_index
        self.max_pending = max_pending
        self.blocks: list[_Node] = []  # the held (unsealed) part of the followed chain
        self._anchor: _Node | None = None  # the block below blocks[0] (sealed or not followed)
        self._tree: dict[bytes, _Node] = {}
        self._pending: OrderedDict[bytes, tuple[int, int, int, Any]] = OrderedDict()  # headers without parent
        self._unmatched: OrderedDict[tuple[int, int], int] = OrderedDict()  # undo records: size
        self._undo_at: set[tuple[int, int]] = set()
        self._blk_pos: dict[int, int] = {}
        self._rev_pos: dict[int, int] = {}
        self._low = 0  # the first file number scanned
        self._booted = False

    def __repr__(self) -> str:
        held = f"{self.blocks[0].height}..{self.blocks[-1].height}" if self.blocks else "none"
        return f"<DatadirFollower {self.source.blocks_dir} ({self.net.name}): blocks {held} held>"

    # -- knowing the blocks -------------------------------------------------------------
    def _boot(self) -> None:
        """The index's blocks and file positions (see the module doc)."""
        bdir = self.source.blocks_dir
        entries = read_index(bdir, copy=self.copy_index) if (bdir / "index" / "CURRENT").exists() else []
        work: dict[bytes, int] = {}
        for e in sorted(entries, key=lambda e: e.height):
            work[e.hash] = work.get(e.header.prev_hash, 0) + e.header.work
        stored = [e for e in entries if e.data_pos >= 0]
        top = max((e.height for e in stored if e.connected), default=-1)
        floor = min(top - KEEP, (self.start if self.start is not None else top) - 1)
        for e in stored:
            if e.height >= floor:
                self._tree[e.hash] = _Node(e.hash, e.header.prev_hash, e.height, work[e.hash], e.file, e.data_pos,
                                           e.n_tx, e.undo_pos, bool(e.connected))  # fmt: skip
                if e.undo_pos >= 0:
                    self._undo_at.add((e.file, e.undo_pos))
        if stored:  # resume each kind of file at its last indexed record
            self._low = max(e.file for e in stored)
            self._blk_pos[self._low] = max(e.data_pos for e in stored if e.file == self._low) - 8
            undone = [e for e in stored if e.undo_pos >= 0 and e.file == self._low]
            self._rev_pos[self._low] = max((e.undo_pos for e in undone), default=8) - 8
        self._booted = True

    def _scan(self) -> None:
        bdir, net, key = self.source.blocks_dir, self.net, self.source.key
        for f in blk_files(bdir):
            if f < self._low:
                continue
            records = scan_records(
                bdir / f"blk{f:05d}.dat", net, key, header_bytes=89, start=self._blk_pos.get(f, 0)
            )
            for rec, head in records:
                header = parse_header(head) if len(head) >= 81 else None
                if header is None or not _complete(header):
                    break  # a record the node is still writing: read it at the next poll
                if header.hash not in self._tree:
                    self._link(header, f, rec.pos, compact_size(head, 80)[0])
                self._blk_pos[f] = rec.pos + rec.size
        for f in blk_files(bdir, "rev"):
            if f < self._low:
                continue
            records = scan_records(
                bdir / f"rev{f:05d}.dat", net, key, trailer=32, start=self._rev_pos.get(f, 0)
            )
            for r, _ in records:
                if (f, r.pos) not in self._undo_at:
                    self._unmatched[(f, r.pos)] = r.size
            if records:
                self._rev_pos[f] = records[-1][0].pos + records[-1][0].size + 32
        _bound(self._pending, self.max_pending)
        _bound(self._unmatched, self.max_pending)
        self._match_undo()

    def _link(self, header: Any, file: int, pos: int, n_tx: int) -> None:
        """Add a block to the tree (and the blocks that waited for it), or keep it pending."""
        todo = [(header, file, pos, n_tx)]
        while todo:
            h, f, p, n = todo.pop()
            parent = self._tree.get(h.prev_hash)
            if parent is None and h.prev_hash != bytes(32):
                self._pending[h.hash] = (f, p, n, h)
                continue
            height, work = (parent.height + 1, parent.work) if parent else (0, 0)
            self._tree[h.hash] = _Node(
                h.hash, h.prev_hash, height, work + h.work, f, p, n, connected=height == 0
            )
            children = [k for k, v in self._pending.items() if v[3].prev_hash == h.hash]
            for k in children:
                cf, cp, cn, ch = self._pending.pop(k)
                todo.append((ch, cf, cp, cn))

    def _match_undo(self) -> None:
        """Give each new undo record its block: the one whose parent's hash makes its checksum.
        Records are read again at each try (one the node was still writing matches later)."""
        waiting = [n for n in self._tree.values() if not n.connected]
        for (f, pos), size in list(self._unmatched.items()):
            body, checksum = self._undo_bytes(f, pos, size)
            count = compact_size(body, 0)[0] if body else -1
            fits = [
                n
                for n in waiting
                if n.file == f and n.n_tx - 1 == count and _sha256d(n.prev + body) == checksum
            ]
            if len(fits) > 1:  # siblings of one parent: the shape of the inputs decides
                fits = [n for n in fits if _shape_fits(self.source.blocks_dir, self.net, self.source.key,
                                                       n.file, n.data_pos, body)] or fits  # fmt: skip
            if not fits:
                continue
            node = min(fits, key=lambda n: (n.file, n.data_pos))  # identical records: interchangeable
            node.undo_pos, node.connected = pos, True
            self._undo_at.add((f, pos))
            waiting.remove(node)
            del self._unmatched[(f, pos)]

    def _undo_bytes(self, f: int, pos: int, size: int) -> tuple[bytes, bytes]:
        with open(self.source.blocks_dir / f"rev{f:05d}.dat", "rb") as fh:
            fh.seek(pos)
            raw = np.frombuffer(bytearray(fh.read(size + 32)), dtype=np.uint8)
        dexor(raw, self.source.key, pos)
        data = raw.tobytes()
        return data[:size], data[size:]

    def _best(self) -> _Node | None:
        tips = [n for n in self._tree.values() if n.connected]
        return max(tips, key=lambda n: (n.work, -n.file, -n.data_pos)) if tips else None

    # -- following ----------------------------------------------------------------------
    def poll(self) -> Update:
        """Read what the node appended since the last poll; what changed on the followed chain."""
        if not self._booted:
            self._boot()
        self._scan()
        best = self._best()
        up = Update(tip=-1 if best is None else best.height)
        top = self.blocks[-1] if self.blocks else self._anchor
        if best is None or (top is not None and top.hash == best.hash):
            return up
        path: list[_Node] = []  # the best chain above the fork, tip first
        node: _Node | None = best
        if top is None:  # the first blocks: from start (default: the tip) up
            floor = self.start if self.start is not None else best.height
            while node is not None and node.height >= floor:
                path.append(node)
                node = self._tree.get(node.prev)
            if path and path[-1].height != floor:
                raise ChainError(f"{self.source.blocks_dir}: the files lack block {floor} of the best chain "
                                 f"(tip {best.height}): follow from a later start")  # fmt: skip
            self._anchor = node
        else:
            held = {b.hash: b.height for b in self.blocks}
            if self._anchor is not None:
                held[self._anchor.hash] = self._anchor.height
            while node is not None and node.hash not in held:
                path.append(node)
                node = self._tree.get(node.prev)
            if node is None:
                raise ChainError(
                    f"{self.source.blocks_dir}: a reorg deeper than reorg_depth={self.reorg_depth} blocks, below "
                    f"height {path[-1].height if path else best.height}: read that range again with chain.read, "
                    "or follow with a larger reorg_depth"
                )
            fork = held[node.hash]
            gone = [b for b in self.blocks if b.height > fork]
            if len(gone) > self.reorg_depth:
                raise ChainError(
                    f"{self.source.blocks_dir}: a reorg deeper than reorg_depth={self.reorg_depth} blocks below "
                    f"height {fork + 1}: read that range again with chain.read, or follow with a larger reorg_depth"
                )
            self.blocks = [b for b in self.blocks if b.height <= fork]
            up.removed = [(b.height, b.hex) for b in reversed(gone)]
        for n in reversed(path):
            self.blocks.append(n)
            up.added.append((n.height, n.hex))
        self._prune(best.height)
        return up

    def _prune(self, tip: int) -> None:
        low = min(
            tip - KEEP,
            self.blocks[0].height - 1 if self.blocks else tip,
            self._anchor.height if self._anchor else tip,
        )
        for h in [h for h, n in self._tree.items() if n.height < low]:
            node = self._tree.pop(h)
            self._undo_at.discard((node.file, node.undo_pos))

    def seal(self, below: int | None = None) -> list[tuple[int, str]]:
        """Forget the held blocks deeper than ``reorg_depth`` (no longer rewritable), or, given
        ``below``, those below that height; returns them."""
        keep = max(len(self.blocks) - self.reorg_depth, 0)
        if below is not None:
            keep = sum(1 for b in self.blocks if b.height < below)
        sealed, self.blocks = self.blocks[:keep], self.blocks[keep:]
        if sealed:
            self._anchor = sealed[-1]
        return [(b.height, b.hex) for b in sealed]

    # -- tables -------------------------------------------------------------------------
    def hash_at(self, height: int) -> str | None:
        """The display hash of the held block at ``height`` (None when not held)."""
        return next((b.hex for b in self.blocks if b.height == height), None)

    def tables(self, lo: int, hi: int, *, partition_blocks: int = 300) -> Any:
        """The chain tables (:class:`~mesh_magics.chain.tables.ChainTables`) of held heights ``lo..hi``, read on the workers."""
        from dask import delayed

        from ..reader import read_partition
        from ..tables import ChainTables

        chosen = [b for b in self.blocks if lo <= b.height <= hi]
        if [b.height for b in chosen] != list(range(lo, hi + 1)):
            raise ChainError(f"blocks {lo}..{hi} are not all held by this follower (poll first)")
        parts: list[Any] = []
        heights: list[tuple[int, int]] = []
        for i in range(0, len(chosen), partition_blocks):
            group = chosen[i : i + partition_blocks]
            part = Partition(len(parts), group[0].height, group[-1].height, sum(b.n_tx for b in group),
                             tuple(b.ref() for b in group))  # fmt: skip
            parts.append(delayed(read_partition, pure=False)(self.source, part))
            heights.append((part.first, part.last))
        return ChainTables.from_parts(parts, self.net.name, heights)


def _complete(header: Any) -> bool:
    """Whether a header read from a block file is whole: its hash meets its own target (a record
    the node is still writing reads as zeros, whose target is 0)."""
    exponent, mantissa = header.bits >> 24, header.bits & 0x007FFFFF
    target = mantissa << (8 * (exponent - 3)) if exponent > 3 else mantissa >> (8 * (3 - exponent))
    return target > 0 and int.from_bytes(header.hash, "little") <= target


def _sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def _bound(d: OrderedDict[Any, Any], n: int) -> None:
    while len(d) > n:
        d.popitem(last=False)

"""The best chain of block files without an index: headers linked by their prev hashes.

For ``blk*.dat`` copied without ``blocks/index``. Three steps, the first and last one task
per file (they read the files; run them on the mesh with ``map``):

1. :func:`scan_headers`: every record of one ``blkNNNNN.dat`` (its position, size,
   header and tx count), read with one small ``pread`` per record;
2. :func:`link`: the headers linked from genesis by ``prev_hash``, the chain work of
   each summed, the most-work tip kept (ties: the block stored first); stale blocks are
   dropped, not indexed;
3. :func:`match_undo`: the undo record of each chosen block in ``revNNNNN.dat`` (Core
   writes a block's undo into the rev file numbered like its blk file, in the order it
   connected blocks, so positions do not say which is which): a record matches a block
   when its count of ``CTxUndo`` is the block's tx count - 1 and its checksum is
   ``sha256d(parent hash || record)``. Siblings share their parent, so several records
   can fit: identical ones are interchangeable, else the one whose coin counts match the
   block's inputs wins; if different records still fit, the plan stops with an error
   rather than guess.

Blocks of the chosen chain without an undo record (downloaded ahead of the node's tip,
never connected) end the chain: the plan stops at the last connected block.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ...errors import ChainError
from ..format.address import Network
from ..format.framing import dexor, scan_records
from ..format.tx import Header, compact_size, parse_header

__all__ = [
    "ScannedBlock",
    "blk_files",
    "link",
    "local_map",
    "match_undo",
    "plan_without_index",
    "scan_headers",
]


class ScannedBlock(NamedTuple):
    hash: bytes
    file: int
    data_pos: int
    size: int
    n_tx: int
    header: Header


def blk_files(blocks_dir: str | Path, kind: str = "blk") -> list[int]:
    """The numbers of the ``blkNNNNN.dat`` (or rev) files in ``blocks_dir``, ascending."""
    pattern = re.compile(rf"{kind}(\d{{5}})\.dat")
    return sorted(int(m.group(1)) for p in Path(blocks_dir).iterdir() if (m := pattern.fullmatch(p.name)))


def scan_headers(blocks_dir: str | Path, net: Network, key: bytes, file: int) -> list[ScannedBlock]:
    """The records of ``blkNNNNN.dat`` (task 1 of the module doc)."""
    path = Path(blocks_dir) / f"blk{file:05d}.dat"
    out = []
    for rec, head in scan_records(path, net, key, header_bytes=89):
        if len(head) < 81:
            raise ChainError(
                f"{path.name} offset {rec.pos - 8}: a record of {rec.size} bytes is too small for a block"
            )
        header = parse_header(head)
        n_tx, _ = compact_size(head, 80)
        out.append(ScannedBlock(header.hash, file, rec.pos, rec.size, n_tx, header))
    return out


def link(scanned: Iterable[ScannedBlock]) -> list[ScannedBlock]:
    """The most-work chain of the scanned blocks, genesis first (step 2)."""
    by_hash: dict[bytes, ScannedBlock] = {}
    for b in scanned:
        by_hash.setdefault(b.hash, b)  # a block stored twice: keep the first copy
    children: dict[bytes, list[bytes]] = {}
    roots = []
    for b in by_hash.values():
        if b.header.prev_hash == bytes(32):
            roots.append(b.hash)
        else:
            children.setdefault(b.header.prev_hash, []).append(b.hash)
    if len(roots) != 1:
        raise ChainError(f"the block files hold {len(roots)} genesis blocks, expected one")
    work = {roots[0]: by_hash[roots[0]].header.work}
    stack = [roots[0]]
    while stack:
        h = stack.pop()
        for c in children.get(h, ()):
            work[c] = work[h] + by_hash[c].header.work
            stack.append(c)
    best = max(work, key=lambda h: (work[h], -by_hash[h].file, -by_hash[h].data_pos))
    chain = [by_hash[best]]
    while chain[-1].header.prev_hash != bytes(32):
        chain.append(by_hash[chain[-1].header.prev_hash])
    chain.reverse()
    return chain


def _shape_fits(blocks_dir: Path, net: Network, key: bytes, file: int, data_pos: int, undo: bytes) -> bool:
    """Whether an undo record has one entry per input of each non-coinbase transaction of the block."""
    from ..format.tx import parse_block
    from ..format.undo import parse_block_undo

    path = Path(blocks_dir) / f"blk{file:05d}.dat"
    with open(path, "rb") as f:
        f.seek(data_pos - 4)
        size = int.from_bytes(_plain(f.read(4), key, data_pos - 4), "little")
        block = parse_block(_plain(f.read(size), key, data_pos), check_merkle=False)
    try:
        coins = parse_block_undo(undo)
    except ChainError:
        return False
    return [len(c) for c in coins] == [len(t.inputs) for t in block.txs[1:]]


def _plain(raw: bytes, key: bytes, offset: int) -> bytes:
    buf = np.frombuffer(bytearray(raw), dtype=np.uint8)
    dexor(buf, key, offset)
    return buf.tobytes()


def match_undo(blocks_dir: str | Path, net: Network, key: bytes, file: int,
               blocks: list[tuple[bytes, bytes, int, int]]) -> dict[bytes, int]:  # fmt: skip
    """``{block hash: nUndoPos}`` for ``blocks`` (hash, parent hash, tx count, nDataPos) of blkNNNNN (step 3).

    Records with the right count and checksum are the candidates. Several can fit (siblings
    share a parent); identical records are interchangeable, otherwise the one whose coin
    counts match the block's inputs wins, and a tie that remains is an error.
    """
    path = Path(blocks_dir) / f"rev{file:05d}.dat"
    if not path.exists():
        return {}
    records = scan_records(path, net, key, trailer=32)
    data = np.fromfile(path, dtype=np.uint8)
    dexor(data, key, 0)
    by_count: dict[int, list[tuple[int, int]]] = {}
    for rec, _ in records:
        count, _ = compact_size(data[rec.pos : rec.pos + 9].data, 0)
        by_count.setdefault(count, []).append((rec.pos, rec.size))
    found: dict[bytes, int] = {}
    view = data.data
    for h, prev, n_tx, data_pos in blocks:
        hits = []
        for pos, size in by_count.get(n_tx - 1, ()):
            digest = hashlib.sha256(hashlib.sha256(prev + view[pos : pos + size]).digest()).digest()
            if digest == bytes(view[pos + size : pos + size + 32]):
                hits.append((pos, bytes(view[pos : pos + size])))
        if len({body for _, body in hits}) > 1:
            hits = [
                (pos, body)
                for pos, body in hits
                if _shape_fits(Path(blocks_dir), net, key, file, data_pos, body)
            ]
            if len({body for _, body in hits}) > 1:
                raise ChainError(
                    f"{path.name}: {len(hits)} different undo records fit block {h[::-1].hex()} (siblings of one "
                    "parent, alike in shape): read this directory with its block index (index=True) instead"
                )
        if hits:
            found[h] = hits[0][0]
    return found


def plan_without_index(blocks_dir: Path, net: Network, key: bytes,
                       run: Callable[[Callable[..., Any], list[tuple[Any, ...]]], list[Any]]) -> tuple[list[tuple[ScannedBlock, int]], str]:  # fmt: skip
    """The chain as (block, undo position or -1) pairs, and a note on where it was cut (if it was)."""
    files = blk_files(blocks_dir)
    if not files:
        raise ChainError(f"no blk*.dat files in {blocks_dir}")
    scanned = [b for part in run(scan_headers, [(blocks_dir, net, key, f) for f in files]) for b in part]
    chain = link(scanned)
    per_file: dict[int, list[tuple[bytes, bytes, int, int]]] = {}
    for b in chain[1:]:
        per_file.setdefault(b.file, []).append((b.hash, b.header.prev_hash, b.n_tx, b.data_pos))
    jobs = [(blocks_dir, net, key, f, blocks) for f, blocks in sorted(per_file.items())]
    undo: dict[bytes, int] = {}
    for part in run(match_undo, jobs):
        undo.update(part)
    out: list[tuple[ScannedBlock, int]] = [(chain[0], -1)]
    note = ""
    for b in chain[1:]:
        if b.hash not in undo:
            note = f"block {len(out)} ({b.hash[::-1].hex()}) and later have no undo record (never connected): the chain ends at {len(out) - 1}"
            break
        out.append((b, undo[b.hash]))
    return out, note


def local_map(fn: Callable[..., Any], args: list[tuple[Any, ...]]) -> list[Any]:
    """``run`` for :func:`plan_without_index` in this process."""
    return [fn(*a) for a in args]

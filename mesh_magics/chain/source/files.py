"""A task's byte ranges, read on the worker: pread, de-XOR by absolute offset, framing checked.

The client plans (:mod:`.plan`): a :class:`BlockRef` per block says which ``blkNNNNN.dat``
holds it and where (``nDataPos``, after the 8-byte record prefix), and where its undo
record is in ``revNNNNN.dat`` (``nUndoPos``). :func:`read_spans` checks each record's
prefix (the network's magic, a plausible size, inside the file), reads neighbouring
records with one ``preadv`` each into one buffer, de-XORs it by file offset, and returns
the :class:`~mesh_magics.chain.columnar.Span` s :func:`~mesh_magics.chain.columnar.build`
takes. A block whose record is wrong is a :class:`~mesh_magics.chain.columnar.Bad` (the
caller raises it or sets it aside).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..columnar import Bad, Span
from ..format.address import Network
from ..format.framing import MAX_BLOCK_SIZE, MAX_UNDO_SIZE, describe_magic, dexor

__all__ = ["BlockRef", "read_spans"]

_GAP = 1 << 16  # read across gaps this small rather than issuing another pread


class BlockRef(NamedTuple):
    """Where one block of the plan is (file numbers index blkNNNNN.dat / revNNNNN.dat)."""

    height: int
    hash: bytes | None  # internal order; None when the plan does not know it
    file: int
    data_pos: int
    undo_file: int = -1
    undo_pos: int = -1  # -1: no undo record (genesis)


class _Files:
    def __init__(self, blocks_dir: Path, kind: str) -> None:
        self.dir, self.kind = blocks_dir, kind
        self.fds: dict[int, int] = {}
        self.sizes: dict[int, int] = {}

    def name(self, n: int) -> str:
        return f"{self.kind}{n:05d}.dat"

    def fd(self, n: int) -> int:
        if n not in self.fds:
            path = self.dir / self.name(n)
            self.fds[n] = os.open(path, os.O_RDONLY)
            self.sizes[n] = os.fstat(self.fds[n]).st_size
        return self.fds[n]

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)


def _prefix(
    files: _Files, n: int, pos: int, net: Network, key: bytes, limit: int, trailer: int
) -> tuple[int, str]:
    """The payload size of the record whose payload starts at ``pos``, or (-1, why not)."""
    try:
        fd = files.fd(n)
    except FileNotFoundError:
        return -1, f"{files.name(n)} does not exist in {files.dir} (the index names a file that is not there)"
    size = files.sizes[n]
    if pos < 8 or pos > size:
        return -1, f"the index places it past the end of {files.name(n)} ({size} bytes)"
    ondisk = os.pread(fd, 8, pos - 8)
    if ondisk[:4] == bytes(4):
        return -1, f"there are only zero bytes there, past the last record of {files.name(n)}"
    head = np.frombuffer(bytearray(ondisk), dtype=np.uint8)
    dexor(head, key, pos - 8)
    raw = head.tobytes()
    if raw[:4] != net.magic:
        return -1, f"the record magic there is {describe_magic(raw[:4], net, key)}"
    length = int.from_bytes(raw[4:], "little")
    if length > limit or length < 1:
        return -1, f"its record says {length} bytes, more than a record can hold"
    if pos + length + trailer > size:
        return (
            -1,
            f"its record ({length} bytes) runs past the end of {files.name(n)} ({size} bytes): the file is truncated",
        )
    return length, ""


def _runs(items: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, list[int]]]:
    """Group (file, start, end, index) extents into reads: (file, start, end, indices)."""
    runs: list[tuple[int, int, int, list[int]]] = []
    for f, a, b, i in sorted(items):
        if runs and runs[-1][0] == f and a - runs[-1][2] <= _GAP and a >= runs[-1][1]:
            rf, ra, rb, idx = runs[-1]
            runs[-1] = (rf, ra, max(rb, b), idx + [i])
        else:
            runs.append((f, a, b, [i]))
    return runs


def _read(
    files: _Files, runs: list[tuple[int, int, int, list[int]]], key: bytes, extra: int
) -> tuple[np.ndarray, list[int]]:
    """One buffer holding every run (plus ``extra`` zero bytes); the buffer offset of each run."""
    total = sum(b - a for _, a, b, _ in runs)
    buf = np.empty(total + extra, dtype=np.uint8)  # every byte but the extra ones is read into
    buf[total:] = 0
    where, q = [], 0
    for f, a, b, _ in runs:
        view = buf[q : q + b - a]
        got = os.preadv(files.fd(f), [view.data], a)
        if got != b - a:
            raise OSError(f"short read of {files.name(f)} at offset {a}")
        dexor(view, key, a)
        where.append(q)
        q += b - a
    return buf, where


def read_spans(blocks_dir: str | Path, net: Network, key: bytes, refs: list[BlockRef], *,
               undo: bool = True) -> tuple[np.ndarray, list[Span], np.ndarray | None, list[Bad]]:  # fmt: skip
    """(block buffer, spans in ``refs`` order, undo buffer or None, bad blocks) of ``refs``."""
    blocks_dir = Path(blocks_dir)
    blk, rev = _Files(blocks_dir, "blk"), _Files(blocks_dir, "rev")
    bad: list[Bad] = []
    try:
        sizes: dict[int, int] = {}
        usizes: dict[int, int] = {}
        for i, r in enumerate(refs):
            shown = r.hash[::-1].hex() if r.hash else None
            n, why = _prefix(blk, r.file, r.data_pos, net, key, MAX_BLOCK_SIZE, 0)
            if n < 0:
                bad.append(Bad(r.height, shown, blk.name(r.file), r.data_pos - 8, why, "read", i))
                continue
            if undo and r.undo_pos >= 0:
                m, why = _prefix(rev, r.undo_file, r.undo_pos, net, key, MAX_UNDO_SIZE, 32)
                if m < 0:
                    bad.append(Bad(r.height, shown, rev.name(r.undo_file), r.undo_pos - 8, why, "undo", i))
                    continue
                usizes[i] = m
            sizes[i] = n
        good = sorted(sizes)
        runs = _runs([(refs[i].file, refs[i].data_pos - 8, refs[i].data_pos + sizes[i], i) for i in good])
        buf, where = _read(blk, runs, key, 0)
        start = {}
        for (_, a, _, idx), q in zip(runs, where):
            for i in idx:
                start[i] = q + refs[i].data_pos - a
        spans = {
            i: Span(refs[i].height, start[i], start[i] + sizes[i], blk.name(refs[i].file), refs[i].data_pos - 8, refs[i].hash)
            for i in good
        }  # fmt: skip
        ubuf = None
        if undo:
            with_undo = [i for i in good if i in usizes]
            uruns = _runs(
                [
                    (refs[i].undo_file, refs[i].undo_pos - 8, refs[i].undo_pos + usizes[i] + 32, i)
                    for i in with_undo
                ]
            )
            ubuf, uwhere = _read(rev, uruns, key, 32 * len(with_undo) + 1)
            slot = len(ubuf) - 1 - 32 * len(with_undo)
            for (_, a, _, idx), q in zip(uruns, uwhere):
                for i in idx:
                    s = spans[i]
                    s.undo_start = q + refs[i].undo_pos - a
                    s.undo_end = s.undo_start + usizes[i]
                    s.undo_slot, slot = slot, slot + 32
                    s.undo_file, s.undo_offset = rev.name(refs[i].undo_file), refs[i].undo_pos - 8
        return buf, [spans[i] for i in good], ubuf, bad
    finally:
        blk.close()
        rev.close()

"""Core's block index (``blocks/index``, LevelDB) and the best chain in it.

Each block has a record under ``b`` + its hash (internal order), a ``CDiskBlockIndex``:
``VARINT`` client version, height, status and tx count; the file number if the block's
data or undo is stored (status bits 8, 16), ``nDataPos`` and ``nUndoPos`` if each is;
then the 80-byte header. The index also holds stale blocks and header-only entries, so
the chain is chosen, never taken by height: the most-work tip among blocks Core
connected (validity SCRIPTS, data and undo stored, not failed), ties going to the block
stored first, then back along ``hashPrev``.

The index is opened with plyvel **without compression**: LevelDB rewrites its log into a
table when it opens a database, and plyvel's default (snappy) would write blocks Core's
own LevelDB (built without snappy) cannot read, breaking the node's index. Opening is
the one write this module does; ``copy=True`` reads a copy instead (also the way to read
the index of a running node, which holds ``blocks/index/LOCK``).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import NamedTuple

from ...errors import ChainError
from ..format.tx import Header, parse_header
from ..format.undo import read_varint

__all__ = ["HAVE_DATA", "HAVE_UNDO", "IndexEntry", "best_chain", "read_index"]

VALID_MASK, VALID_SCRIPTS = 7, 5
HAVE_DATA, HAVE_UNDO = 8, 16
FAILED = 32 | 64  # BLOCK_FAILED_VALID, BLOCK_FAILED_CHILD
_OBFUSCATE_KEY = b"\x0e\x00obfuscate_key"


class IndexEntry(NamedTuple):
    hash: bytes  # internal order
    height: int
    status: int
    n_tx: int
    file: int
    data_pos: int  # -1: no data
    undo_pos: int  # -1: no undo
    header: Header

    @property
    def connected(self) -> bool:
        """Core validated its scripts and stored its data and undo (genesis has no undo)."""
        return (
            self.status & VALID_MASK >= VALID_SCRIPTS
            and not self.status & FAILED
            and self.status & HAVE_DATA
            and (self.status & HAVE_UNDO or self.height == 0)
        ) > 0


def _entry(key: bytes, value: bytes) -> IndexEntry:
    p = 0
    _, p = read_varint(value, p)
    height, p = read_varint(value, p)
    status, p = read_varint(value, p)
    n_tx, p = read_varint(value, p)
    file = data_pos = undo_pos = -1
    if status & (HAVE_DATA | HAVE_UNDO):
        file, p = read_varint(value, p)
    if status & HAVE_DATA:
        data_pos, p = read_varint(value, p)
    if status & HAVE_UNDO:
        undo_pos, p = read_varint(value, p)
    header = parse_header(value, p)
    if header.hash != key[1:]:
        raise ChainError(f"block index record {key[1:][::-1].hex()} holds the header of another block")
    return IndexEntry(key[1:], height, status, n_tx, file, data_pos, undo_pos, header)


def _open(path: Path) -> object:
    try:
        import plyvel
    except ImportError:
        raise ChainError(
            "reading blocks/index needs plyvel (pip install plyvel, or mesh-magics[chain]); "
            "or pass index=False to plan from the block files alone"
        ) from None

    try:
        return plyvel.DB(str(path), create_if_missing=False, compression=None)
    except plyvel.IOError as e:
        if "lock" in str(e).lower():
            raise ChainError(
                f"{path} is locked by a running node (its LOCK file is held): stop bitcoind first, "
                "or read a copy of the index with copy_index=True (or copy the whole data directory)"
            ) from None
        raise ChainError(f"cannot open the block index {path}: {e}") from None
    except plyvel.Error as e:
        raise ChainError(
            f"cannot open the block index {path}: {e} (pass index=False to scan the block files)"
        ) from None


def read_index(blocks_dir: str | Path, *, copy: bool = False) -> list[IndexEntry]:
    """Every ``b`` record of ``blocks_dir/index``; ``copy`` reads a temporary copy instead."""
    path = Path(blocks_dir) / "index"
    if not (path / "CURRENT").exists():
        raise ChainError(f"no block index at {path} (pass index=False to scan the block files instead)")
    tmp = None
    if copy:
        tmp = tempfile.mkdtemp(prefix="mesh-chain-index-")
        shutil.copytree(path, Path(tmp) / "index", ignore=shutil.ignore_patterns("LOCK"))
        path = Path(tmp) / "index"
    try:
        db = _open(path)
        try:
            raw_key = db.get(_OBFUSCATE_KEY)  # type: ignore[attr-defined]
            key = raw_key[1:] if raw_key else b""
            xor = bool(key) and any(key)
            out = []
            for k, v in db.iterator(prefix=b"b"):  # type: ignore[attr-defined]
                if xor:
                    v = bytes(b ^ key[i % len(key)] for i, b in enumerate(v))
                out.append(_entry(k, v))
            return out
        finally:
            db.close()  # type: ignore[attr-defined]
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def best_chain(entries: list[IndexEntry], tip: bytes | None = None) -> list[IndexEntry]:
    """The entries of the most-work connected chain (or of the chain ending at ``tip``), genesis first."""
    by_hash = {e.hash: e for e in entries}
    work: dict[bytes, int] = {}
    for e in sorted(entries, key=lambda e: e.height):
        work[e.hash] = work.get(e.header.prev_hash, 0) + e.header.work
    if tip is None:
        candidates = [e for e in entries if e.connected]
        if not candidates:
            raise ChainError("the block index has no connected block: is this a node that has not synced?")
        best = max(candidates, key=lambda e: (work[e.hash], -e.file, -e.data_pos))
    elif tip in by_hash:
        best = by_hash[tip]
    else:
        raise ChainError(f"the tip {tip[::-1].hex()} is not in the block index")
    chain = [best]
    while chain[-1].height > 0:
        parent = by_hash.get(chain[-1].header.prev_hash)
        if parent is None or parent.height != chain[-1].height - 1:
            raise ChainError(
                f"the block index lacks the parent of block {chain[-1].height} ({chain[-1].hash[::-1].hex()})"
            )
        chain.append(parent)
    chain.reverse()
    return chain

"""The framing of Bitcoin Core's ``blk*.dat`` / ``rev*.dat`` files, and their XOR key.

Each record of a block file is ``magic (4) | size (uint32 LE) | block``; of an undo file
``magic (4) | size | CBlockUndo | checksum (32)``, the checksum being
``sha256d(hash of the block's parent || CBlockUndo)`` (Core's ``WriteBlockUndo``; the
*parent's* hash, not the block's own). Files are preallocated in chunks, so a file can
end in zero bytes (zeros on disk, not XOR'd): a record whose magic is zero on disk ends
the file. Block index positions
(``nDataPos``, ``nUndoPos``) point just past the 8-byte prefix.

Since Core 28 every byte of both kinds of file is XOR'd with ``blocks/xor.dat`` (8 bytes)
by its *absolute* offset in the file: ``disk[p] = plain[p] ^ key[p % 8]``. A missing or
all-zero key is a no-op. The index (LevelDB) is not XOR'd.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import ChainError
from .address import NETWORKS, Network

__all__ = [
    "MAX_BLOCK_SIZE",
    "MAX_UNDO_SIZE",
    "Record",
    "dexor",
    "describe_magic",
    "read_xor_key",
    "scan_records",
]

#: Core's MAX_BLOCK_SERIALIZED_SIZE
MAX_BLOCK_SIZE = 4_000_000
#: an undo record has a coin per input (at most ~97k), each up to a 10,000-byte script:
#: no bound below that is safe, so this one only catches a size field read from garbage
MAX_UNDO_SIZE = 1 << 30
_ZERO_KEY = bytes(8)


def read_xor_key(blocks_dir: str | Path) -> bytes:
    """The 8-byte key of ``blocks_dir/xor.dat``; zeros when the file is absent (Core < 28)."""
    path = Path(blocks_dir) / "xor.dat"
    if not path.exists():
        return _ZERO_KEY
    key = path.read_bytes()
    if len(key) != 8:
        raise ChainError(
            f"{path} holds {len(key)} bytes, expected the 8-byte XOR key Core writes: "
            "restore it from the node, or remove it if the block files are not obfuscated"
        )
    return key


def dexor(buf: np.ndarray, key: bytes, file_offset: int) -> None:
    """XOR ``buf`` (a uint8 array read from ``file_offset`` of a file) with ``key`` in place."""
    if key == _ZERO_KEY or len(buf) == 0:
        return
    rolled = np.frombuffer(key[file_offset % 8 :] + key[: file_offset % 8], dtype=np.uint8)
    n8 = len(buf) // 8 * 8
    if n8 and buf.flags.c_contiguous:  # 8 bytes at a time
        lanes = buf[:n8].view(np.uint64)
        lanes ^= rolled.view(np.uint64)[0]
    tail = buf[n8:]
    tail ^= rolled[: len(tail)]


def describe_magic(found: bytes, expected: Network, key: bytes) -> str:
    """Why 4 bytes read where a record's magic should be are not ``expected.magic``."""
    if found == bytes(4):
        return "zero bytes (past the last record, or a position in the preallocated tail)"
    for net in NETWORKS.values():
        if found == net.magic and net is not expected:
            return f"{found.hex()}, {net.name}'s magic, not {expected.name}'s (pass network={net.name!r} if the files are {net.name}'s)"
    if key != _ZERO_KEY:
        return f"{found.hex()} (after the XOR key {key.hex()}): blocks/xor.dat does not match these files"
    return f"{found.hex()}: not a record start (a wrong position, or files obfuscated with a key Core did not leave in blocks/xor.dat)"


@dataclass(frozen=True, slots=True)
class Record:
    """One record of a blk/rev file: its payload's position (after the 8-byte prefix) and size."""

    pos: int
    size: int


def scan_records(
    path: str | Path, net: Network, key: bytes, *, header_bytes: int = 0, trailer: int = 0, start: int = 0
) -> list[tuple[Record, bytes]]:
    """Every record of one blk/rev file, in file order, with the first ``header_bytes`` of each payload.

    ``start``: the file offset of the first record to read (a record's prefix; default the
    file's start), to read only what was appended since an earlier scan.

    ``trailer`` is what follows each payload beyond its size (32: the checksum of an undo
    record). Stops at a zero magic (the preallocated tail) or at the end of the file. A
    record that does not start with ``net``'s magic, or runs past the end of the file, is a
    :class:`ChainError` naming the file and offset.
    """
    path = Path(path)
    out: list[tuple[Record, bytes]] = []
    size = path.stat().st_size
    with open(path, "rb") as f:
        fd = f.fileno()
        pos = start
        while pos + 8 <= size:
            want = 8 + header_bytes
            ondisk = os.pread(fd, want, pos)
            if ondisk[:4] == bytes(4):  # the preallocated tail is zeros on disk, not XOR'd
                break
            raw = np.frombuffer(bytearray(ondisk), dtype=np.uint8)
            dexor(raw, key, pos)
            head = raw.tobytes()
            magic = head[:4]
            if magic != net.magic:
                raise ChainError(
                    f"{path.name} offset {pos}: the record magic is {describe_magic(magic, net, key)}"
                )
            length = int.from_bytes(head[4:8], "little")
            if pos + 8 + length + trailer > size:
                raise ChainError(
                    f"{path.name} offset {pos}: a record of {length} bytes runs past the end of the "
                    f"file ({size} bytes): the file is truncated (copy it again from the node)"
                )
            out.append((Record(pos + 8, length), head[8 : 8 + min(header_bytes, length)]))
            pos += 8 + length + trailer
    return out

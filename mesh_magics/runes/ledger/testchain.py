"""Build block lists for tests and benchmarks: transactions, runestones, commit/reveal etchings.

The shapes are those of ord's test harness (``ledger-scenarios.md``): a coinbase per block
paying a P2TR output; transactions with version 2, lock time 0, sequence 0xffffffff and an
empty script_sig; a runestone as ord's ``Runestone::encipher`` writes it; an etching as
``Context::etch`` makes it: a commit transaction paying a P2TR output, then, some blocks
later, a reveal spending it with the witness ``[tapscript pushing the rune's commitment,
control block]``. Keys and hashes are deterministic (SHA-256 of a counter), so txids are
reproducible.

* :func:`encipher`: a :class:`~mesh_magics.runes.protocol.runestone.Runestone` (or raw
  integers, for cenotaphs) as an ``OP_RETURN OP_13`` script;
* :func:`serialize_tx`: a transaction's bytes (segwit serialization when any input has a
  witness) and its txid;
* :class:`ChainBuilder`: blocks of such transactions, as ``{"height", "time", "txs"}``.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Sequence
from typing import Any

from ..protocol.names import rune_number
from ..protocol.runestone import Edict, Etching, Runestone, Terms
from ..protocol.script import push_data
from ..protocol.varint import encode
from .rules import commitment

__all__ = [
    "ChainBuilder",
    "commit_witness",
    "control_block",
    "encipher",
    "etching",
    "p2tr",
    "p2wpkh",
    "raw_blocks",
    "runestone",
    "serialize_tx",
]

Outpoint = tuple[str, int]
_FLAG_ETCHING, _FLAG_TERMS, _FLAG_TURBO = 1, 2, 4


def _h(*parts: Any) -> bytes:
    return hashlib.sha256(repr(parts).encode()).digest()


def p2wpkh(seed: Any) -> bytes:
    """A P2WPKH script with a deterministic 20-byte hash of ``seed``."""
    return b"\x00\x14" + _h("wpkh", seed)[:20]


def p2tr(seed: Any) -> bytes:
    """A P2TR script with a deterministic 32-byte key of ``seed``."""
    return b"\x51\x20" + _h("tr", seed)


def _ints(runestone: Runestone) -> list[int]:
    """ord's ``Runestone::encipher`` field order, then Body and the sorted, delta-encoded edicts."""
    out: list[int] = []

    def field(tag: int, value: int | None) -> None:
        if value is not None:
            out.extend((tag, value))

    e = runestone.etching
    if e is not None:
        flags = _FLAG_ETCHING | (_FLAG_TERMS if e.terms is not None else 0) | (_FLAG_TURBO if e.turbo else 0)
        field(2, flags)
        field(4, e.rune)
        field(1, e.divisibility)
        field(3, e.spacers)
        field(5, None if e.symbol is None else ord(e.symbol))
        field(6, e.premine)
        if e.terms is not None:
            t = e.terms
            field(10, t.amount)
            field(8, t.cap)
            field(12, t.height[0])
            field(14, t.height[1])
            field(16, t.offset[0])
            field(18, t.offset[1])
    if runestone.mint is not None:
        field(20, runestone.mint[0])
        field(20, runestone.mint[1])
    field(22, runestone.pointer)
    if runestone.edicts:
        out.append(0)
        block = tx = 0
        for edict in sorted(runestone.edicts, key=lambda d: (d.block, d.tx)):
            out.extend((edict.block - block, edict.tx - tx if edict.block == block else edict.tx))
            out.extend((edict.amount, edict.output))
            block, tx = edict.block, edict.tx
    return out


def encipher(runestone: Runestone | Sequence[int]) -> bytes:
    """The ``OP_RETURN OP_13 <payload>`` script of ``runestone``, or of a raw integer list
    (to build cenotaphs: any tags, flags or edict chunks, encoded as given)."""
    ints = _ints(runestone) if isinstance(runestone, Runestone) else list(runestone)
    return b"\x6a\x5d" + push_data(b"".join(encode(i) for i in ints))


def _cs(n: int) -> bytes:
    if n < 0xFD:
        return bytes((n,))
    return b"\xfd" + n.to_bytes(2, "little") if n <= 0xFFFF else b"\xfe" + n.to_bytes(4, "little")


def serialize_tx(
    inputs: Sequence[tuple[str, int, bytes, Sequence[bytes]]],
    outputs: Sequence[tuple[int, bytes]],
    version: int = 2,
    locktime: int = 0,
) -> tuple[bytes, str]:
    """``(raw bytes, txid hex)``. ``inputs``: ``(prev txid hex, vout, script_sig, witness)``
    (sequence 0xffffffff); ``outputs``: ``(value, script)``."""
    ins = b"".join(
        bytes.fromhex(txid)[::-1] + struct.pack("<I", vout) + _cs(len(sig)) + sig + b"\xff\xff\xff\xff"
        for txid, vout, sig, _ in inputs
    )
    outs = b"".join(struct.pack("<Q", value) + _cs(len(script)) + script for value, script in outputs)
    body = _cs(len(inputs)) + ins + _cs(len(outputs)) + outs
    head, tail = struct.pack("<i", version), struct.pack("<I", locktime)
    base = head + body + tail
    txid = hashlib.sha256(hashlib.sha256(base).digest()).digest()[::-1].hex()
    if not any(w for *_, w in inputs):
        return base, txid
    wit = b"".join(_cs(len(w)) + b"".join(_cs(len(item)) + item for item in w) for *_, w in inputs)
    return head + b"\x00\x01" + body + wit + tail, txid


class ChainBuilder:
    """Blocks of transactions, one block at a time, in ord's test-harness shapes.

    ``block()`` opens the next block with its coinbase; ``tx(...)`` adds a transaction to
    it; ``blocks`` is the list so far (``time`` = height, as ord's mock node sets it, or
    ``time_of(height)``). :meth:`etch` is ``Context::etch``: commit, ``confirmations - 1``
    empty blocks, then the reveal; it returns the rune id and the reveal's txid.
    """

    def __init__(self, start_height: int = 0, time_of: Any = None) -> None:
        self.blocks: list[dict[str, Any]] = []
        self.height = start_height - 1
        self._time_of = time_of or (lambda h: h)
        self._n = 0

    def _fresh(self, kind: str = "tr") -> bytes:
        self._n += 1
        return p2tr(self._n) if kind == "tr" else p2wpkh(self._n)

    def block(self) -> Outpoint:
        """Open block ``height + 1``; returns its coinbase's P2TR output."""
        self.height += 1
        h = self.height
        sig = (
            bytes((0x50 + h,)) if 1 <= h <= 16 else push_data(h.to_bytes((h.bit_length() + 8) // 8, "little"))
        )
        raw, txid = serialize_tx([("00" * 32, 0xFFFFFFFF, sig or b"\x00", [])], [(50 * 10**8, self._fresh())])
        self.blocks.append({"height": h, "time": self._time_of(h), "txs": [raw.hex()]})
        return (txid, 0)

    @property
    def tx_count(self) -> int:
        """Transactions in the open block (the next one added gets this index)."""
        return len(self.blocks[-1]["txs"])

    def tx(
        self,
        inputs: Iterable[Outpoint | tuple[str, int, Sequence[bytes]]],
        outputs: Sequence[bytes] | int = 1,
        runestone: Runestone | Sequence[int] | bytes | None = None,
        op_return_index: int | None = None,
        value: int = 10_000,
    ) -> str:
        """Add a transaction to the open block; returns its txid.

        ``inputs``: outpoints, or ``(txid, vout, witness)``; ``outputs``: scripts, or a count
        of fresh P2WPKH outputs; ``runestone`` (a Runestone, raw integers, or a whole script)
        is inserted at ``op_return_index`` (default: last) with value 0.
        """
        ins = [(i[0], i[1], b"", i[2] if len(i) > 2 else []) for i in inputs]
        scripts = [self._fresh("wpkh") for _ in range(outputs)] if isinstance(outputs, int) else list(outputs)
        outs = [(value, s) for s in scripts]
        if runestone is not None:
            script = runestone if isinstance(runestone, bytes) else encipher(runestone)
            outs.insert(len(outs) if op_return_index is None else op_return_index, (0, script))
        raw, txid = serialize_tx(ins, outs)
        self.blocks[-1]["txs"].append(raw.hex())
        return txid

    def etch(
        self,
        runestone: Runestone | Sequence[int] | bytes,
        outputs: Sequence[bytes] | int = 1,
        confirmations: int = 6,
        commit: bytes | None = None,
        commit_script: bytes | None = None,
        witness: Sequence[bytes] | None = None,
    ) -> tuple[tuple[int, int], str]:
        """ord's ``Context::etch``: ``(rune id, reveal txid)``. The commit goes in a new block and
        the reveal in the block that gives it ``confirmations`` (the same block for 1).
        ``commit``: the bytes the reveal's tapscript pushes (default: the etched rune's
        commitment; nothing for no name; give it for a raw runestone). ``commit_script``: the
        commit output's script (default: a fresh P2TR key); ``witness``: the reveal input's
        whole witness instead of ``[tapscript, control block]``."""
        funding = self.block()
        commit_txid = self.tx([funding], [commit_script or self._fresh()])
        for _ in range(confirmations - 1):
            self.block()
        rune = None
        if isinstance(runestone, Runestone) and runestone.etching is not None:
            rune = runestone.etching.rune
        if witness is None:
            data = commit if commit is not None else (b"" if rune is None else commitment(rune))
            witness = commit_witness(data, self._n) if data or rune == 0 else [b"", control_block(self._n)]
        block, tx_index = self.height, self.tx_count
        txid = self.tx([(commit_txid, 0, witness)], outputs, runestone)
        return (block, tx_index), txid


def control_block(seed: Any = 0) -> bytes:
    """A well-formed 33-byte control block (leaf version 0xc0, a deterministic key)."""
    return b"\xc0" + _h("control", seed)


def commit_witness(data: bytes, seed: Any = 0) -> list[bytes]:
    """A script-path witness whose tapscript pushes ``data`` (an empty push is ``OP_0``)."""
    return [push_data(data) if data else b"\x00", control_block(seed)]


def etching(
    name: str | None = None,
    premine: int | None = None,
    terms: Terms | None = None,
    *,
    divisibility: int | None = None,
    spacers: int | None = None,
    symbol: str | None = None,
    turbo: bool = False,
) -> Etching:
    """An :class:`~mesh_magics.runes.protocol.runestone.Etching` by name (None: unnamed)."""
    rune = None if name is None else rune_number(name)
    return Etching(divisibility, premine, rune, spacers, symbol, terms, turbo)


def runestone(
    edicts: Iterable[tuple[tuple[int, int], int, int]] = (),
    etching: Etching | None = None,
    mint: tuple[int, int] | None = None,
    pointer: int | None = None,
) -> Runestone:
    """A Runestone from ``((block, tx), amount, output)`` edicts."""
    return Runestone(tuple(Edict(b, t, a, o) for (b, t), a, o in edicts), etching, mint, pointer)


def raw_blocks(blocks: Sequence[dict[str, Any]], bits: int = 0x207FFFFF) -> list[bytes]:
    """The serialized blocks of a block list: an 80-byte header (version 4, the previous
    block's hash, the merkle root of its transactions, its ``time``, ``bits``, nonce 0;
    no proof of work) and the transactions."""
    from ...chain.format.tx import double_sha256, merkle_root

    out, prev = [], bytes(32)
    for block in blocks:
        txs = [bytes.fromhex(t) for t in block["txs"]]
        txids = [bytes.fromhex(serialize_txid(t))[::-1] for t in txs]
        header = struct.pack("<i32s32sIII", 4, prev, merkle_root(txids), int(block["time"]), bits, 0)
        prev = double_sha256(header)
        out.append(header + _cs(len(txs)) + b"".join(txs))
    return out


def serialize_txid(raw: bytes) -> str:
    """The txid (display hex) of a serialized transaction."""
    from ...chain.format.tx import parse_tx

    return parse_tx(raw)[0].txid_hex

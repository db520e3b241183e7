"""Regtest chains written by Bitcoin Core's own validation engine: fixtures for tests and demos.

:class:`Regtest` drives ``libbitcoinkernel`` (Core's consensus code as a library, through
`py-bitcoinkernel <https://pypi.org/project/py-bitcoinkernel/>`_, ``import pbk``; a
test/demo dependency, imported only here). Every block it mines is validated and stored
by Core: the data directory gets real ``blocks/blk*.dat``, ``rev*.dat`` (undo data),
``xor.dat`` and the LevelDB block index, exactly as a node writes them. A block Core
rejects is a :class:`~mesh_magics.errors.ChainError` with the kernel's log lines.

No keys are needed for most spends. An output is locked by a :class:`Lock`, which also
knows how to unlock it: bare ``OP_TRUE``; P2SH and P2WSH of a script such as ``OP_TRUE``;
a P2TR **script-path** spend of one leaf under the NUMS internal key (no signature, only
the BIP 341 tweak), e.g. ``<data> OP_DROP OP_TRUE``; and, signed with the builder's own
ECDSA, P2PK (compressed or not) and P2PKH; or :meth:`Lock.custom`: any script with the
scriptSig and witness you give. Outputs can also be any script (OP_RETURN, addresses
nobody here can spend). :meth:`Regtest.tx` builds and unlocks a transaction from
:class:`Utxo` s and ``(value, Lock or script)`` outputs; :meth:`Regtest.mine` validates
blocks of them with Core (:meth:`Regtest.mine_raw` for pre-built bytes at scale)::

    from mesh_magics.chain.regtest import Lock, Regtest
    from mesh_magics.chain.format.build import push

    with Regtest(tmp / "node", xor_key=bytes(range(1, 9))) as chain:
        first = chain.mine()                        # coinbase pays to OP_TRUE (Lock.op_true())
        chain.mine(n=100)                           # coinbases mature after 100 blocks
        leaf = push(b"commitment") + b"\\x75\\x51"  # <data> OP_DROP OP_TRUE
        commit = chain.tx([first.coinbase], [(10_000, Lock.taproot(leaf)), (49 * 10**8, Lock.op_true())])
        chain.mine([commit])
        chain.mine(n=5)                             # 6 confirmations, counting the reveal's block
        reveal = chain.tx([commit.utxo(0)], [(0, b"\\x6a\\x5d" + payload), (546, Lock.op_true())])
        chain.mine([reveal])                        # its input's witness reveals the leaf
        stale = chain.mine(parent=chain.block(104)) # a competing block: a stale branch

``chain.datadir`` is then a regtest data directory (``mesh_magics.chain.read`` reads it;
close the builder first, or use it as a context manager: Core holds the index's lock).
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ChainError
from .format import secp
from .format.build import (
    assemble_block,
    coinbase,
    legacy_sighash,
    make_tx,
    push,
    serialize_tx,
    witness_commitment,
)
from .format.tx import Tx, TxIn, TxOut, parse_block, tx_from_hex

__all__ = ["Built", "Lock", "Mined", "Regtest", "Utxo", "subsidy"]

OP_TRUE = b"\x51"


def _hash160(data: bytes) -> bytes:
    import hashlib

    return hashlib.new("ripemd160", hashlib.sha256(data).digest()).digest()


def subsidy(height: int) -> int:
    """Regtest's block subsidy (halving every 150 blocks)."""
    halvings = height // 150
    return 0 if halvings >= 64 else (50 * 100_000_000) >> halvings


@dataclass(frozen=True)
class Lock:
    """An output script and how this builder unlocks it (see the module doc)."""

    script: bytes
    kind: str = "none"  # op_true, p2sh, p2wsh, taproot, p2pk, p2pkh, custom; none: not spendable here
    inner: bytes = b""  # the redeem script, witness script or tapscript leaf
    control: bytes = b""  # a taproot control block
    items: tuple[bytes, ...] = ()  # stack items pushed before the script runs
    secret: int = 0
    compressed: bool = True
    annex: bytes = b""  # a taproot annex (0x50 ...) to append to the witness: valid, not relayed

    @classmethod
    def op_true(cls) -> Lock:
        return cls(OP_TRUE, "op_true")

    @classmethod
    def raw(cls, script: bytes) -> Lock:
        """Any script; this builder cannot spend it."""
        return cls(script)

    @classmethod
    def custom(cls, script: bytes, script_sig: bytes = b"", witness: Sequence[bytes] = ()) -> Lock:
        """Any script, spent with exactly this scriptSig and witness (you make them satisfy it)."""
        return cls(script, "custom", script_sig, items=tuple(witness))

    @classmethod
    def p2sh(cls, redeem: bytes = OP_TRUE, items: Sequence[bytes] = ()) -> Lock:
        return cls(b"\xa9\x14" + _hash160(redeem) + b"\x87", "p2sh", redeem, items=tuple(items))

    @classmethod
    def p2wsh(cls, script: bytes = OP_TRUE, items: Sequence[bytes] = ()) -> Lock:
        import hashlib

        return cls(b"\x00\x20" + hashlib.sha256(script).digest(), "p2wsh", script, items=tuple(items))

    @classmethod
    def taproot(
        cls, leaf: bytes = OP_TRUE, items: Sequence[bytes] = (), internal: bytes = secp.NUMS_X
    ) -> Lock:
        """P2TR with one leaf, spent by the script path: witness ``[*items, leaf, control block]``."""
        spk, control = secp.taproot_output(leaf, internal)
        return cls(spk, "taproot", leaf, control, tuple(items))

    @classmethod
    def p2pk(cls, secret: int, compressed: bool = True) -> Lock:
        key = secp.pubkey(secret, compressed)
        return cls(push(key) + b"\xac", "p2pk", secret=secret, compressed=compressed)

    @classmethod
    def p2pkh(cls, secret: int, compressed: bool = True) -> Lock:
        h = _hash160(secp.pubkey(secret, compressed))
        return cls(b"\x76\xa9\x14" + h + b"\x88\xac", "p2pkh", secret=secret, compressed=compressed)

    def unlock(self, digest: bytes | None) -> tuple[bytes, tuple[bytes, ...]]:
        """(scriptSig, witness) spending it; ``digest`` is the legacy sighash for signed kinds."""
        if self.kind == "op_true":
            return b"", ()
        if self.kind == "custom":
            return self.inner, self.items
        if self.kind == "p2sh":
            return b"".join(push(i) for i in self.items) + push(self.inner), ()
        if self.kind == "p2wsh":
            return b"", (*self.items, self.inner)
        if self.kind == "taproot":
            return b"", (*self.items, self.inner, self.control) + ((self.annex,) if self.annex else ())
        if self.kind in ("p2pk", "p2pkh"):
            assert digest is not None
            sig = push(secp.sign_ecdsa(self.secret, digest) + b"\x01")
            if self.kind == "p2pk":
                return sig, ()
            return sig + push(secp.pubkey(self.secret, self.compressed)), ()
        raise ChainError(f"this builder cannot spend an output locked by script {self.script.hex()}")


@dataclass(frozen=True)
class Utxo:
    """An output this builder can spend: its outpoint, value and lock."""

    txid: bytes  # internal byte order
    vout: int
    value: int
    lock: Lock

    @property
    def outpoint(self) -> str:
        return f"{self.txid[::-1].hex()}:{self.vout}"


@dataclass
class Built:
    """A transaction :meth:`Regtest.tx` built: the parsed :class:`~.format.tx.Tx`, its bytes, its outputs' locks."""

    tx: Tx
    raw: bytes
    locks: list[Lock]
    fee: int

    @property
    def txid(self) -> str:
        return self.tx.txid_hex

    def utxo(self, vout: int) -> Utxo:
        return Utxo(self.tx.txid, vout, self.tx.outputs[vout].value, self.locks[vout])


@dataclass
class Mined:
    """A block Core accepted: its height, hash, bytes, transactions and coinbase output."""

    height: int
    hash: bytes  # internal byte order
    raw: bytes
    txs: list[Tx]
    time: int
    coinbase: Utxo
    parent: bytes

    @property
    def hash_hex(self) -> str:
        return self.hash[::-1].hex()


@dataclass
class _Log:
    lines: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=40))


def _pbk() -> Any:
    try:
        import pbk
    except ImportError:
        raise ChainError(
            "mesh_magics.chain.regtest needs py-bitcoinkernel (Bitcoin Core's libbitcoinkernel): "
            "pip install py-bitcoinkernel"
        ) from None
    return pbk


class Regtest:
    """A regtest data directory grown block by block through Core's validation engine."""

    def __init__(
        self, datadir: str | Path, *, xor_key: bytes | None = None, time: int = 1_600_000_000
    ) -> None:
        pbk = _pbk()
        self.datadir = Path(datadir)
        blocks = self.datadir / "blocks"
        if xor_key is not None:  # a pre-existing xor.dat has priority over a random key (Core)
            if len(xor_key) != 8 or (blocks / "xor.dat").exists():
                raise ChainError("xor_key must be 8 bytes, for a new data directory")
            blocks.mkdir(parents=True, exist_ok=True)
            (blocks / "xor.dat").write_bytes(xor_key)
        self._log = _Log()
        self._conn = pbk.LoggingConnection(lambda m: self._log.lines.append(m.rstrip()))
        self._checked: dict[bytes, tuple[int, int]] = {}

        def checked(_user: Any, block: Any, state: Any) -> None:
            self._checked[bytes(block.block_hash)] = (
                int(state.validation_mode),
                int(state.block_validation_result),
            )

        self._cm = pbk.load_chainman(
            self.datadir, pbk.ChainType.REGTEST, pbk.ValidationInterfaceCallbacks(block_checked=checked)
        )
        self._pbk = pbk
        self.blocks: dict[bytes, Mined] = {}
        self._by_height: dict[int, bytes] = {}
        self._time = time
        chain = self._cm.get_active_chain()
        for h, entry in enumerate(chain.block_tree_entries):  # an existing directory: its active chain
            self._by_height[h] = self._remember(bytes(self._cm.blocks[entry]), h).hash
        self.tip = self.blocks[self._by_height[chain.height]]

    # -- building -------------------------------------------------------------------------
    def _remember(self, raw: bytes, height: int) -> Mined:
        block = parse_block(raw)
        cb = block.txs[0]
        lock = Lock.op_true() if cb.outputs[0].script == OP_TRUE else Lock.raw(cb.outputs[0].script)
        m = Mined(height, block.header.hash, raw, list(block.txs), block.header.time,
                  Utxo(cb.txid, 0, cb.outputs[0].value, lock), block.header.prev_hash)  # fmt: skip
        self.blocks[m.hash] = m
        return m

    def tx(self, spends: Sequence[Utxo], outputs: Sequence[tuple[int, Lock | bytes]], *, version: int = 2,
           locktime: int = 0, sequence: int = 0xFFFFFFFD) -> Built:  # fmt: skip
        """A transaction spending ``spends`` into ``outputs`` (value, Lock or raw script), unlocked."""
        locks = [o if isinstance(o, Lock) else Lock.raw(o) for _, o in outputs]
        outs = [TxOut(v, lock.script) for (v, _), lock in zip(outputs, locks)]
        bare = [TxIn(u.txid, u.vout, b"", sequence) for u in spends]
        ins = []
        for k, u in enumerate(spends):
            digest = None
            if u.lock.kind in ("p2pk", "p2pkh"):
                digest = legacy_sighash(bare, outs, k, u.lock.script, version, locktime)
            sig, wit = u.lock.unlock(digest)
            ins.append(TxIn(u.txid, u.vout, sig, sequence, wit))
        tx = make_tx(ins, outs, version, locktime)
        fee = sum(u.value for u in spends) - sum(o.value for o in outs)
        if fee < 0:
            raise ChainError(
                f"outputs ({sum(o.value for o in outs)}) exceed the inputs ({fee + sum(o.value for o in outs)})"
            )
        return Built(tx, serialize_tx(ins, outs, version, locktime), locks, fee)

    def block(self, height: int) -> Mined:
        """The block at ``height`` on the active chain."""
        return self.blocks[self._by_height[height]]

    def mine(self, txs: Sequence[Built | bytes] = (), *, n: int = 1, pay_to: Lock | None = None,
             parent: Mined | None = None, time: int | None = None, extra: bytes = b"") -> Mined:  # fmt: skip
        """Mine ``n`` blocks on ``parent`` (default: the tip), the first holding ``txs``; the last one."""
        mined = parent or self.tip
        for k in range(n):
            mined = self._mine_one(list(txs) if k == 0 else [], pay_to or Lock.op_true(), mined, time, extra)
            time = None
        return mined

    def _mine_one(
        self, txs: list[Built | bytes], pay_to: Lock, parent: Mined, time: int | None, extra: bytes
    ) -> Mined:
        parsed = [t.tx if isinstance(t, Built) else _parse(t) for t in txs]
        raws = [t.raw if isinstance(t, Built) else t for t in txs]
        return self._submit(raws, [t.txid for t in parsed], [t.wtxid for t in parsed],
                            any(t.has_witness for t in parsed), pay_to, parent, time, extra, keep=True)  # fmt: skip

    def mine_raw(self, raws: Sequence[bytes], txids: Sequence[bytes], wtxids: Sequence[bytes], *,
                 pay_to: Lock | None = None, parent: Mined | None = None, time: int | None = None) -> Mined:  # fmt: skip
        """Mine one block of raw transactions whose txids and wtxids (internal order) the caller computed.

        The fast path for big generated chains (the benchmark's): nothing is parsed here, and
        the :class:`Mined` it returns keeps neither the block's bytes nor its transactions.
        """
        segwit = any(t != w for t, w in zip(txids, wtxids))
        return self._submit(list(raws), list(txids), list(wtxids), segwit, pay_to or Lock.op_true(),
                            parent or self.tip, time, b"", keep=False)  # fmt: skip

    def _submit(self, raws: list[bytes], txids: list[bytes], wtxids: list[bytes], segwit: bool, pay_to: Lock,
                parent: Mined, time: int | None, extra: bytes, *, keep: bool) -> Mined:  # fmt: skip
        height = parent.height + 1
        siblings = sum(1 for b in self.blocks.values() if b.parent == parent.hash)
        commitment = witness_commitment([bytes(32), *wtxids]) if segwit else None
        cb = coinbase(
            height, [TxOut(subsidy(height), pay_to.script)], commitment, extra or bytes((siblings,))
        )
        cb_raw = serialize_tx(cb.inputs, cb.outputs, cb.version, cb.locktime)
        when = time if time is not None else max(parent.time + 1, self._time + 600 * height) + siblings
        raw = assemble_block(parent.hash, [cb_raw, *raws], when, txids=[cb.txid, *txids])
        block = self._pbk.Block(raw)
        h = bytes(block.block_hash)
        try:
            self._cm.process_block(block)
        except self._pbk.KernelException as e:
            raise self._rejected(height, h, str(e)) from None
        mode, result = self._checked.get(h, (0, 0))
        if mode != 0:
            raise self._rejected(height, h, f"validation mode {mode}, result {result}")
        if keep:
            m = self._remember(raw, height)
        else:
            m = Mined(height, h, b"", [], when, Utxo(cb.txid, 0, 0, pay_to), parent.hash)
            self.blocks[h] = m
        m.coinbase = Utxo(cb.txid, 0, subsidy(height), pay_to)
        best = bytes(self._cm.best_entry.block_hash)
        if best in self.blocks:  # follow Core's active chain (a reorg may have happened)
            self._reindex(best)
        return m

    def _reindex(self, best: bytes) -> None:
        self._by_height = {}
        b = self.blocks[best]
        while True:
            self._by_height[b.height] = b.hash
            if b.height == 0 or b.parent not in self.blocks:
                break
            b = self.blocks[b.parent]
        self.tip = self.blocks[best]

    def _rejected(self, height: int, h: bytes, why: str) -> ChainError:
        """Core's own reason (from its log) for rejecting a block, or the validation state."""
        for line in self._log.lines:
            if "validation error:" in line:
                why = line.split("validation error:", 1)[1].strip()
                break
        self._log.lines.clear()
        return ChainError(f"Core rejected block {height} ({h[::-1].hex()}): {why}")

    # -- lifetime -------------------------------------------------------------------------
    def close(self) -> None:
        """Flush and release the data directory (Core holds its lock while open)."""
        if getattr(self, "_cm", None) is not None:
            self._cm = None
            import gc

            gc.collect()

    def __enter__(self) -> Regtest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _parse(raw: bytes) -> Tx:
    return tx_from_hex(raw.hex())

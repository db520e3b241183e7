"""Regtest chains written by Bitcoin Core's validation engine (pbk), built once per session.

:func:`main_chain` mines a chain that exercises every undo script form and the walker's
edges: coinbases paying to P2PK (uncompressed and compressed keys), P2PKH, P2SH, P2WSH
and a taproot leaf; after maturity, transactions spending them (signed ECDSA for the
legacy ones), outputs of every script type, 300 outputs and 260 inputs in one
transaction (CompactSize 0xfd), a 600-byte tapscript leaf (two 300-byte pushes), a taproot spend with an
annex, a spend inside its own block, and a stale branch: a block at height 110 that was
the tip (so Core wrote its undo data) until a longer branch reorganised it away.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from mesh_magics.chain.format.build import push
from mesh_magics.chain.regtest import Built, Lock, Mined, Regtest, Utxo

XOR_KEY = bytes.fromhex("a1b2c3d4e5f60718")
LEAF = push(b"mesh-magics") + b"\x75\x51"  # <data> OP_DROP OP_TRUE
BIG_LEAF = (
    push(bytes(range(256)) + bytes(44)) * 2 + b"\x6d\x75\x51"
)  # two 300-byte pushes; OP_2DROP, OP_DROP (the item), OP_TRUE


@dataclass
class Fixture:
    """A built chain: its directory, the best chain's blocks and what built them."""

    datadir: Path
    key: bytes
    best: list[Mined]  # genesis first
    stale: list[Mined]
    built: list[tuple[int, Built]] = field(default_factory=list)  # (height, transaction)

    @property
    def raws(self) -> list[bytes]:
        return [b.raw for b in self.best]


def main_chain(path: Path, key: bytes = XOR_KEY) -> Fixture:
    built: list[tuple[int, Built]] = []
    with Regtest(path, xor_key=key) as c:
        locks = [
            Lock.p2pk(11, compressed=False),
            Lock.p2pk(12),
            Lock.p2pkh(13),
            Lock.p2sh(),
            Lock.p2wsh(),
            Lock.taproot(LEAF),
            Lock.p2pkh(14, compressed=False),
        ]
        cbs = [c.mine(pay_to=lock).coinbase for lock in locks]
        c.mine(n=100)
        big = Lock.taproot(BIG_LEAF, items=[b"\x01" * 300])  # a 300-byte witness item (CompactSize fd)
        t1 = c.tx(
            cbs[:3],
            [
                (10**8, Lock.op_true()),
                (2 * 10**8, big),
                (0, b"\x6a\x5d\x05\x14\xc0\xa2\x33\x14"),  # a runestone-shaped OP_RETURN
                (1000, b"\x00\x14" + bytes(range(20))),
                (1000, b"\x51\x20" + bytes(range(32))),
                (1000, b"\x51\x21" + b"\x02" + bytes(32) + b"\x51\xae"),  # bare 1-of-1 multisig
                (240, b"\x51\x02\x4e\x73"),  # anchor
                (1000, b"\x52\x10" + bytes(16)),  # witness v2
                (1000, b"\x6a" + bytes(300)),  # a big OP_RETURN
            ],
        )
        t2 = c.tx(cbs[3:6], [(10_000, Lock.p2wsh())] * 300 + [(10**9, Lock.p2wsh())])
        annexed = Utxo(t1.tx.txid, 1, 2 * 10**8, replace(big, annex=b"\x50annex"))
        t3 = c.tx([t1.utxo(0), annexed], [(10**8, Lock.op_true())])
        t4 = c.tx([cbs[6]], [(10**9, Lock.p2pkh(15)), (10**8, Lock.op_true())], version=1)
        m108 = c.mine([t1, t2, t3, t4])
        built += [(108, t) for t in (t1, t2, t3, t4)]
        t5 = c.tx([t2.utxo(i) for i in range(260)], [(2_000_000, Lock.op_true()), (400_000, Lock.p2wsh())])
        m109 = c.mine([t5])
        built.append((109, t5))
        # the stale branch: S is the tip first (Core connects it and writes its undo data) ...
        ts = c.tx([t3.utxo(0)], [(99_000_000, Lock.raw(b"\x00\x14" + bytes(20)))])
        s110 = c.mine([ts], parent=m109)
        # ... then a competing 110 (a tie: S stays the tip) spending the same coin otherwise, and 111 wins
        tm = c.tx([t3.utxo(0)], [(98_000_000, Lock.op_true())])
        m110 = c.mine([tm], parent=m109)
        c.mine(parent=m110)
        assert c.tip.height == 111 and s110.hash not in {c.block(h).hash for h in range(112)}
        built.append((110, tm))
        t6 = c.tx([tm.utxo(0), t5.utxo(0)], [(50_000_000, Lock.p2pkh(16)), (40_000_000, Lock.taproot())])
        c.mine([t6])
        built.append((112, t6))
        c.mine()
        best = [c.block(h) for h in range(c.tip.height + 1)]
    assert m108 in best and m109 in best
    return Fixture(path, key, best, [s110], built)


def small_chain(path: Path, key: bytes | None, blocks: int = 3) -> Fixture:
    """A short chain (coinbases and one spend), with a chosen XOR key (zeros: an older node's)."""
    with Regtest(path, xor_key=key) as c:
        first = c.mine()
        c.mine(n=100)
        t = c.tx([first.coinbase], [(10**8, Lock.p2wsh()), (10**8, Lock.taproot(LEAF))])
        c.mine([t], n=blocks)
        best = [c.block(h) for h in range(c.tip.height + 1)]
    return Fixture(path, key or bytes(8), best, [], [(102, t)])


_BUILT: dict[str, Fixture] = {}


def cached(tmp_path_factory, name: str, build) -> Fixture:
    """``build(path)`` once per test session (all modules share it); tests must not alter it."""
    if name not in _BUILT:
        _BUILT[name] = build(tmp_path_factory.mktemp(name) / "node")
    return _BUILT[name]


def copy_datadir(fixture: Fixture, dest: Path) -> Path:
    """A copy of a fixture's data directory, to damage."""
    import shutil

    shutil.copytree(fixture.datadir, dest, ignore=shutil.ignore_patterns("LOCK", ".lock"))
    return dest

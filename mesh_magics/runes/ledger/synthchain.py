"""Random block lists with mainnet-like Runes activity, for the differential test and benchmarks.

:func:`random_chain` writes blocks of real transactions (:class:`~.testchain.ChainBuilder`
shapes) whose mix follows what the runes era looks like: mostly mints and transfers, some
etchings (commit, then reveal 6+ blocks later; a few immature, a few reusing a taken name,
a few unnamed), cenotaphs of every flaw, plain spends that carry runes along, splits,
pointers, burns to OP_RETURN outputs, several runestone outputs in one transaction,
outputs without an address, and long transfer chains on a few hot runes. It knows nothing
of the ledger's rules: it writes plausible transactions and lets the ledgers decide what
they do. Deterministic for a seed.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from ..protocol.names import rune_name
from ..protocol.runestone import Terms
from .rules import commitment
from .testchain import ChainBuilder, commit_witness, encipher, etching, p2tr, p2wpkh, runestone

__all__ = ["DEFAULT_MIX", "MAINNET_MIX", "random_chain"]

MAX = 2**128 - 1
#: transaction kinds and their weights
DEFAULT_MIX: dict[str, float] = {
    "mint": 40, "transfer": 30, "hot": 12, "plain": 8, "commit": 3, "cenotaph": 3, "two_runestones": 1,
    "burn": 1, "btc": 2,
}  # fmt: skip
#: a runes-era block: half the transactions plain BTC payments, most of the rest mints and transfers
MAINNET_MIX: dict[str, float] = {
    "btc": 40, "mint": 30, "transfer": 14, "hot": 9, "plain": 3, "commit": 1.5, "cenotaph": 1, "burn": 0.5,
    "two_runestones": 0.5,
}  # fmt: skip
_FLAWS: list[Callable[[tuple[int, int]], bytes]] = [
    lambda m: encipher([20, m[0], 20, m[1], 0, 1, 1, 5, 99]),  # EdictOutput (with a mint)
    lambda m: encipher([0, 0, 1, 5, 0]),  # EdictRuneId
    lambda m: b"\x6a\x5d\x05\x00",  # InvalidScript
    lambda m: b"\x6a\x5d\x51",  # Opcode
    lambda m: encipher([2, 3, 6, MAX, 8, 1, 10, 1]),  # SupplyOverflow
    lambda m: encipher([20, m[0], 20, m[1], 0, 1, 1, 5]),  # TrailingIntegers
    lambda m: encipher([20, m[0], 20, m[1], 22]),  # TruncatedField
    lambda m: encipher([20, m[0], 20, m[1], 126, 0]),  # UnrecognizedEvenTag
    lambda m: encipher([2, 8]),  # UnrecognizedFlag
    lambda m: b"\x6a\x5d\x01\x80",  # Varint
]


class _Gen:
    def __init__(
        self, seed: int, start_height: int, mix: dict[str, float], hot: int, profile: str, time_of: Any = None
    ) -> None:
        self.rng = random.Random(seed)
        self.profile = profile
        self.b = ChainBuilder(start_height=start_height, time_of=time_of)
        self.kinds, self.weights = list(mix), list(mix.values())
        self.pool: list[tuple[str, int]] = []  # spendable outputs, newest last (spent ones skipped)
        self.runic: list[tuple[str, int]] = []  # outputs that probably hold runes, newest last
        self.spent: set[tuple[str, int]] = set()
        self.took_runic = False
        self.runes: list[tuple[int, int]] = []  # ids that reveals may have created
        self.hot: list[tuple[int, int]] = []
        self.mintable: list[tuple[int, int]] = []  # ids revealed with a cap (the ledger decides the rest)
        self.tips: dict[tuple[int, int], tuple[str, int]] = {}  # hot rune -> the outpoint its chain is at
        self.commits: list[tuple[int, tuple[str, int], int | None]] = []  # (height, outpoint, rune)
        self.names: list[int] = []
        self.n_hot = hot
        self.n = 0

    # -- helpers -----------------------------------------------------------------------
    def fresh(self) -> bytes:
        self.n += 1
        r = self.rng.random()
        if r < 0.03:
            return b"\x51"  # OP_TRUE: no address
        return p2tr(("o", self.n)) if r < 0.3 else p2wpkh(("o", self.n))

    def take(self, k: int = 1, recent: bool = True, runic: float = 0.0) -> list[tuple[str, int]]:
        """``k`` unspent outputs, each from the runic pool with probability ``runic``."""
        out: list[tuple[str, int]] = []
        self.took_runic = False
        while len(out) < k and (self.pool or self.runic):
            from_runic = bool(self.runic) and (self.rng.random() < runic or not self.pool)
            pool = self.runic if from_runic else self.pool
            n = len(pool)
            i = n - 1 - int(self.rng.expovariate(1 / 8)) % n if recent else self.rng.randrange(n)
            pool[i], pool[-1] = pool[-1], pool[i]
            outpoint = pool.pop()
            if outpoint not in self.spent:
                self.spent.add(outpoint)
                out.append(outpoint)
                self.took_runic |= from_runic
        return out

    def outputs(self, k: int) -> list[bytes]:
        return [b"\x6a\x01\x00" if self.rng.random() < 0.05 else self.fresh() for _ in range(k)]

    def add(self, txid: str, scripts: list[bytes], runic: bool) -> None:
        pool = self.runic if runic else self.pool
        for vout, script in enumerate(scripts):
            if script[:1] != b"\x6a":
                pool.append((txid, vout))

    def amount(self) -> int:
        r = self.rng.random()
        return 0 if r < 0.25 else self.rng.choice((1, 7, 100, 1000, 12345, 10**6, 2**64 + 3, MAX))

    def some_rune(self) -> tuple[int, int]:
        if self.hot and self.rng.random() < 0.6:
            return self.rng.choice(self.hot)
        if self.runes and self.rng.random() < 0.95:
            return self.rng.choice(self.runes)
        return (self.rng.randrange(1, self.b.height + 2), self.rng.randrange(3))

    def edicts(self, n_out: int, k: int) -> list[tuple[tuple[int, int], int, int]]:
        return [(self.some_rune(), self.amount(), self.rng.randrange(n_out + 1)) for _ in range(k)]

    def tx(
        self, inputs: list[Any], scripts: list[bytes], stone: Any = None, runic: bool | None = None
    ) -> str:
        """Add a transaction (the runestone last); its outputs join the runic pool if it
        spent a runic output (or ``runic``)."""
        txid = self.b.tx(inputs, scripts, stone)
        self.add(txid, scripts, self.took_runic if runic is None else runic)
        return txid

    # -- transaction kinds -------------------------------------------------------------
    def mint(self) -> None:
        scripts = self.outputs(self.rng.choice((1, 1, 1, 2)))
        pointer = self.rng.randrange(len(scripts) + 1) if self.rng.random() < 0.2 else None
        rid = (
            self.rng.choice(self.mintable) if self.mintable and self.rng.random() < 0.85 else self.some_rune()
        )
        self.tx(self.take(1, recent=False), scripts, runestone(mint=rid, pointer=pointer), True)

    def transfer(self) -> None:
        scripts = self.outputs(self.rng.choice((1, 2, 2, 3, 4)))
        stone = runestone(self.edicts(len(scripts) + 1, self.rng.choice((1, 1, 2, 3))))
        if self.rng.random() < 0.15:
            stone = stone._replace(pointer=self.rng.randrange(len(scripts) + 1))
        self.tx(self.take(self.rng.choice((1, 1, 2, 3)), runic=0.9), scripts, stone)

    def hot_transfer(self) -> None:
        if not self.hot:
            return self.transfer()
        rid = self.rng.choice(self.hot)
        tip = self.tips.get(rid)
        if tip is None or tip in self.spent:
            return self.transfer()
        self.spent.add(tip)
        scripts = [self.fresh(), self.fresh()]
        txid = self.tx([tip], scripts, runestone([(rid, self.rng.choice((1, 10, 1000)), 1)]), True)
        self.tips[rid] = (txid, 0)  # the rest stays on output 0 (the default output)

    def plain(self) -> None:
        scripts = self.outputs(self.rng.choice((1, 2, 3)))
        self.tx(self.take(self.rng.choice((1, 2)), runic=0.7), scripts)

    def btc(self) -> None:
        self.tx(self.take(1, recent=False), self.outputs(2))

    def burn(self) -> None:
        self.tx(
            self.take(1, runic=0.9),
            [b"\x6a"],
            runestone(self.edicts(1, 1)) if self.rng.random() < 0.5 else None,
        )

    def cenotaph(self) -> None:
        flaw = self.rng.choice(_FLAWS)(self.some_rune())
        self.tx(self.take(self.rng.choice((1, 2)), runic=0.8), self.outputs(1), flaw)

    def two_runestones(self) -> None:
        scripts = self.outputs(2)
        first = encipher([126, 0]) if self.rng.random() < 0.5 else encipher(runestone(self.edicts(4, 1)))
        scripts.insert(1, first)  # the first runestone output decides; the one appended is ignored
        self.tx(self.take(1, runic=0.8), scripts, runestone(self.edicts(4, 2)))

    def commit(self) -> None:
        r = self.rng.random()
        if r < 0.15:
            rune = None
        elif r < 0.25 and self.names:
            rune = self.rng.choice(self.names)  # a name someone else wants too
        else:
            rune = self.rng.randrange(10**17, 10**19)  # 13-14 letters: open at any regtest height
            self.names.append(rune)
        script = p2tr(("commit", self.n)) if self.rng.random() < 0.95 else p2wpkh(("commit", self.n))
        self.n += 1
        txid = self.b.tx(self.take(1, recent=False), [script])
        self.commits.append((self.b.height, (txid, 0), rune))

    def reveals(self) -> None:
        """Reveal the commits that are 5 (rarely) or 6+ blocks old."""
        keep = []
        for height, outpoint, rune in self.commits:
            age = self.b.height - height + 1
            if age < 6 and not (age == 5 and self.rng.random() < 0.1):
                keep.append((height, outpoint, rune))
                continue
            self.reveal(outpoint, rune)
        self.commits = keep

    def reveal(self, outpoint: tuple[str, int], rune: int | None) -> None:
        rng = self.rng
        terms = None
        if self.profile == "mainnet":  # open mints with big caps, as most runes-era etchings
            if rng.random() < 0.9:
                terms = Terms(rng.choice((1, 1000, 10**8)), rng.choice((10**5, 10**6, 21_000_000)),
                              (None, rng.choice((None, self.b.height + 10**5))), (None, None))  # fmt: skip
        elif rng.random() < 0.8:
            start = rng.choice((None, None, self.b.height + rng.randrange(5)))
            end = rng.choice((None, None, self.b.height + rng.randrange(5, 60)))
            offset = (rng.choice((None, None, 1)), rng.choice((None, None, rng.randrange(3, 80))))
            terms = Terms(
                rng.choice((1, 10, 1000, 10**8)), rng.choice((None, 1, 5, 50, 10**6)), (start, end), offset
            )
        premine = rng.choice((None, 0, 1000, 10**9, MAX // 2))
        if (
            terms is not None
            and premine is not None
            and premine + (terms.cap or 0) * (terms.amount or 0) > MAX
        ):
            premine = None
        name = None if rune is None else rune_name(rune)
        e = etching(name, premine, terms, divisibility=rng.choice((None, 0, 2, 8)),
                    spacers=rng.choice((None, 0, 1, 5)), symbol=rng.choice((None, "$", "\u29c9")),
                    turbo=rng.random() < 0.3)  # fmt: skip
        n_out = rng.choice((1, 2, 3))
        edicts = [((0, 0), self.amount(), rng.randrange(n_out + 1)) for _ in range(rng.choice((0, 1, 2)))]
        block, tx_index = self.b.height, self.b.tx_count
        mint = (block, tx_index) if rng.random() < 0.05 else None  # a mint of itself: never counts
        stone: Any = runestone(edicts, e, mint)
        if rng.random() < 0.05 and rune is not None:
            stone = encipher([2, 1, 4, rune, 126, 0])  # a cenotaph etching
        witness = commit_witness(b"" if rune is None else commitment(rune), self.n)
        scripts = [self.fresh() for _ in range(n_out)]
        txid = self.tx([(outpoint[0], outpoint[1], witness)], scripts, stone, True)
        rid = (block, tx_index)
        self.runes.append(rid)
        if terms is not None and terms.cap and not isinstance(stone, bytes):
            self.mintable.append(rid)
        if len(self.hot) < self.n_hot and premine and stone is not None and not isinstance(stone, bytes):
            self.hot.append(rid)
            self.tips[rid] = (txid, 0)


def random_chain(
    seed: int = 0,
    n_blocks: int = 50,
    txs_per_block: int = 20,
    *,
    start_height: int = 0,
    mix: dict[str, float] | None = None,
    hot: int = 3,
    profile: str = "varied",
    time_of: Callable[[int], int] | None = None,
) -> list[dict[str, Any]]:
    """``n_blocks`` blocks of about ``txs_per_block`` transactions each (plus the coinbase),
    as ``{"height", "time", "txs"}``. Heights from ``start_height`` (regtest: runes from 0).
    ``mix``: weights of the transaction kinds (:data:`DEFAULT_MIX`); ``hot``: how many runes
    get long transfer chains; ``profile``: ``"varied"`` (every kind of terms, short windows,
    small caps: the tests) or ``"mainnet"`` (mostly open mints with big caps). ``time_of(height)``: header times (default: one block every
    10 minutes from 2024-04-20)."""
    g = _Gen(seed, start_height, mix or DEFAULT_MIX, hot, profile,
             time_of or (lambda h: 1713571200 + 600 * (h - start_height)))  # fmt: skip
    dispatch = {
        "mint": g.mint, "transfer": g.transfer, "hot": g.hot_transfer, "plain": g.plain, "commit": g.commit,
        "cenotaph": g.cenotaph, "two_runestones": g.two_runestones, "burn": g.burn, "btc": g.btc,
    }  # fmt: skip
    for _ in range(n_blocks):
        coinbase = g.b.block()
        g.pool.append(coinbase)
        g.reveals()
        for kind in g.rng.choices(g.kinds, g.weights, k=txs_per_block):
            if not g.pool and not g.runic:
                break
            dispatch[kind]()
    return g.b.blocks

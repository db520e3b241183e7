"""ord's ledger rules that are plain functions of their arguments, shared by both ledgers.

The reference ledger (:mod:`.reference`) and the mesh ledger (:mod:`.mesh`) each run their
own loop over the chain; what they share is here, one small function per rule of ord's
``rune_updater.rs`` / ``ordinals`` crate (``runes-protocol.md`` §1, §8, §9):

* :func:`first_rune_height`: the activation block per network;
* :func:`can_etch_name`: the minimum name at a height, reserved names;
* :func:`commitment`, :func:`pushes_commitment`, :func:`is_p2tr`: the commitment check;
* :func:`reserved_rune`: the name an unnamed etching gets;
* :class:`RuneEntry` with :meth:`~RuneEntry.start`, :meth:`~RuneEntry.end` and
  :meth:`~RuneEntry.mint_amount` (``RuneEntry::mintable``);
* :func:`genesis_entry`: UNCOMMON•GOODS, which ord inserts into a mainnet index at creation.

Rules inferred where ``runes-protocol.md`` is silent are marked *inferred* with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..protocol.names import RESERVED_RUNE, U64_MAX, minimum_rune_at_height
from ..protocol.runestone import Cenotaph, Runestone, Terms
from ..protocol.script import ScriptError, instructions

__all__ = [
    "COMMIT_CONFIRMATIONS",
    "GENESIS_RUNE",
    "GENESIS_RUNE_ID",
    "RuneEntry",
    "can_etch_name",
    "commitment",
    "first_rune_height",
    "genesis_entry",
    "is_op_return",
    "is_p2tr",
    "new_entry",
    "pushes_commitment",
    "reserved_rune",
]

#: the commit transaction's confirmations a reveal needs, counting the reveal block
COMMIT_CONFIRMATIONS = 6
#: UNCOMMONGOODS, id 1:0: in every mainnet index from its creation
GENESIS_RUNE = 2055900680524219742
GENESIS_RUNE_ID = (1, 0)
_HALVING = 210_000
# first_rune_height = 210,000 x this; every other network (signet, regtest, testnet4): 0.
# testnet4 is *inferred*: runes-protocol.md §1 lists only mainnet and testnet(3) as non-zero.
_FIRST_RUNE_HALVINGS = {"mainnet": 4, "testnet3": 12}


def first_rune_height(network: str) -> int:
    """The first block the rune updater runs on (840,000 on mainnet, 2,520,000 on testnet3, else 0)."""
    return _HALVING * _FIRST_RUNE_HALVINGS.get(network, 0)


def can_etch_name(rune: int, height: int, network: str) -> bool:
    """Whether a *named* etching may use ``rune`` in block ``height``: at or above the minimum
    for the height (``Rune::minimum_at_height``) and not reserved. Taken names and the
    commitment are checked elsewhere (they need the index and the inputs)."""
    return minimum_rune_at_height(height, first_rune_height(network)) <= rune < RESERVED_RUNE


def reserved_rune(block: int, tx_index: int) -> int:
    """``Rune::reserved``: the name of an etching without a Rune field (always free)."""
    return RESERVED_RUNE + ((block << 32) | tx_index)


def commitment(rune: int) -> bytes:
    """``Rune::commitment``: the rune number's little-endian bytes, trailing zero bytes removed
    (``A`` = 0 commits to the empty push)."""
    raw = rune.to_bytes(16, "little")
    return raw.rstrip(b"\x00")


def pushes_commitment(tapscript: bytes | None, wanted: bytes) -> bool:
    """Whether ``tapscript`` has a data push equal to ``wanted``.

    As ord's ``tx_commits_to_rune``: the script is split with rust-bitcoin's (non-minimal)
    instruction iterator; an error (a truncated push) ends the scan of this script; ``OP_0``
    is an empty push (so it matches the commitment of rune ``A``); ``OP_1``..``OP_16`` and
    other opcodes are not pushes.
    """
    if tapscript is None:
        return False
    try:
        for _op, data in instructions(bytes(tapscript)):
            if data is not None and data == wanted:
                return True
    except ScriptError:  # ord stops here ("ignore errors, since the extracted script may not be valid")
        pass
    return False


def is_p2tr(script: bytes | None) -> bool:
    """rust-bitcoin's ``Script::is_p2tr``: ``OP_1 <32 bytes>``."""
    return script is not None and len(script) == 34 and script[0] == 0x51 and script[1] == 0x20


def is_op_return(script: bytes | None) -> bool:
    """``Script::is_op_return``: the first byte is ``OP_RETURN`` (0x6a)."""
    return bool(script) and script[0] == 0x6A  # type: ignore[index]  # bool(script) excludes None


@dataclass
class RuneEntry:
    """ord's ``RuneEntry``: a rune as the index holds it (``terms`` None: not mintable)."""

    block: int
    tx: int
    rune: int
    spacers: int
    divisibility: int
    symbol: str | None
    premine: int
    terms: Terms | None
    turbo: bool
    number: int
    etching: str  # the etching txid (hex)
    timestamp: int  # the etching block's header time (unix s)
    mints: int = 0
    burned: int = field(default=0)

    @property
    def id(self) -> tuple[int, int]:
        return (self.block, self.tx)

    def start(self) -> int | None:
        """First height a mint is open: the later of ``block + offset_start`` (saturating at
        u64::MAX) and ``height_start``, or whichever exists."""
        if self.terms is None:
            return None
        offset, height = self.terms.offset[0], self.terms.height[0]
        relative = None if offset is None else min(self.block + offset, U64_MAX)
        if relative is not None and height is not None:
            return max(relative, height)
        return relative if relative is not None else height

    def end(self) -> int | None:
        """First height a mint is closed again (exclusive end): the earlier of
        ``block + offset_end`` (saturating) and ``height_end``, or whichever exists."""
        if self.terms is None:
            return None
        offset, height = self.terms.offset[1], self.terms.height[1]
        relative = None if offset is None else min(self.block + offset, U64_MAX)
        if relative is not None and height is not None:
            return min(relative, height)
        return relative if relative is not None else height

    def in_window(self, height: int) -> bool:
        """Terms present and ``start <= height < end`` (the cap is checked apart)."""
        if self.terms is None:
            return False
        start, end = self.start(), self.end()
        return (start is None or height >= start) and (end is None or height < end)

    def cap(self) -> int:
        """``terms.cap``, absent = 0 (so a rune with terms but no cap is never mintable)."""
        return 0 if self.terms is None or self.terms.cap is None else self.terms.cap

    def mint_amount(self, height: int) -> int | None:
        """``RuneEntry::mintable``: the units one mint gives at ``height``, or None when the rune
        has no terms, the height is outside ``[start, end)`` or ``mints >= cap``."""
        if not self.in_window(height) or self.mints >= self.cap():
            return None
        assert self.terms is not None
        return self.terms.amount or 0


def genesis_entry() -> RuneEntry:
    """UNCOMMON•GOODS as ord's ``Index::open`` inserts it on mainnet (number 0, timestamp 0)."""
    terms = Terms(amount=1, cap=2**128 - 1, height=(4 * _HALVING, 5 * _HALVING), offset=(None, None))
    return RuneEntry(
        block=1, tx=0, rune=GENESIS_RUNE, spacers=128, divisibility=0, symbol="\u29c9", premine=0,
        terms=terms, turbo=True, number=0, etching="00" * 32, timestamp=0,
    )  # fmt: skip


def new_entry(
    artifact: Runestone | Cenotaph,
    rune_id: tuple[int, int],
    rune: int,
    number: int,
    txid: str,
    timestamp: int,
) -> RuneEntry:
    """ord's ``create_rune_entry``: a runestone's etching fields (absent = 0 / None), or for a
    cenotaph premine 0, no terms, divisibility 0, spacers 0, no symbol, turbo off."""
    block, tx = rune_id
    if isinstance(artifact, Cenotaph) or artifact.etching is None:
        return RuneEntry(
            block=block, tx=tx, rune=rune, spacers=0, divisibility=0, symbol=None, premine=0, terms=None,
            turbo=False, number=number, etching=txid, timestamp=timestamp,
        )  # fmt: skip
    e = artifact.etching
    return RuneEntry(
        block=block, tx=tx, rune=rune, spacers=e.spacers or 0, divisibility=e.divisibility or 0,
        symbol=e.symbol, premine=e.premine or 0, terms=e.terms, turbo=e.turbo, number=number, etching=txid,
        timestamp=timestamp,
    )  # fmt: skip

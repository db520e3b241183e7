"""Sender attribution: who sent which units to whom, per transaction and rune.

ord's ledger knows only totals: the units of a rune a transaction spends, mints and
premines are pooled (``unallocated``) and then allocated to outputs or burned; which input's
units reached which output is not defined by the protocol. The canonical ``transfers``
table (whale-suite.md) needs a sender and a receiver per row, so both ledgers attribute
the pool **first in, first out**:

* **sources**, in this order: the spent outpoints holding the rune, in input (``vin``)
  order, each with its address; then the mint (no sender); then the premine (no sender);
* **sinks**, in this order: the outputs the rune is allocated to, in ``vout`` order, with
  their address (an OP_RETURN output is a burn sink); then the units burned for lack of a
  destination (a cenotaph burns everything; so does a transaction with no non-OP_RETURN
  output);
* walking both lists, each step moves ``min(left in source, left in sink)`` units; its
  operation is ``burn`` for a burn sink, else ``send`` / ``mint`` / ``etching`` by source.
  Steps with the same ``(operation, sender, receiver)`` in one transaction and rune are
  summed into one row, in order of first appearance.

Whatever the pairing, every unit leaving an outpoint is in exactly one row with that
outpoint's address as sender, and every unit reaching an output in exactly one row with
its address as receiver, so an address's received − sent is exactly what its unspent
outpoints hold (and units created − burned is what all outputs hold). Addresses are None
for scripts without one (non-standard, P2PK, bare multisig): such rows keep their
operation but a null sender or receiver.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["INPUT", "MINT", "PREMINE", "aggregate", "pair_flows", "steps"]

#: source kinds
INPUT, MINT, PREMINE = 0, 1, 2
_OPERATION = {INPUT: "send", MINT: "mint", PREMINE: "etching"}

Flow = tuple[str, Any, Any, int]


def steps(sources: Sequence[tuple[int, Any, int]], sinks: Sequence[tuple[Any, int, bool]]) -> list[Flow]:
    """The FIFO steps ``(operation, sender, receiver, amount)`` of one transaction and rune.

    ``sources``: ``(kind, label, amount)`` in the order of the module doc; ``sinks``:
    ``(label, amount, is_burn)``. Labels are opaque (addresses, or positions the mesh ledger
    names later). Zero amounts are skipped. Source and sink totals must be equal (the
    ledger conserves units); a difference is a bug, reported as such.
    """
    if len(sources) == 1 and len(sinks) == 1:  # the common case: one outpoint (or mint) to one output
        (kind, sender, amount), (receiver, total, burn) = sources[0], sinks[0]
        if amount != total:
            raise AssertionError(f"rune units not conserved: sources {sources!r}, sinks {sinks!r}")
        if not amount:
            return []
        who = sender if kind == INPUT else None
        return [("burn", who, None, amount) if burn else (_OPERATION[kind], who, receiver, amount)]
    out: list[Flow] = []
    i = j = 0
    src_left = sink_left = 0
    kind = INPUT
    sender = receiver = None
    burn = False
    n_src, n_sink = len(sources), len(sinks)
    while True:
        while src_left == 0 and i < n_src:
            kind, sender, src_left = sources[i]
            i += 1
        while sink_left == 0 and j < n_sink:
            receiver, sink_left, burn = sinks[j]
            j += 1
        if src_left == 0 or sink_left == 0:
            break
        take = src_left if src_left < sink_left else sink_left
        src_left -= take
        sink_left -= take
        who = sender if kind == INPUT else None
        out.append(("burn", who, None, take) if burn else (_OPERATION[kind], who, receiver, take))
    if src_left or sink_left or any(s[2] for s in sources[i:]) or any(s[1] for s in sinks[j:]):
        raise AssertionError(f"rune units not conserved: sources {sources!r}, sinks {sinks!r}")
    return out


def aggregate(flows: Iterable[Flow]) -> list[Flow]:
    """Steps with the same ``(operation, sender, receiver)`` summed, in order of first appearance."""
    rows: dict[tuple[str, Any, Any], int] = {}
    for op, sender, receiver, amount in flows:
        key = (op, sender, receiver)
        rows[key] = rows.get(key, 0) + amount
    return [(op, s, r, amount) for (op, s, r), amount in rows.items()]


def pair_flows(
    sources: Sequence[tuple[int, str | None, int]], sinks: Sequence[tuple[str | None, int, bool]]
) -> list[Flow]:
    """The transfers rows of one transaction and rune: :func:`steps`, then :func:`aggregate`."""
    return aggregate(steps(sources, sinks))

"""The sequential part of the mesh ledger: balances, one height range and rune partition at a time.

Runes never interact in ord's allocation (every step of ``index_runes`` for rune R reads
only R's unallocated units, the transaction's outputs and its pointer), so the replay is
partitioned by rune id (:func:`~.groupby.partition_of`) and each partition replays only
the transactions that touch *its* runes, in block order:

* the spends of its **live** outpoints (the rune-bearing unspent outputs carried from the
  previous range; :func:`probe` finds their spenders among the range's inputs), and of the
  outpoints it creates in the range (the spend map of :class:`~.prepare.Core`: each new
  rune-bearing output knows the transaction that spends it, which is pushed on a heap);
* the seeds of the group-by stage: etchings of its runes, mints of its runes that count.

A transaction is replayed with ord's rules restricted to the partition's runes (inputs,
mint, premine, edicts, ``0:0``, splits, pointer, default output, cenotaph burns,
OP_RETURN burns). Every other transaction of the chain is never looked at: a transaction
without rune inputs and without a counting mint or etching changes nothing. The plain
mints (no etching, no edicts, not a cenotaph; most of a mainnet-like chain's rune
transactions) are not looked at one by one either: :class:`_PlainMints` replays them as
columns and the loop takes back the few whose inputs turn out to hold runes.

Positions stay positions here, as plain ints (:mod:`.resolve` names them afterwards,
where the range's text lives): an output is its row in the range's outputs (``out_row``);
a sender or receiver label is that ``out_row`` (>= 0) for an output of this range,
``-2 - i`` for the ``i``-th outpoint the range spends from the incoming live set (its
address in :attr:`ReplayOut.carried`), or None (a
mint, a premine, a burn). Events are coded by kind (:data:`~.tables.EVENT_NAMES`).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd

from ...errors import LedgerError
from ..protocol.names import U128_MAX
from .flows import INPUT, MINT, PREMINE, steps
from .gcpause import paused_gc
from .groupby import Seeds
from .prepare import Core, Cross

__all__ = [
    "BURNED",
    "ETCHED",
    "LIVE_COLUMNS",
    "MINTED",
    "TRANSFERRED",
    "ReplayOut",
    "empty_live",
    "probe",
    "replay_range",
]

RuneId = tuple[int, int]
#: columns of a live set (one row per rune-bearing unspent outpoint; balances: ((block, tx), amount) by id)
LIVE_COLUMNS = ["height", "tx_index", "vout", "pfx", "txid", "address", "balances"]


#: event kinds (the codes of :data:`~.tables.EVENT_NAMES`)
MINTED, ETCHED, TRANSFERRED, BURNED = 0, 1, 2, 3


def empty_live() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype="int64" if c in ("height", "tx_index", "vout", "pfx") else object)
                         for c in LIVE_COLUMNS})  # fmt: skip


def probe(cross: Cross, live: pd.DataFrame) -> pd.DataFrame:
    """Which live outpoints the range's inputs spend: ``row`` (of ``live``), ``tx``, ``vin``.

    Matched on (height, txid prefix, vout), or (prefix, vout) where the input's prevout
    height is unknown, then confirmed on the full txid.
    """
    empty = pd.DataFrame(
        {"row": np.zeros(0, np.int64), "tx": np.zeros(0, np.int64), "vin": np.zeros(0, np.int64)}
    )
    if live.empty or len(cross.tx) == 0:
        return empty
    cand = np.flatnonzero(np.isin(cross.prev_pfx, live["pfx"].to_numpy()))
    if len(cand) == 0:
        return empty
    sub = pd.DataFrame({"h": cross.prev_height[cand], "p": cross.prev_pfx[cand], "v": cross.prev_vout[cand],
                        "tx": cross.tx[cand], "vin": cross.vin[cand], "c": cand})  # fmt: skip
    keys = pd.DataFrame({"h": live["height"].to_numpy(), "p": live["pfx"].to_numpy(), "v": live["vout"].to_numpy(),
                         "row": np.arange(len(live))})  # fmt: skip
    hits = pd.concat(
        [
            sub[sub.h >= 0].merge(keys, on=["h", "p", "v"]),
            sub[sub.h < 0].merge(keys.drop(columns="h"), on=["p", "v"]),
        ]
    )
    if hits.empty:
        return empty
    claimed = cross.prev_txid.take(hits["c"].to_numpy()).to_pylist()
    txids = live["txid"].to_numpy()[hits["row"].to_numpy()]
    same = np.array([a == b for a, b in zip(claimed, txids)], dtype=bool)
    return hits.loc[same, ["row", "tx", "vin"]].sort_values(["tx", "vin"]).reset_index(drop=True)


@dataclass
class ReplayOut:
    """What one range's replay of one rune partition found (positions, not names)."""

    spent: np.ndarray  # rows of the incoming live set spent in the range
    carried: np.ndarray  # their addresses (object), in the same order: labels -2 - i
    #: (tx, vout, out_row, balances): rune-bearing outputs still unspent at the range's end
    new: list[tuple[int, int, int, tuple[tuple[RuneId, int], ...]]] = field(default_factory=list)
    #: (tx, rune block, rune tx, operation, sender label, receiver label, amount): labels as in the module doc
    steps: list[tuple[Any, ...]] = field(default_factory=list)
    #: (tx, event kind, rune block, rune tx, amount, vout or -1, out_row or -1)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    burned: dict[RuneId, int] = field(default_factory=dict)


def _allocate(
    unallocated: dict[RuneId, int],
    allocated: dict[int, dict[RuneId, int]],
    rid: RuneId,
    amount: int,
    vout: int,
) -> None:
    if amount > 0:
        unallocated[rid] -= amount
        slot = allocated.setdefault(vout, {})
        slot[rid] = slot.get(rid, 0) + amount


@paused_gc
def replay_range(core: Core, live: pd.DataFrame, hits: pd.DataFrame, seeds: Seeds) -> ReplayOut:
    """Replay one range for one rune partition (see the module doc)."""
    spent = hits["row"].to_numpy()
    out = ReplayOut(spent=spent, carried=live["address"].to_numpy()[spent])
    pending: dict[int, list[tuple[int, Any, tuple[tuple[RuneId, int], ...]]]] = {}
    balances = live["balances"].to_numpy()
    for i, (row, t, vin) in enumerate(zip(spent.tolist(), hits["tx"].tolist(), hits["vin"].tolist())):
        pending.setdefault(t, []).append((vin, -2 - i, balances[row]))
    # memoryviews: indexing one gives a Python int or bool, like a list, without making a
    # list of every output of the range (the loop reads a few of them)
    out_start, opret, first, spender, spender_vin = (
        _view(a) for a in (core.out_start, core.opret, core.first, core.spender, core.spender_vin)
    )
    plain = _PlainMints(core, seeds, pending)
    for s, vin, row, held in plain.pushes():  # their outputs' spenders see them as inputs
        pending.setdefault(s, []).append((vin, row, held))
    heap = sorted(set(pending) | (seeds.mints.keys() - plain.at.keys()) | set(seeds.etched))
    queued = set(heap)
    artifacts = dict(zip(core.art_tx.tolist(), range(len(core.art_tx))))
    cenotaph, pointer, edict_start = (
        core.art_cenotaph.tolist(),
        core.art_pointer.tolist(),
        core.edict_start.tolist(),
    )
    edicts = core.edicts.tolist()
    for row, amount in core.edict_big.items():
        edicts[row][2] = amount
    while heap:
        t = heapq.heappop(heap)
        queued.discard(t)
        if t in plain.at:  # a plain mint whose inputs hold runes after all: replayed here
            plain.withdraw(t, pending)
        spends = pending.pop(t, [])
        if len(spends) > 1:
            spends.sort(key=itemgetter(0))
        unallocated: dict[RuneId, int] = {}
        sources: dict[RuneId, list[tuple[int, Any, int]]] = {}
        for _vin, label, held_in in spends:
            for rid, amount in held_in:
                total = unallocated.get(rid, 0) + amount
                if total > U128_MAX:
                    raise LedgerError(
                        f"{core.where(t)}: a rune balance overflows u128; the input state is corrupt"
                    )
                unallocated[rid] = total
                sources.setdefault(rid, []).append((INPUT, label, amount))
        mint = seeds.mints.get(t)
        if mint is not None:
            rid, amount = mint
            unallocated[rid] = unallocated.get(rid, 0) + amount
            sources.setdefault(rid, []).append((MINT, None, amount))
            out.events.append((t, MINTED, *rid, amount, -1, -1))
        art = artifacts.get(t)
        etch = seeds.etched.get(t)
        burns = art is not None and cenotaph[art]
        base = out_start[t]
        if (
            etch is None
            and len(unallocated) == 1
            and (art is None or (not burns and edict_start[art + 1] == edict_start[art]))
        ):  # the common case: one rune, no edicts, all of it to the pointer or the default output
            ((rid, bal),) = unallocated.items()
            if bal > 0:
                target = pointer[art] if art is not None and pointer[art] >= 0 else first[t]
                row = base + target
                if target >= 0 and not opret[row]:
                    out.events.append((t, TRANSFERRED, *rid, bal, target, row))
                    sink: tuple[Any, int, bool] = (row, bal, False)
                    s = spender[row]
                    if s >= 0:
                        pending.setdefault(s, []).append((spender_vin[row], row, ((rid, bal),)))
                        if s not in queued:
                            queued.add(s)
                            heapq.heappush(heap, s)
                    else:
                        out.new.append((t, target, row, ((rid, bal),)))
                else:  # no output to take it, or an OP_RETURN one: burned
                    sink = (None, bal, True)
                    out.burned[rid] = out.burned.get(rid, 0) + bal
                    out.events.append((t, BURNED, *rid, bal, -1, -1))
                b, x = rid
                out.steps.extend([(t, b, x, *step) for step in steps(sources[rid], (sink,))])
                continue
        n_out = out_start[t + 1] - base
        allocated: dict[int, dict[RuneId, int]] = {}
        if art is not None and not burns and (etch is not None or edict_start[art + 1] > edict_start[art]):
            if etch is not None:
                unallocated[etch[0]] = unallocated.get(etch[0], 0) + etch[1]
                sources.setdefault(etch[0], []).append((PREMINE, None, etch[1]))
            for e_block, e_tx, e_amount, e_output in edicts[edict_start[art] : edict_start[art + 1]]:
                rid = (e_block, e_tx)
                if rid == (0, 0):
                    if etch is None:
                        continue  # nothing etched here, or a rune of another partition
                    rid = etch[0]
                if rid not in unallocated:
                    continue
                if e_output == n_out:
                    dest = [v for v in range(n_out) if not opret[base + v]]
                    if not dest:
                        continue
                    if e_amount == 0:
                        share, rem = divmod(unallocated[rid], len(dest))
                        for k, v in enumerate(dest):
                            _allocate(unallocated, allocated, rid, share + (k < rem), v)
                    else:
                        for v in dest:
                            _allocate(unallocated, allocated, rid, min(e_amount, unallocated[rid]), v)
                else:
                    bal = unallocated[rid]
                    _allocate(
                        unallocated,
                        allocated,
                        rid,
                        bal if e_amount == 0 else min(e_amount, bal),
                        e_output,
                    )
        if etch is not None:
            out.events.append((t, ETCHED, *etch[0], etch[1], -1, -1))  # (a cenotaph's premine: 0)
        leftover: dict[RuneId, int] = {}
        if burns:  # a cenotaph
            leftover = {rid: bal for rid, bal in unallocated.items()}
        else:
            target = None if art is None or pointer[art] < 0 else pointer[art]
            if target is None and first[t] >= 0:
                target = first[t]
            for rid, bal in unallocated.items():
                if bal > 0:
                    if target is None:
                        leftover[rid] = bal
                    else:
                        slot = allocated.setdefault(target, {})
                        slot[rid] = slot.get(rid, 0) + bal
        sinks: dict[RuneId, list[tuple[Any, int, bool]]] = {}
        burned: dict[RuneId, int] = {}
        for vout in sorted(allocated):
            bals = sorted(allocated[vout].items())
            row = base + vout
            if opret[row]:
                for rid, amount in bals:
                    burned[rid] = burned.get(rid, 0) + amount
                    sinks.setdefault(rid, []).append((None, amount, True))
                continue
            held = tuple(bals)
            for rid, amount in bals:
                sinks.setdefault(rid, []).append((row, amount, False))
                out.events.append((t, TRANSFERRED, *rid, amount, vout, row))
            s = spender[row]
            if s >= 0:
                pending.setdefault(s, []).append((spender_vin[row], row, held))
                if s not in queued:
                    queued.add(s)
                    heapq.heappush(heap, s)
            else:
                out.new.append((t, vout, row, held))
        for rid, amount in sorted(leftover.items()):
            sinks.setdefault(rid, []).append((None, amount, True))
            burned[rid] = burned.get(rid, 0) + amount
        for rid, amount in sorted(burned.items()):
            if amount:
                out.burned[rid] = out.burned.get(rid, 0) + amount
                out.events.append((t, BURNED, *rid, amount, -1, -1))
        touched = sources.keys() | sinks.keys()
        for rid in sorted(touched) if len(touched) > 1 else touched:
            b, x = rid
            out.steps.extend([(t, b, x, *step) for step in steps(sources.get(rid, ()), sinks.get(rid, ()))])
    plain.emit(out)
    return out


def _view(a: np.ndarray) -> Any:
    """A memoryview of ``a`` (numpy's stubs do not declare the buffer protocol)."""
    return memoryview(np.ascontiguousarray(a))  # type: ignore[arg-type]


class _PlainMints:
    """The range's plain mints, replayed as columns: a counting mint with no etching, no
    edicts, not a cenotaph, a positive amount, and (as far as anything known before the
    loop says) no input holding runes. ord's rules give each all of its amount on the
    pointer or the first non-OP_RETURN output, or burn it where there is none (the loop's
    common case). Whether an input holds runes is known only once the transactions before
    it are replayed, so each is planned as plain; its output is pushed to its spender as
    an input before the loop starts, and a plain mint the loop reaches (something pushed
    runes to it) is withdrawn from the plan and replayed as any other transaction."""

    def __init__(self, core: Core, seeds: Seeds, pending: dict[int, Any]) -> None:
        t, b, x, amounts = seeds.mint_columns
        art = np.searchsorted(core.art_tx, t)
        has = art < len(core.art_tx)
        has[has] = core.art_tx[art[has]] == t[has]
        art = art[has]
        simple, pointer = np.ones(len(t), bool), np.full(len(t), -1, np.int64)
        simple[has] = ~core.art_cenotaph[art] & (core.edict_start[art + 1] == core.edict_start[art])
        pointer[has] = core.art_pointer[art]
        target = np.where(pointer >= 0, pointer, core.first[t]).astype(np.int64)
        keep = simple & np.array([amount > 0 for amount in amounts], dtype=bool)
        # (a shortcut: the loop would reach these anyway, through the heap, and withdraw them)
        keep &= ~np.isin(t, np.fromiter(set(pending) | set(seeds.etched), np.int64))
        idx = np.flatnonzero(keep)
        self.t, self.b, self.x, target = t[idx], b[idx], x[idx], target[idx]
        self.amounts = [amounts[i] for i in idx.tolist()]
        row = core.out_start[self.t] + target
        ok = target >= 0
        ok[ok] = ~core.opret[row[ok]]
        self.row = np.where(ok, row, -1)  # -1: burned (no output takes it, or an OP_RETURN one)
        self.vout = np.where(ok, target, -1)
        self.spender = np.where(ok, core.spender[np.maximum(row, 0)], -1)
        self.spender_vin = np.where(ok, core.spender_vin[np.maximum(row, 0)], -1)
        self.at = dict(zip(self.t.tolist(), range(len(self.t))))
        self.withdrawn = np.zeros(len(self.t), bool)

    def pushes(self) -> list[tuple[int, int, int, tuple[tuple[RuneId, int], ...]]]:
        """``(spender, vin, output row, balances)`` of the planned outputs spent in the range."""
        idx = np.flatnonzero(self.spender >= 0)
        s, vin, row, b, x = (
            a[idx].tolist() for a in (self.spender, self.spender_vin, self.row, self.b, self.x)
        )
        amounts = [self.amounts[i] for i in idx.tolist()]
        return [(s[k], vin[k], row[k], (((b[k], x[k]), amounts[k]),)) for k in range(len(s))]

    def withdraw(self, t: int, pending: dict[int, list[tuple[int, Any, Any]]]) -> None:
        """Take mint ``t`` out of the plan, and its output out of its spender's inputs."""
        i = self.at.pop(t)
        self.withdrawn[i] = True
        s = int(self.spender[i])
        if s >= 0:
            row = int(self.row[i])
            pending[s] = [spend for spend in pending[s] if spend[1] != row]

    def emit(self, out: ReplayOut) -> None:
        """The plain mints' events, steps, burns and new live outpoints, as the loop would
        have made them (the result tables sort each transaction's rows afterwards)."""
        idx = np.flatnonzero(~self.withdrawn)
        if not len(idx):
            return
        amounts = [self.amounts[i] for i in idx.tolist()]
        t, b, x = (a[idx].tolist() for a in (self.t, self.b, self.x))
        n = len(t)
        out.events.extend(zip(t, [MINTED] * n, b, x, amounts, [-1] * n, [-1] * n))
        burn = self.row[idx] < 0
        for k in np.flatnonzero(burn).tolist():
            rid = (b[k], x[k])
            out.burned[rid] = out.burned.get(rid, 0) + amounts[k]
            out.events.append((t[k], BURNED, b[k], x[k], amounts[k], -1, -1))
            out.steps.append((t[k], b[k], x[k], "burn", None, None, amounts[k]))
        go = idx[~burn]
        t, b, x, row, vout = (a[go].tolist() for a in (self.t, self.b, self.x, self.row, self.vout))
        amounts = [self.amounts[i] for i in go.tolist()]
        n = len(t)
        out.events.extend(zip(t, [TRANSFERRED] * n, b, x, amounts, vout, row))
        out.steps.extend(zip(t, b, x, ["mint"] * n, [None] * n, row, amounts))
        kept = np.flatnonzero(self.spender[go] < 0).tolist()  # unspent in the range: live
        out.new.extend([(t[k], vout[k], row[k], (((b[k], x[k]), amounts[k]),)) for k in kept])

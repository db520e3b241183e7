"""The reference ledger: ord's ``rune_updater`` in plain Python, one transaction at a time.

:class:`Ledger` keeps the index state ord keeps (rune entries, names, the rune balances
of every unspent outpoint) and :meth:`Ledger.index_tx` applies ``index_runes`` to one
transaction, statement by statement (``runes-protocol.md`` §9):

1. *unallocated*: the balances of every spent outpoint, removed from the index;
2. the mint (runestone or cenotaph) if the rune is mintable at this height: ``mints + 1``;
3. the etching (:meth:`Ledger._etched`): a named one is dropped silently if the name is
   below the height's minimum, reserved, taken, or not committed to; an unnamed one gets
   its reserved name. A runestone adds its premine to unallocated;
4. a runestone's edicts, in order (``0:0`` = the rune etched here; amount 0 = all that is
   left; ``output == n_outputs`` splits over the non-OP_RETURN outputs);
5. the entry is created (a cenotaph's with premine 0, no terms, divisibility 0, spacers 0,
   no symbol, turbo off) after the edicts, as ord does;
6. leftovers: a cenotaph burns all of them; else they go to the pointer, or the first
   non-OP_RETURN output, or are burned; units allocated to an OP_RETURN output burn.

It is the oracle the mesh ledger (:mod:`.mesh`) is tested against, and the ledger of
:func:`~.blocks.index_blocks`. :func:`run_reference` drives it over the chain tables
(:mod:`mesh_magics.chain.schema` columns, one process). Rows of the result tables are
collected as tuples (:class:`Rows`) and built into frames by :mod:`.tables`.

Inferred where §9 is silent (and why):

* the etched rune is processed after the mint and before the edicts, so a runestone cannot
  mint the rune it etches (ord looks the mint's entry up before creating it); a later
  transaction of the same block can;
* the commitment check looks at each input's ``leaf_script`` in input order and, for a
  matching push, at that input's prevout only; an unknown prevout there is an error (ord
  panics: it cannot fetch the commit transaction); it is only reached for a name that
  passed the minimum, reserved and taken checks, as ord's ``||`` short-circuits;
* a cenotaph's zero-amount burns (ord fires ``RuneBurned`` with amount 0 for a rune whose
  only unallocated units are a zero-amount mint) are not recorded as events;
* outputs hold their runes sorted by rune id (ord sorts before storing); burn events are
  sorted by rune id (ord's order there is a hash map's).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from ...errors import LedgerError
from ..protocol.names import U128_MAX
from ..protocol.runestone import Cenotaph, Runestone, decipher
from .flows import INPUT, MINT, PREMINE, pair_flows
from .gcpause import paused_gc
from .rules import (
    COMMIT_CONFIRMATIONS,
    RuneEntry,
    can_etch_name,
    commitment,
    first_rune_height,
    genesis_entry,
    is_op_return,
    is_p2tr,
    new_entry,
    pushes_commitment,
    reserved_rune,
)

__all__ = ["Ledger", "Rows", "TxInput", "run_reference"]

RuneId = tuple[int, int]


class TxInput(NamedTuple):
    """An input as the ledger needs it (the chain tables' ``inputs`` columns)."""

    prev_txid: str
    prev_vout: int
    leaf_script: bytes | None
    prev_script: bytes | None
    prev_height: int | None


class Outpoint(NamedTuple):
    """A rune-bearing unspent output: where it was created, its address, its balances."""

    height: int
    tx_index: int
    address: str | None
    balances: dict[RuneId, int]


class Rows:
    """The ledger's output rows, as tuples (see :mod:`.tables` for the columns)."""

    def __init__(self) -> None:
        #: (height, tx_index, txid, event, rune block, rune tx, amount, vout, address)
        self.events: list[tuple[Any, ...]] = []
        #: (height, tx_index, txid, rune block, rune tx, operation, sender, receiver, amount)
        self.transfers: list[tuple[Any, ...]] = []


def _add(a: int, b: int, where: str) -> int:
    total = a + b
    if total > U128_MAX:
        raise LedgerError(f"{where}: a rune balance overflows u128 ({a} + {b}); the input state is corrupt")
    return total


class Ledger:
    """ord's rune index for one network, fed one block at a time (see the module doc)."""

    def __init__(self, network: str = "mainnet") -> None:
        self.network = network
        self.first_height = first_rune_height(network)
        self.entries: dict[RuneId, RuneEntry] = {}
        self.names: dict[int, RuneId] = {}
        self.outpoints: dict[tuple[str, int], Outpoint] = {}
        self.rows = Rows()
        self.block_times: dict[int, int] = {}
        self.next_height: int | None = None
        if network == "mainnet":
            genesis = genesis_entry()
            self.entries[genesis.id] = genesis
            self.names[genesis.rune] = genesis.id

    # -- driving -----------------------------------------------------------------------
    def begin_block(self, height: int, time: int) -> None:
        if self.next_height is not None and height != self.next_height:
            raise LedgerError(
                f"block {height} follows block {self.next_height - 1}: blocks must come in height order, "
                "one after the other"
            )
        self.next_height = height + 1
        self.block_times[height] = time
        self.height, self.time = height, time

    def index_tx(
        self, tx_index: int, txid: str, scripts: Sequence[bytes], addresses: Sequence[str | None],
        inputs: Sequence[TxInput],
    ) -> None:  # fmt: skip
        """ord's ``index_runes`` for one transaction of the current block."""
        height = self.height
        if height < self.first_height:
            return  # the rune updater does not run before activation
        where = f"block {height}, transaction {tx_index} ({txid})"
        artifact = decipher(scripts) if any(s[:2] == b"\x6a\x5d" for s in scripts) else None
        if artifact is None and not any((i.prev_txid, i.prev_vout) in self.outpoints for i in inputs):
            return  # nothing to do: no runes in, no runestone
        # 1. unallocated: the spent outpoints' balances
        unallocated: dict[RuneId, int] = {}
        sources: dict[RuneId, list[tuple[int, str | None, int]]] = {}
        for txin in inputs:
            spent = self.outpoints.pop((txin.prev_txid, txin.prev_vout), None)
            if spent is None:
                continue
            for rune_id, amount in spent.balances.items():
                unallocated[rune_id] = _add(unallocated.get(rune_id, 0), amount, where)
                sources.setdefault(rune_id, []).append((INPUT, spent.address, amount))
        # 2. the mint
        if artifact is not None and artifact.mint is not None:
            entry = self.entries.get(artifact.mint)
            minted = None if entry is None else entry.mint_amount(height)
            if entry is not None and minted is not None:
                entry.mints += 1
                unallocated[entry.id] = _add(unallocated.get(entry.id, 0), minted, where)
                sources.setdefault(entry.id, []).append((MINT, None, minted))
                self.rows.events.append((height, tx_index, txid, "minted", *entry.id, minted, None, None))
        # 3. the etching
        etching = None if artifact is None else self._etched(tx_index, artifact, inputs, where)
        etched = None if etching is None else etching[0]
        n_outputs = len(scripts)
        allocated: list[dict[RuneId, int]] = [{} for _ in range(n_outputs)]
        if isinstance(artifact, Runestone):
            if etched is not None:
                premine = (artifact.etching.premine or 0) if artifact.etching else 0
                unallocated[etched] = unallocated.get(etched, 0) + premine
                sources.setdefault(etched, []).append((PREMINE, None, premine))
            # 4. the edicts
            for edict in artifact.edicts:
                rune_id = (edict.block, edict.tx)
                if rune_id == (0, 0):
                    if etched is None:
                        continue
                    rune_id = etched
                if rune_id not in unallocated:
                    continue
                if edict.output == n_outputs:
                    destinations = [v for v, s in enumerate(scripts) if not is_op_return(s)]
                    if not destinations:
                        continue
                    if edict.amount == 0:
                        share, remainder = divmod(unallocated[rune_id], len(destinations))
                        for k, vout in enumerate(destinations):
                            self._allocate(allocated, unallocated, rune_id, share + (k < remainder), vout)
                    else:
                        for vout in destinations:
                            amount = min(edict.amount, unallocated[rune_id])
                            self._allocate(allocated, unallocated, rune_id, amount, vout)
                else:
                    balance = unallocated[rune_id]
                    amount = balance if edict.amount == 0 else min(edict.amount, balance)
                    self._allocate(allocated, unallocated, rune_id, amount, edict.output)
        # 5. the entry
        if etching is not None:
            assert artifact is not None
            self._create_entry(txid, artifact, *etching)
        # 6. leftovers
        burned: dict[RuneId, int] = {}  # per rune: units burned in this transaction
        leftover: dict[RuneId, int] = {}  # of which burned for lack of a destination
        if isinstance(artifact, Cenotaph):
            for rune_id, balance in unallocated.items():
                leftover[rune_id] = leftover.get(rune_id, 0) + balance
        else:
            target = artifact.pointer if isinstance(artifact, Runestone) else None
            if target is None:
                target = next((v for v, s in enumerate(scripts) if not is_op_return(s)), None)
            for rune_id, balance in unallocated.items():
                if balance > 0:
                    if target is None:
                        leftover[rune_id] = leftover.get(rune_id, 0) + balance
                    else:
                        allocated[target][rune_id] = allocated[target].get(rune_id, 0) + balance
        # outputs
        sinks: dict[RuneId, list[tuple[str | None, int, bool]]] = {}
        for vout, balances in enumerate(allocated):
            if not balances:
                continue
            if is_op_return(scripts[vout]):
                for rune_id, amount in sorted(balances.items()):
                    burned[rune_id] = burned.get(rune_id, 0) + amount
                    sinks.setdefault(rune_id, []).append((None, amount, True))
                continue
            address = addresses[vout]
            ordered = dict(sorted(balances.items()))
            self.outpoints[(txid, vout)] = Outpoint(height, tx_index, address, ordered)
            for rune_id, amount in ordered.items():
                sinks.setdefault(rune_id, []).append((address, amount, False))
                self.rows.events.append(
                    (height, tx_index, txid, "transferred", *rune_id, amount, vout, address)
                )
        for rune_id, amount in sorted(leftover.items()):  # burned for lack of a destination: last sinks
            sinks.setdefault(rune_id, []).append((None, amount, True))
            burned[rune_id] = burned.get(rune_id, 0) + amount
        for rune_id, amount in sorted(burned.items()):
            if amount == 0:
                continue
            self.entries[rune_id].burned += amount
            self.rows.events.append((height, tx_index, txid, "burned", *rune_id, amount, None, None))
        for rune_id in sorted(set(sources) | set(sinks)):
            for op, sender, receiver, amount in pair_flows(sources.get(rune_id, ()), sinks.get(rune_id, ())):
                self.rows.transfers.append((height, tx_index, txid, *rune_id, op, sender, receiver, amount))

    # -- ord's helpers -------------------------------------------------------------------
    @staticmethod
    def _allocate(
        allocated: list[dict[RuneId, int]],
        unallocated: dict[RuneId, int],
        rune_id: RuneId,
        amount: int,
        vout: int,
    ) -> None:
        if amount > 0:
            unallocated[rune_id] -= amount
            allocated[vout][rune_id] = allocated[vout].get(rune_id, 0) + amount

    def _etched(
        self, tx_index: int, artifact: Runestone | Cenotaph, inputs: Sequence[TxInput], where: str
    ) -> tuple[RuneId, int] | None:
        """``(rune id, rune)`` of the rune this artifact etches, or None (ord's ``etched``)."""
        if isinstance(artifact, Runestone):
            if artifact.etching is None:
                return None
            rune = artifact.etching.rune
        else:
            if artifact.etching is None:
                return None
            rune = artifact.etching
        if rune is None:
            rune = reserved_rune(self.height, tx_index)
        elif (
            not can_etch_name(rune, self.height, self.network)
            or rune in self.names
            or not self._commits(rune, inputs, where)
        ):
            return None
        return (self.height, tx_index), rune

    def _commits(self, rune: int, inputs: Sequence[TxInput], where: str) -> bool:
        wanted = commitment(rune)
        for vin, txin in enumerate(inputs):
            if not pushes_commitment(txin.leaf_script, wanted):
                continue
            if txin.prev_script is None or txin.prev_height is None:
                raise LedgerError(
                    f"{where}, input {vin}: the etching's commitment check needs the spent output "
                    f"{txin.prev_txid}:{txin.prev_vout}, which the chain tables do not have (give the "
                    "blocks that create it, or tables with undo data)"
                )
            if not is_p2tr(txin.prev_script):
                continue
            if self.height - txin.prev_height + 1 >= COMMIT_CONFIRMATIONS:
                return True
        return False

    def _create_entry(self, txid: str, artifact: Runestone | Cenotaph, rune_id: RuneId, rune: int) -> None:
        entry = new_entry(artifact, rune_id, rune, len(self.entries), txid, self.time)
        self.entries[rune_id] = entry
        self.names[rune] = rune_id
        self.rows.events.append(
            (self.height, rune_id[1], txid, "etched", *rune_id, entry.premine, None, None)
        )


def _pylist(column: Any) -> list[Any]:
    """A column's values as Python objects, nulls as None (whatever the pandas dtype)."""
    import pyarrow as pa

    return pa.array(column, from_pandas=True).to_pylist()


def _tx_rows(frames: Any) -> Iterator[tuple[int, int, list[tuple[Any, ...]]]]:
    """``(height, time, [(tx_index, txid, scripts, addresses, inputs), ...])`` per block."""
    txs, outputs, inputs, blocks = frames.txs, frames.outputs, frames.inputs, frames.blocks
    n_out = txs["n_out"].to_numpy(dtype="int64")
    n_in = txs["n_in"].to_numpy(dtype="int64")
    if int(n_out.sum()) != len(outputs) or int(n_in.sum()) != len(inputs):
        raise LedgerError(
            f"the chain tables disagree: txs counts {int(n_out.sum())} outputs and {int(n_in.sum())} inputs, "
            f"the outputs and inputs tables have {len(outputs)} and {len(inputs)} rows"
        )
    t_height, t_index, t_txid = (_pylist(txs[c]) for c in ("height", "tx_index", "txid"))
    scripts, addresses = _pylist(outputs["script"]), _pylist(outputs["address"])
    o_height, o_index = _pylist(outputs["height"]), _pylist(outputs["tx_index"])
    i_cols = [
        _pylist(inputs[c]) for c in ("prev_txid", "prev_vout", "leaf_script", "prev_script", "prev_height")
    ]
    i_height, i_index = _pylist(inputs["height"]), _pylist(inputs["tx_index"])
    times = dict(zip(_pylist(blocks["height"]), _pylist(blocks["time"])))
    o = i = 0
    k = 0
    n = len(t_txid)
    while k < n:
        height = t_height[k]
        block: list[tuple[Any, ...]] = []
        while k < n and t_height[k] == height:
            tx_index, txid = t_index[k], t_txid[k]
            if tx_index != len(block):
                raise LedgerError(
                    f"block {height}, transaction {tx_index} ({txid}): expected transaction {len(block)} here; "
                    "give the txs table ordered by (height, tx_index), every transaction of each block"
                )
            oo, ii = o + int(n_out[k]), i + int(n_in[k])
            if (o < oo and (o_height[o], o_index[o]) != (height, tx_index)) or (
                i < ii and (i_height[i], i_index[i]) != (height, tx_index)
            ):
                raise LedgerError(
                    f"block {height}, transaction {tx_index} ({txid}): its outputs or inputs are not where the "
                    "txs table's n_out / n_in put them; give the tables ordered by (height, tx_index, vout|vin)"
                )
            tx_inputs = [TxInput(*(col[j] for col in i_cols)) for j in range(i, ii)]
            block.append((tx_index, txid, scripts[o:oo], addresses[o:oo], tx_inputs))
            o, i = oo, ii
            k += 1
        if height not in times:
            raise LedgerError(f"block {height} has transactions but no row in the blocks table")
        yield height, int(times[height]), block


@paused_gc
def run_reference(frames: Any, network: str | None = None, ledger: Ledger | None = None) -> Ledger:
    """Run the reference ledger over chain tables (``frames``: :class:`~mesh_magics.chain.blocklist.ChainFrames`
    or anything with pandas ``blocks``, ``txs``, ``outputs``, ``inputs``), block by block."""
    ledger = ledger or Ledger(network or str(getattr(frames, "network", "mainnet")))
    for height, time, block in _tx_rows(frames):
        ledger.begin_block(height, time)
        for tx_index, txid, scripts, addresses, inputs in block:
            ledger.index_tx(tx_index, txid, scripts, addresses, inputs)
    return ledger

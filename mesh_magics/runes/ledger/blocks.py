"""``index_blocks``: the Runes ledger of a list of blocks in memory, by the reference ledger.

For block lists such as ord's test scenarios (``{"height", "time", "txs": [raw tx hex]}``)
or raw blocks (bytes or hex, or ``{"height", "block"}``), in height order: the chain tables
are built with :func:`mesh_magics.chain.blocklist.from_blocks` (prevouts resolved from the
blocks given), then :func:`~.reference.run_reference` runs ord's rules over them. One
process, no Dask; :func:`~.mesh.index_chain` is the same ledger on the mesh.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ...errors import ChainError, LedgerError
from .gcpause import paused_gc
from .reference import Ledger, run_reference
from .tables import LedgerResult, balances_frame, events_frame, runes_frame, transfers_frame

__all__ = ["index_blocks", "ledger_result"]


def index_blocks(blocks: Iterable[Any], network: str = "mainnet") -> LedgerResult:
    """Index ``blocks`` (in height order) with ord's rules; see :class:`~.tables.LedgerResult`.

    ``network``: ``mainnet`` (the default; UNCOMMON•GOODS exists from the start, runes from
    block 840,000), ``testnet3``, ``testnet4``, ``signet`` or ``regtest`` (runes from block 0).

    Bad input raises :class:`~mesh_magics.errors.LedgerError` naming the block and the
    transaction: a transaction that does not parse, a block out of order, an etching whose
    commitment check needs a prevout the blocks do not create.

    >>> import json                                                          # doctest: +SKIP
    >>> scenario = json.load(open("ledger_scenarios_public.json"))[1]        # doctest: +SKIP
    >>> index_blocks(scenario["blocks"], "regtest").balances                 # doctest: +SKIP
    """
    from ...chain.blocklist import from_blocks
    from ...chain.format.address import network as chain_network

    blocks = list(blocks)
    try:
        net = chain_network(network).name
        frames = from_blocks(blocks, net)
    except ChainError as e:
        raise LedgerError(_locate(blocks, e)) from None
    return ledger_result(run_reference(frames, net))


def _locate(blocks: list[Any], error: ChainError) -> str:
    """The error's message, naming the transaction that does not parse where there is one."""
    from ...chain.format.tx import tx_from_hex

    for index, item in enumerate(blocks):
        if isinstance(item, Mapping) and "txs" in item:
            for tx_index, raw in enumerate(item["txs"]):
                try:
                    tx_from_hex(raw)
                except ChainError as e:
                    height = item.get("height", index)
                    return f"block {height}, transaction {tx_index}: {e}"
    return str(error)


@paused_gc
def ledger_result(ledger: Ledger) -> LedgerResult:
    """The result tables of a reference :class:`~.reference.Ledger` after its last block."""
    balances = [
        (o.height, o.tx_index, vout, txid, *rune_id, amount, o.address)
        for (txid, vout), o in ledger.outpoints.items()
        for rune_id, amount in o.balances.items()
    ]
    height = None if ledger.next_height is None else ledger.next_height - 1
    return LedgerResult(
        runes=runes_frame(ledger.entries.values()),
        balances=balances_frame(balances),
        transfers=transfers_frame(ledger.rows.transfers, ledger.block_times),
        events=events_frame(ledger.rows.events, ledger.block_times),
        network=ledger.network,
        height=height,
    )

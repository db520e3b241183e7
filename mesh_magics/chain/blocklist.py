"""Chain tables from a list of blocks in memory: :func:`from_blocks`.

For small inputs and tests: the block lists of ord's ledger scenarios
(``{"height", "time", "txs": [raw tx hex, ...]}``), raw blocks (``bytes``, hex, or
``{"height", "block": bytes | hex}``), in height order. Prevouts are resolved from the
outputs of the blocks given (there is no undo data here): an input spending an output
created earlier in the list gets its ``prev_value``, ``prev_script``, ``prev_height`` and
``prev_is_coinbase`` (and ``prev_address``); others keep them null. Read with the reference parser
(:mod:`.format.tx`), one process, no Dask: the mesh readers of a node's files produce the
same tables, partitioned.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa

from ..errors import ChainError
from .format.address import Network, address, network, script_type
from .format.tx import Tx, parse_block, tx_from_hex
from .schema import BLOCKS, INPUTS, OUTPUTS, TXS, leaf_script

__all__ = ["ChainFrames", "from_blocks"]


@dataclass
class ChainFrames:
    """The four chain tables of :mod:`.schema` as in-memory pandas frames (Arrow dtypes)."""

    blocks: pd.DataFrame
    txs: pd.DataFrame
    outputs: pd.DataFrame
    inputs: pd.DataFrame
    network: str


def _frame(columns: dict[str, list[Any]], schema: pa.Schema) -> pd.DataFrame:
    return pa.Table.from_pydict(columns, schema=schema).to_pandas(types_mapper=pd.ArrowDtype)


def _decode(
    item: Any, index: int, next_height: int
) -> tuple[int, int | None, str | None, str | None, list[Tx], int]:
    """(height, time, hash, prev_hash, txs, size) of one entry of the list."""
    if isinstance(item, Mapping) and "txs" in item:
        try:
            txs = [tx_from_hex(raw) for raw in item["txs"]]
        except ChainError as e:
            raise ChainError(f"block {item.get('height', next_height)} (entry {index}): {e}") from None
        size = 80 + len(_cs(len(txs))) + sum(t.size for t in txs)
        return int(item.get("height", next_height)), item.get("time"), None, None, txs, size
    raw = item.get("block") if isinstance(item, Mapping) else item
    height = int(item.get("height", next_height)) if isinstance(item, Mapping) else next_height
    if raw is None:
        raise ChainError(
            f"block list entry {index}: expected txs, a block's bytes or hex, or {{'block': ...}}"
        )
    data = bytes.fromhex(raw) if isinstance(raw, str) else bytes(raw)
    try:
        block = parse_block(data)
    except ChainError as e:
        raise ChainError(f"block {height} (entry {index}): {e}") from None
    h = block.header
    return height, h.time, h.hash_hex, h.prev_hash_hex, list(block.txs), block.size


def _cs(n: int) -> bytes:
    if n < 0xFD:
        return bytes((n,))
    return b"\xfd" + n.to_bytes(2, "little") if n <= 0xFFFF else b"\xfe" + n.to_bytes(4, "little")


def from_blocks(blocks: Iterable[Any], network_name: str | Network = "mainnet") -> ChainFrames:
    """The chain tables of ``blocks`` (see the module doc); heights must increase by one."""
    net = network(network_name)
    cols: dict[str, dict[str, list[Any]]] = {
        name: {f.name: [] for f in schema}
        for name, schema in (("b", BLOCKS), ("t", TXS), ("o", OUTPUTS), ("i", INPUTS))
    }
    b, t, o, i = cols["b"], cols["t"], cols["o"], cols["i"]
    utxo: dict[tuple[str, int], tuple[int, bytes, int, bool]] = {}
    expected: int | None = None
    for index, item in enumerate(blocks):
        height, time, hash_, prev, txs, size = _decode(item, index, 0 if expected is None else expected)
        if expected is not None and height != expected:
            raise ChainError(
                f"block list entry {index} has height {height}, expected {expected}: give blocks in order"
            )
        expected = height + 1
        weight = 4 * (80 + len(_cs(len(txs)))) + sum(tx.weight for tx in txs)
        for col, value in zip(b, (height, hash_, prev, int(time or 0), len(txs), size, weight)):
            b[col].append(value)
        for tx_index, tx in enumerate(txs):
            txid = tx.txid_hex
            in_value: int | None = 0
            for vin, txin in enumerate(tx.inputs):
                key = (txin.prev_txid_hex, txin.prev_vout)
                prev_out = None if txin.is_coinbase else utxo.pop(key, None)
                if prev_out is None:
                    in_value = None if not tx.is_coinbase else in_value
                elif in_value is not None:
                    in_value += prev_out[0]
                row: tuple[Any, ...] = (height, tx_index, vin, key[0], key[1], txin.sequence)
                row += prev_out if prev_out is not None else (None, None, None, None)
                row += (leaf_script(txin.witness), None if prev_out is None else address(prev_out[1], net))
                for col, value in zip(i, row):
                    i[col].append(value)
            out_value = 0
            for vout, txout in enumerate(tx.outputs):
                out_value += txout.value
                kind = script_type(txout.script)
                for col, v in zip(
                    o, (height, tx_index, vout, txout.value, txout.script, kind, address(txout.script, net))
                ):
                    o[col].append(v)
                if kind != "nulldata":
                    utxo[(txid, vout)] = (txout.value, txout.script, height, tx.is_coinbase)
            if tx.is_coinbase:
                in_value = None
            fee = None if in_value is None else in_value - out_value
            tx_row: tuple[Any, ...] = (height, tx_index, txid, tx.size, tx.vsize, tx.weight, len(tx.inputs))
            tx_row += (len(tx.outputs), out_value, in_value, fee, tx.is_coinbase)
            for col, value in zip(t, tx_row):
                t[col].append(value)
    return ChainFrames(_frame(b, BLOCKS), _frame(t, TXS), _frame(o, OUTPUTS), _frame(i, INPUTS), net.name)

"""The chain tables: ``blocks``, ``txs``, ``outputs`` and ``inputs``, as Arrow schemas.

Every reader of chain data (a node's data directory, REST, raw blocks, block lists)
produces these tables with exactly these columns and types, partitioned by height
range; the Runes ledger and the BTC whale queries read them. Rows are ordered by
``(height, tx_index[, vout | vin])``. Values are satoshis (int64, exact); hashes and txids
are the usual display hex (byte-reversed); scripts are raw bytes. Nullable columns are
null where the reader does not know the value (a prevout outside the blocks read and
without undo data; an address for a script that has none).

========  ======================================================================
table     columns
========  ======================================================================
blocks    height, hash*, prev_hash*, time (header time, unix s), n_tx, size, weight
txs       height, tx_index, txid, size, vsize, weight, n_in, n_out, output_value,
          input_value*, fee*, is_coinbase
outputs   height, tx_index, vout, value, script, script_type, address*
inputs    height, tx_index, vin, prev_txid, prev_vout, sequence, prev_value*,
          prev_script*, prev_height*, prev_is_coinbase*, leaf_script*, prev_address*
========  ======================================================================

(* nullable: a block list of raw transactions has no header, so no hashes.) ``leaf_script`` is the tapscript a script-path spend reveals, taken from the
witness as BIP 341 says and rust-bitcoin's ``Witness::tapscript`` does: the second-to-last
element, or the third-to-last when there are at least three and the last starts with
``0x50`` (an annex); null with fewer than two elements. It does not say the prevout is
P2TR: ``prev_script`` does. ``prev_address`` is the address of ``prev_script`` (the
spender's address, what whale flows and balances group by), null where the script has
none or is not known. Coinbase inputs have ``prev_txid`` of zeros and ``prev_vout``
4294967295.
"""

from __future__ import annotations

import pyarrow as pa

__all__ = ["BLOCKS", "INPUTS", "OUTPUTS", "SCHEMAS", "TXS", "leaf_script"]

_I64, _STR, _BIN, _BOOL = pa.int64(), pa.string(), pa.binary(), pa.bool_()

BLOCKS = pa.schema(
    [
        pa.field("height", _I64, nullable=False),
        pa.field("hash", _STR),
        pa.field("prev_hash", _STR),
        pa.field("time", _I64, nullable=False),
        pa.field("n_tx", _I64, nullable=False),
        pa.field("size", _I64, nullable=False),
        pa.field("weight", _I64, nullable=False),
    ]
)
TXS = pa.schema(
    [
        pa.field("height", _I64, nullable=False),
        pa.field("tx_index", _I64, nullable=False),
        pa.field("txid", _STR, nullable=False),
        pa.field("size", _I64, nullable=False),
        pa.field("vsize", _I64, nullable=False),
        pa.field("weight", _I64, nullable=False),
        pa.field("n_in", _I64, nullable=False),
        pa.field("n_out", _I64, nullable=False),
        pa.field("output_value", _I64, nullable=False),
        pa.field("input_value", _I64),
        pa.field("fee", _I64),
        pa.field("is_coinbase", _BOOL, nullable=False),
    ]
)
OUTPUTS = pa.schema(
    [
        pa.field("height", _I64, nullable=False),
        pa.field("tx_index", _I64, nullable=False),
        pa.field("vout", _I64, nullable=False),
        pa.field("value", _I64, nullable=False),
        pa.field("script", _BIN, nullable=False),
        pa.field("script_type", _STR, nullable=False),
        pa.field("address", _STR),
    ]
)
INPUTS = pa.schema(
    [
        pa.field("height", _I64, nullable=False),
        pa.field("tx_index", _I64, nullable=False),
        pa.field("vin", _I64, nullable=False),
        pa.field("prev_txid", _STR, nullable=False),
        pa.field("prev_vout", _I64, nullable=False),
        pa.field("sequence", _I64, nullable=False),
        pa.field("prev_value", _I64),
        pa.field("prev_script", _BIN),
        pa.field("prev_height", _I64),
        pa.field("prev_is_coinbase", _BOOL),
        pa.field("leaf_script", _BIN),
        pa.field("prev_address", _STR),
    ]
)
#: table name -> schema
SCHEMAS = {"blocks": BLOCKS, "txs": TXS, "outputs": OUTPUTS, "inputs": INPUTS}


def leaf_script(witness: tuple[bytes, ...] | list[bytes]) -> bytes | None:
    """The tapscript of a script-path spend's witness (see the module doc), or None."""
    n = len(witness)
    if n >= 3 and witness[-1][:1] == b"\x50":
        return witness[-3]
    if n >= 2:
        return witness[-2]
    return None

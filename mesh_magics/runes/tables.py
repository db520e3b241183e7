"""The canonical tables of the whale suite (see docs in README / whale-suite contract).

``transfers``: one row per movement of rune units; ``runes``: one row per rune.
Column names and dtypes here are the contract every loader, the generator and
the six queries share.

Amounts are u128 in the protocol. The canonical in-memory dtype is ``int64``
when every value fits; a table whose values do not fit uses the exact
representation :data:`EXACT_AMOUNT_DTYPE` (Python ints in an ``object``
column) and says so in ``df.attrs["amount_repr"]`` — never a wrapped integer
or a float.
"""

from __future__ import annotations

__all__ = [
    "TRANSFERS_COLUMNS",
    "RUNES_COLUMNS",
    "OPERATIONS",
    "INT64_MAX",
    "U128_MAX",
    "EXACT_AMOUNT_DTYPE",
]

INT64_MAX = 2**63 - 1
U128_MAX = 2**128 - 1

#: operation values of ``transfers.operation``
OPERATIONS = ("etching", "mint", "send", "burn")

#: column -> canonical pandas dtype name (string columns use pandas' "string"
#: dtype backed by pyarrow; timestamps are UTC).
TRANSFERS_COLUMNS: dict[str, str] = {
    "block_height": "int64",
    "block_time": "datetime64[ns, UTC]",
    "txid": "string",
    "rune_id": "string",
    "operation": "string",
    "sender": "string",
    "receiver": "string",
    "amount": "int64",
}

RUNES_COLUMNS: dict[str, str] = {
    "rune_id": "string",
    "name": "string",
    "divisibility": "int64",
    "supply": "int64",
    "symbol": "string",
}

#: dtype of amount/supply columns whose values do not fit int64
EXACT_AMOUNT_DTYPE = "object"

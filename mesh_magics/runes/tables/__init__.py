"""The canonical tables of the whale suite (see the whale-suite contract).

``transfers``: one row per movement of rune units; ``runes``: one row per rune.
Column names and dtypes here are the contract every loader, the generator and
the six queries share.

Amounts are u128 in the protocol. The canonical in-memory dtype is ``int64``
when every value fits; a table whose values do not fit uses the exact
representation :data:`EXACT_AMOUNT_DTYPE` (Python ints in an ``object``
column) and says so in ``df.attrs["amount_repr"]`` — never a wrapped integer
or a float. :func:`amount_repr` tells which one a frame uses (from its attrs,
else from the dtype, which also works for dask frames).

Checking and fixing tables:

- :func:`validate_transfers` / :func:`validate_runes` accept pandas, cuDF or
  dask frames and raise :class:`~mesh_magics.errors.SchemaError` naming the
  column (and, for values, the row) at fault and how to fix it. Dask frames
  are checked against their meta at once; their values are checked lazily,
  partition by partition, when the returned frame is computed.
- :func:`coerce_transfers` / :func:`coerce_runes` cast a pandas or dask frame
  to the canonical dtypes; :func:`coerce_amount` does it for one column.
- :func:`split_bad_rows` sets rows aside with a reason instead of failing.

=================  ==============================================================
module             what it holds
=================  ==============================================================
:mod:`.schema`     columns, dtypes, constants, :func:`amount_repr`
:mod:`.amounts`    :func:`parse_amount`, the one parser of raw amounts (also the
                   loaders')
:mod:`.coerce`     :func:`coerce_amount`, :func:`coerce_transfers`, :func:`coerce_runes`
:mod:`.validate`   :func:`validate_transfers`, :func:`validate_runes`,
                   :func:`split_bad_rows`
=================  ==============================================================

It sits at the top of :mod:`mesh_magics.runes` because everything else
(decoders, loaders, generator, queries) speaks it.

Import rule: numpy, pandas and dask; :mod:`mesh_magics.errors`. No other part
of :mod:`mesh_magics.runes` (it is the bottom layer the others build on).
"""

from __future__ import annotations

from .amounts import AmountError, parse_amount
from .coerce import coerce_amount, coerce_runes, coerce_transfers
from .schema import (
    AMOUNT_REPRS,
    EXACT_AMOUNT_DTYPE,
    INT64_MAX,
    OPERATIONS,
    RUNES_COLUMNS,
    TRANSFERS_COLUMNS,
    U128_MAX,
    AmountRepr,
    amount_repr,
)
from .validate import split_bad_rows, validate_runes, validate_transfers

__all__ = [
    "AMOUNT_REPRS",
    "EXACT_AMOUNT_DTYPE",
    "INT64_MAX",
    "OPERATIONS",
    "RUNES_COLUMNS",
    "TRANSFERS_COLUMNS",
    "U128_MAX",
    "AmountError",
    "AmountRepr",
    "amount_repr",
    "coerce_amount",
    "coerce_runes",
    "coerce_transfers",
    "parse_amount",
    "split_bad_rows",
    "validate_runes",
    "validate_transfers",
]

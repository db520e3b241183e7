"""Loaders: the data formats analysts have, as the canonical ``transfers`` / ``runes`` tables.

=========================  =====================================================  ==============
loader                     reads                                                  gives
=========================  =====================================================  ==============
:func:`read_parquet`       Parquet already in canonical form                      transfers/runes
:func:`read_csv`           CSV already in canonical form                          transfers/runes
:func:`from_ord_runes`     ord ``/runes`` pages, ``/rune/<id>`` documents         runes
:func:`from_ord_outputs`   ord ``/output/<outpoint>`` documents                   balances snapshot
:func:`from_runehook`      runehook / Hiro Runes API activity (scaled amounts)    transfers
:func:`from_bitcoin_etl`   bitcoin-etl transactions, through the batch decoder    decoded events
=========================  =====================================================  ==============

Every loader returns a :class:`LoadResult`: ``table`` (a dask DataFrame) and
``bad_rows`` (the input rows set aside, with ``source``, ``reason``, ``detail``
and ``record``), plus ``amount_repr``. A bad row never stops a load;
``result.counts()`` tells how many were set aside per reason, and
``result.compute()`` computes table and bad rows in one pass over the input.

Files are read on the workers, one partition per file (``dd.from_map``, or
dask's own Parquet/CSV readers); in-memory records are converted on the client
into one partition. Amounts stay exact: ``int64`` when every value fits,
Python ints in an ``object`` column otherwise (``amount_repr="exact"``);
decimal strings are parsed with ``int``, never through a float.

Exact amounts do not survive dask's ``dataframe.convert-string`` (on by
default), which turns ``object`` columns into strings when a collection is
created (``dd.from_pandas``, ``dd.from_map``); the loaders switch it off for
the collections they make. Do the same if you build frames of exact amounts
yourself.

=================  ==============================================================
module             what it holds
=================  ==============================================================
:mod:`.canonical`  :func:`read_parquet`, :func:`read_csv`
:mod:`.parquet`    Parquet footers and row groups (a broken one is reported, not raised)
:mod:`.ord`        :func:`from_ord_runes`, :func:`from_ord_outputs`
:mod:`.runehook`   :func:`from_runehook` (send/receive pairing)
:mod:`.etl`        :func:`bitcoin_etl_frame`, :func:`from_bitcoin_etl`
:mod:`.docs`       JSON documents to tables (files on the workers, records here)
:mod:`.schema`     raw rows to the canonical tables, bad rows set aside
:mod:`.common`     bad-row reasons, exact amounts, record fields
:mod:`.reader`     strict JSON, files streamed with limits, encodings, truncation
:mod:`.files`      paths, in-memory inputs, the dask collections made of them
:mod:`.result`     :class:`LoadResult`
=================  ==============================================================

This package is the loaders' one public entry: import them from here (or from
:mod:`mesh_magics.runes`); the modules above are its internals.

Import rule: numpy, pandas, dask, fsspec and pyarrow (Parquet row groups); :mod:`mesh_magics.errors`,
:mod:`mesh_magics.runes.protocol`, :mod:`mesh_magics.runes.tables` and
:mod:`mesh_magics.runes.decode` (bitcoin-etl goes through the batch decoder).
Never the whale suite (:mod:`mesh_magics.runes.whale`).
"""

from __future__ import annotations

from .canonical import read_csv, read_parquet
from .common import BAD_ROWS_COLUMNS, REASONS
from .etl import (
    ETL_COLUMNS,
    FIRST_RUNE_HEIGHT,
    bitcoin_etl_frame,
    from_bitcoin_etl,
)
from .ord import from_ord_outputs, from_ord_runes
from .result import LoadResult
from .runehook import from_runehook
from .schema import BALANCES_COLUMNS

__all__ = [
    "BAD_ROWS_COLUMNS",
    "BALANCES_COLUMNS",
    "ETL_COLUMNS",
    "FIRST_RUNE_HEIGHT",
    "REASONS",
    "LoadResult",
    "bitcoin_etl_frame",
    "from_bitcoin_etl",
    "from_ord_outputs",
    "from_ord_runes",
    "from_runehook",
    "read_csv",
    "read_parquet",
]

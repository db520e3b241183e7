"""The whale suite: six queries over the canonical ``transfers`` / ``runes`` tables.

Each function takes a dask DataFrame (any partitioning, pandas or cuDF backed)
or an in-memory pandas / cuDF DataFrame and returns a computed in-memory frame
of the same family with a fresh index, sorted as the whale-suite contract
states. None of them gathers ``transfers`` onto one process: partitions are
reduced where they live (group sums, filters, broadcast merges against small
tables) and only aggregated results reach the client.

Exactness. Amount sums are computed on 32-bit limbs (see
:mod:`.exact`), so integer outputs (balance, total, volume, netflow,
amount) are exact whatever the input: ``int64`` where every value fits, else
exact Python ints (``object``; ``decimal128(38, 0)`` on cuDF), and the frame's
``attrs["amount_repr"]`` says which. Ratios are computed from exact integer
sums and are correct to a few ulps.

Engines. The queries ask one :class:`WhaleEngine` per call for their heavy
part (:func:`engine_for`): the coded-table engine on the mesh's cache
(:mod:`.coded`, :mod:`.cache`) or the general dask.dataframe engine
(:mod:`.general`). :mod:`.engine` documents the interface a further backend
(cuDF/cupy) implements.

=================  ==============================================================
module             what it holds
=================  ==============================================================
:mod:`.queries`    the six public queries (Q1-Q6)
:mod:`.engine`     :class:`WhaleEngine`, the interface, and :func:`engine_for`
:mod:`.general`    :class:`~.general.GeneralEngine`: dask.dataframe, any input
:mod:`.coded`      :class:`~.coded.CodedEngine`: the cached coded table
:mod:`.cache`      the coded-table cache on the mesh (:func:`cache_info`,
                   :func:`clear_cache`)
:mod:`.holders`    holder balances, the top-holders and concentration tables
:mod:`.frames`     input families, dask collections, finishing small results
:mod:`.exact`      exact integer arithmetic on 32-bit limbs
=================  ==============================================================

Import rule: numpy, pandas, pyarrow, dask and distributed (cudf and dask_cudf
only inside functions, when a cuDF frame is given or asked for);
:mod:`mesh_magics.errors` and :mod:`mesh_magics.runes.tables`. Never the
loaders (:mod:`mesh_magics.runes.io`) or the decoders
(:mod:`mesh_magics.runes.decode`): the queries read the canonical tables,
whoever made them.

>>> from mesh_magics.runes import synthetic, top_holders            # doctest: +SKIP
>>> transfers, runes = synthetic(n_rows=100_000, npartitions=4)      # doctest: +SKIP
>>> top_holders(transfers, n=5).head()                                # doctest: +SKIP
"""

from __future__ import annotations

from .cache import cache_info, clear_cache
from .engine import WhaleEngine, engine_for
from .queries import (
    concentration,
    daily_activity,
    top_holders,
    whale_flows,
    whale_netflow,
    whale_transfers,
)

__all__ = [
    "WhaleEngine",
    "cache_info",
    "clear_cache",
    "concentration",
    "daily_activity",
    "engine_for",
    "top_holders",
    "whale_flows",
    "whale_netflow",
    "whale_transfers",
]

"""The engine interface of the whale suite: what the six queries ask of a backend.

A query (:mod:`.queries`) checks its arguments, wraps its input
(:func:`~.frames.prepare`), asks :func:`engine_for` for an engine **once**, and
hands the engine's small host result to :func:`~.frames.finish` (exact
integers, final sort, the input's frame family). Everything between, where the
rows are, is the engine's:

=====================  ===================================================  ============
operation              host result (pandas); limbs ``_a0 .. _a{k-1}``      used by
=====================  ===================================================  ============
:meth:`balances`       lazy: holders' balances, each rune in one partition  Q2, Q3, Q4
:meth:`decode`         host keys of :meth:`balances` back to strings        Q2, Q3
:meth:`top_holders`    rune_id, address, balance, rank                      Q2, Q4
:meth:`concentration`  rune_id, holders, total, top_share, hhi, gini, ...   Q3
:meth:`whale_sums`     rune_id, n, limbs (whale-sized sends per rune)       Q1
:meth:`flows`          rune_id, sender, receiver, limbs, n                  Q5
:meth:`netflow`        rune_id, _bucket, limbs, moves                       Q4
:meth:`daily`          rune_id, _day, n, limbs, senders                     Q6
=====================  ===================================================  ============

:meth:`top_holders` and :meth:`concentration` have a default built on
:meth:`balances` and :meth:`decode` (:mod:`.holders`); the others are each
engine's own.

Two engines exist:

- :class:`~.general.GeneralEngine`: dask.dataframe on any partitioning,
  pandas- or cuDF-backed partitions, in-memory frames, exact (u128) amounts;
  strings are grouped and shuffled as they are.
- :class:`~.coded.CodedEngine`: the coded table of :mod:`.cache` on the mesh
  (integer codes, every rune in one partition, numpy kernels); chosen for
  pandas-backed dask input with int64 amounts on a distributed client.

The interface is backend-neutral on purpose: its arguments are the query's
:class:`~.frames.Input`, small host frames (thresholds) and plain ints, and
every result is a small host pandas frame (only aggregated rows leave the
workers), so another engine (a cuDF/cupy one keeping codes and limbs on the
GPU) plugs in by subclassing :class:`WhaleEngine` and being chosen in
:func:`engine_for`. An engine must keep amounts exact (32-bit limbs, see
:mod:`.exact`); limbs need not be normalized (the query normalizes), except
those of :meth:`flows`, whose rows the query sorts on them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import pandas as pd

from .cache import coded
from .frames import Input
from .holders import concentration_table, top_holders_table

__all__ = ["WhaleEngine", "engine_for"]


class WhaleEngine(ABC):
    """The operations the six whale queries need from a backend (see the module docstring).

    Every method gets the query's :class:`~.frames.Input` (the dask collection
    of the columns it reads, its limb count ``k``, its time dtype and how to
    compute); results are host pandas frames unless said otherwise.
    """

    #: a short name for messages and tests ("general", "coded", ...)
    name: str = "engine"

    # ----------------------------------------------------------------- holders (Q2, Q3)

    @abstractmethod
    def balances(self, inp: Input) -> Any:
        """Holders' exact balances, lazy: one row per (rune_id, address) with balance > 0.

        Columns ``rune_id``, ``address`` and normalized limbs ``_a0 ..
        _a{k-1}``; every rune's holders inside one partition. Keys may be
        engine codes whose order is the strings' order (see :meth:`decode`).
        """

    @abstractmethod
    def decode(self, pdf: pd.DataFrame) -> pd.DataFrame:
        """A host frame of :meth:`balances` keys (``rune_id``, ``address`` if present) as strings."""

    def top_holders(self, inp: Input, n: int) -> pd.DataFrame:
        """Q2: rune_id, address, balance (exact), rank; sorted by rune_id, rank."""
        return top_holders_table(inp, n, self.balances(inp), self.decode)

    def concentration(self, inp: Input, top: int) -> pd.DataFrame:
        """Q3: rune_id, holders, total, top_share, hhi, gini, nakamoto; sorted by rune_id."""
        return concentration_table(inp, top, self.balances(inp), self.decode)

    # ----------------------------------------------------------------- sends (Q1, Q5)

    @abstractmethod
    def whale_sums(self, inp: Input, thr: Any) -> pd.DataFrame:
        """Q1: per rune_id (string), ``n`` and the limbs of Σ amount of whale-sized sends.

        ``thr``: per rune_id the least qualifying amount as limbs ``_t0 ..
        _t{k-1}`` (a small frame in the input's family); runes absent from it
        never qualify. Rows in any order.
        """

    @abstractmethod
    def flows(self, inp: Input, thr: Any, top: int) -> pd.DataFrame:
        """Q5: (rune_id, sender, receiver) groups of whale-sized sends: limbs of Σ amount, ``n``.

        Strings, normalized limbs, any order; at least the ``top`` best groups
        (amount desc, then rune_id, sender, receiver asc) must be among the rows.
        """

    # ----------------------------------------------------------------- time buckets (Q4, Q6)

    @abstractmethod
    def netflow(self, inp: Input, step: int, top: int) -> pd.DataFrame:
        """Q4: per (rune_id, ``_bucket``) the limbs of the whales' net flow and ``moves``.

        The whales of a rune are its ``top`` holders; ``_bucket`` is block_time
        in ticks of its unit floored to ``step`` ticks. Sorted by rune_id, _bucket.
        """

    @abstractmethod
    def daily(self, inp: Input, step: int) -> pd.DataFrame:
        """Q6: per (rune_id, ``_day``) ``n`` rows, limbs of Σ amount and distinct ``senders``.

        ``_day`` as ``_bucket`` in :meth:`netflow`. Sorted by rune_id, _day.
        """


def engine_for(transfers: Any, build: bool = True) -> WhaleEngine:
    """The engine for one query on ``transfers``: chosen once per call.

    The coded-table engine when the cache applies (see
    :func:`~.cache.coded`: a pandas-backed dask DataFrame with the coded
    columns and int64 amounts, on a distributed client; the table is built
    on first use), else the general dask.dataframe engine.

    ``build=False`` is what the queries that filter before they group (Q1,
    Q5: a few whale-sized rows of a few columns) ask for: the coded table
    if it is already cached, else the general engine on the input as it is,
    never the build (about as long as the six queries after it, so a query
    that needs none of it does not wait for it).
    """
    from .coded import CodedEngine
    from .general import GeneralEngine

    c = coded(transfers, build=build)
    return CodedEngine(c) if c is not None else GeneralEngine()

"""``index_chain``: the Runes ledger on the mesh, over the chain tables as dask DataFrames.

The stages (chain-notes §6.2), each a set of tasks on the workers; only small summaries
(etching candidates, per-rune mint counts, burn totals) come to the client:

1. **prepare**, per height range, in parallel (:mod:`.prepare`): decode the runestones,
   check each etching against its own transaction, build the range's spend map;
2. **group-bys** (:mod:`.groupby`): the first valid etching of each name wins (numbers in
   block order); a mint counts if its rank among the window-valid attempts on its rune is
   below the cap; the ranks are taken per range on the workers, after per-rune offsets;
3. **replay**, sequential in height but partitioned by rune across workers
   (:mod:`.replay`): per rune partition, a chain of tasks from one range to the next
   carrying the live rune-bearing outpoints; each replays only the transactions that
   touch its runes (:func:`~.replay.probe` finds the spends of carried outpoints);
4. **resolve**, next to each range's text (:mod:`.resolve`): txids and addresses.

The result's ``transfers`` and ``events`` (dask, one partition per height range, in block
order) cover the heights indexed by *this* call; ``runes`` (pandas) and ``balances`` (dask,
one partition per rune partition) are the whole ledger after it. ``result.state`` (a
:class:`LedgerState`, its live sets held on the cluster) lets a later call index only newer
blocks: ``index_chain(tables, state=result.state)``; it can be saved and loaded
(:meth:`LedgerState.save`, :meth:`LedgerState.load`, :mod:`.state`). How the chain tables
are partitioned and read by height: :mod:`.partitions`.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import itertools
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ...errors import LedgerError
from .gcpause import paused_gc
from .groupby import mint_offsets, mints_in_window, range_counts, settle_etchings, terms_frame, valid_mints
from .partitions import TABLES, chain_frames_to_dask, height_ranges, load_window, range_future, table_of
from .prepare import prepare_range
from .replay import ReplayOut, empty_live, probe, replay_range
from .resolve import Framed, merge_live, name_new, range_frames
from .rules import RuneEntry, first_rune_height, genesis_entry
from .state import LedgerState
from .tables import (
    LedgerResult,
    balances_columns,
    balances_frame,
    events_frame,
    merge_parts,
    runes_frame,
    transfers_frame,
)

__all__ = ["LedgerState", "chain_frames_to_dask", "index_chain"]

RuneId = tuple[int, int]


def _client(client: Any) -> Any:
    if client is not None:
        return client
    try:
        from distributed import get_client

        return get_client()
    except ValueError:
        raise LedgerError(
            "index_chain runs on a Dask cluster: start a distributed Client (or a mesh) first, or pass client=; "
            "index_blocks is the in-process ledger"
        ) from None


def index_chain(
    tables: Any,
    network: str = "mainnet",
    start: int | None = None,
    end: int | None = None,
    *,
    state: LedgerState | LedgerResult | None = None,
    rune_partitions: int | None = None,
    blocks_per_partition: int = 1000,
    client: Any = None,
    window: int | None = None,
    timings: dict[str, float] | None = None,
) -> LedgerResult:
    """The ledger of ``tables`` from ``start`` to ``end`` (inclusive), on the mesh.

    ``tables``: the four chain tables (:mod:`mesh_magics.chain.schema` columns) as dask
    DataFrames partitioned by height range, in a dict or an object with ``blocks``,
    ``txs``, ``outputs``, ``inputs`` attributes; pandas tables are split into partitions
    of ``blocks_per_partition`` blocks first. ``state``: a previous result (or its
    ``state``) to continue from; ``start`` then defaults to (and must be) the first block
    it has not indexed. ``rune_partitions``: how many rune partitions the replay runs in
    (default: the number of workers). Needs a distributed Client (``client`` or the
    current one). ``window``: how many height ranges are read and prepared at a time
    (default: all; the replay carries its state from one window to the next, so a window
    bounds the cluster memory the chain takes). See the module doc for what the result
    holds. ``timings``: a dict that
    gets the seconds of each stage (``read``, ``prepare``, ``group-by``, ``replay``,
    ``tables``); the stages then wait for each other instead of overlapping.
    """
    from ...chain.format.address import network as chain_network

    client = _client(client)
    net = chain_network(network).name
    if isinstance(state, LedgerResult):
        state = state.state
    if state is not None and not isinstance(state, LedgerState):
        raise LedgerError(
            f"state: give a previous index_chain result or its .state, not {type(state).__name__}"
        )
    if state is not None and state.network != net:
        raise LedgerError(f"the state is of {state.network}, not {net}")
    first_height = first_rune_height(net)
    if state is None:
        entries: dict[RuneId, RuneEntry] = {}
        if net == "mainnet":
            g = genesis_entry()
            entries[g.id] = g
        names = {e.rune: e.id for e in entries.values()}
        workers = sorted(client.nthreads())  # none listed (all restarting): Dask places them
        n = rune_partitions or max(1, len(workers))
        live = [client.scatter(empty_live(), workers=[workers[r % len(workers)]] if workers else None)
                for r in range(n)]  # fmt: skip
        next_height = None
    else:
        entries, names = state.copy_entries()
        n, live, next_height = state.partitions, list(state.live), state.next_height
        if rune_partitions not in (None, n):
            raise LedgerError(
                f"the state has {n} rune partitions; continue with rune_partitions={n} (or None)"
            )
        if start is not None and next_height is not None and start != next_height:
            raise LedgerError(
                f"the state ends before block {next_height}: continue from there, not from {start}"
            )
        start = next_height
    if not isinstance(tables, dict) and not hasattr(tables, "txs"):
        raise LedgerError(
            "tables: give the chain tables as a dict or an object with blocks, txs, outputs, inputs"
        )
    frames = {name: table_of(tables, name) for name in TABLES}
    if isinstance(frames["txs"], pd.DataFrame):
        frames = chain_frames_to_dask(frames, blocks_per_partition)
    clock = _Clock(client, timings)
    ranges, bounds = height_ranges(client, frames, max(start or 0, first_height), end)
    if ranges and next_height is not None and ranges[0][0] != next_height:
        raise LedgerError(f"the tables start at block {ranges[0][0]}, the state continues from {next_height}")
    window = window or max(1, len(ranges))
    resolved: list[list[Any]] = []
    for w in range(0, len(ranges), window):
        chunk = ranges[w : w + window]
        parts = load_window(client, frames, bounds, chunk[0][0], chunk[-1][1])
        clock.mark("read", [f for ps in parts.values() for f, _ in ps])
        resolved += _window(client, net, first_height, chunk, parts, entries, names, live, n, clock)
    height = ranges[-1][1] if ranges else (None if next_height is None else next_height - 1)
    return _assemble(client, net, entries, names, live, n, resolved, height, clock)


def _window(
    client: Any, net: str, first_height: int, ranges: Sequence[tuple[int, int]], parts: dict,
    entries: dict[RuneId, RuneEntry], names: dict[int, RuneId], live: list[Any], n: int, clock: _Clock,
) -> list[list[Any]]:  # fmt: skip
    """Index one window of height ranges: ``entries``, ``names`` and ``live`` are updated;
    returns per range its Resolved futures (one per rune partition)."""
    # impure keys: a pure one tokenizes every argument on the client (the mint offsets and
    # etchings of each range: ~0.1 s a range), and nothing here is ever submitted twice
    submit = functools.partial(client.submit, pure=False)
    # 1. prepare, per range
    prepared = []
    for lo, hi in ranges:
        tables = [
            range_future(client, parts, name, lo, hi) for name in ("txs", "outputs", "inputs", "blocks")
        ]
        prepared.append(submit(prepare_range, *tables, lo, hi, net, first_height))
    del parts
    # later tasks take the whole Prepared (the replay reads its core, cross and text; the
    # rest is small): a task per part to pick it out cost a scheduler round trip each
    clock.mark("prepare", prepared)
    summaries = [x.value for x in client.gather([submit(_summary, p) for p in prepared])]
    # 2. group-bys: etchings on the client (few), mints ranked per range on the workers
    times = {h: t for _, ts in summaries for h, t in ts.items()}
    created = settle_etchings([c for cands, _ in summaries for c in cands], entries, names, times)
    by_range: list[list[tuple[int, RuneId, int]]] = [[] for _ in ranges]
    local = {(c[0], c[1]): c[2] for cands, _ in summaries for c in cands}
    starts = [lo for lo, _ in ranges]
    for e in created:  # (bisect: np.searchsorted would make an array of starts for each etching)
        by_range[bisect.bisect_right(starts, e.block) - 1].append((local[(e.block, e.tx)], e.id, e.premine))
    # (in a list: scatter would split a collection given as such). Not broadcast: replication
    # logs WorkerState objects to distributed's "all" topic, which cuts its subscribed clients
    # (see worker/plugin.py); each worker fetches the small table once when a task needs it.
    mintable = client.scatter([terms_frame(entries)], hash=False)[0]
    in_window = [submit(_mints_in_window, p, mintable) for p in prepared]
    counts = [x.value for x in client.gather([submit(_packed, range_counts, w) for w in in_window])]
    offsets, final_mints = mint_offsets(counts, entries)
    for rid, mints in final_mints.items():
        entries[rid].mints = mints
    seeds = [
        submit(_packed, valid_mints, w, off, made, n) for w, off, made in zip(in_window, offsets, by_range)
    ]
    clock.mark("group-by", seeds)
    # 3. replay per rune partition, range after range, where the partition's live set is kept;
    # 4. names from each range's text (arrays: cheap to ship, unlike the replay's rows), there too:
    # the new live outpoints' on the critical path, the tables' off it
    workers = sorted(client.nthreads())
    framed: list[list[Any]] = [[] for _ in ranges]  # per range, per rune partition: a Framed
    for r in range(n):
        # no worker listed (one restarting as the range is planned): Dask places the tasks itself
        home = {"workers": [workers[r % len(workers)]], "allow_other_workers": True} if workers else {}
        state = live[r]
        for k in range(len(ranges)):  # one task a range on the chain's critical path (_step)
            state = submit(_step, prepared[k], state, seeds[k], r, **home)
            framed[k].append(submit(_frames, state, prepared[k], **home))
        if ranges:
            live[r] = submit(operator.attrgetter("live"), state, **home)
    del prepared
    clock.mark("replay", [f for fs in framed for f in fs])
    return framed


def _assemble(
    client: Any, net: str, entries: dict[RuneId, RuneEntry], names: dict[int, RuneId], live: list[Any], n: int,
    resolved: list[list[Any]], height: int | None, clock: _Clock,
) -> LedgerResult:  # fmt: skip
    submit = functools.partial(client.submit, pure=False)
    # each table int64 if all its amounts fit, else exact, as the reference decides per table;
    # the burns of each range and rune partition come with the answer
    flat = [f for fs in resolved for f in fs]
    infos = [x.value for x in client.gather([submit(_info, res) for res in flat])]
    for _, _, burned in infos:
        for rid, amount in burned.items():
            entries[rid].burned += amount
    t_fit = all(t for t, _, _ in infos)
    e_fit = all(e for _, e, _ in infos)
    b_fit = all(client.gather([submit(_live_fits, s) for s in live]))
    t_repr, e_repr, b_repr = ("int64" if fit else "exact" for fit in (t_fit, e_fit, b_fit))
    transfers = [submit(_merge, "transfers", ["block_height"], t_repr, *fs) for fs in resolved]
    events = [submit(_merge, "events", ["block_height", "tx_index"], e_repr, *fs) for fs in resolved]
    balances = [submit(_balances_part, s, b_repr) for s in live]
    clock.mark("tables", transfers + events + balances)
    next_height = None if height is None else height + 1
    new_state = LedgerState(net, next_height, {k: dataclasses.replace(e) for k, e in entries.items()}, dict(names),
                            list(live), n)  # fmt: skip
    return LedgerResult(
        runes=runes_frame(entries.values()),
        balances=_frame(balances, balances_frame([], b_repr)),
        transfers=_frame(transfers, transfers_frame([], {}, t_repr)),
        events=_frame(events, events_frame([], {}, e_repr)),
        network=net,
        height=height,
        state=new_state,
    )


class _Clock:
    """Stage times for ``timings`` (a no-op without it)."""

    def __init__(self, client: Any, timings: dict[str, float] | None) -> None:
        import time

        self.client, self.timings, self.now = client, timings, time.perf_counter
        self.last = self.now()

    def mark(self, stage: str, futures: list[Any]) -> None:
        if self.timings is None:
            return
        from distributed import wait

        wait(futures)
        t = self.now()
        self.timings[stage] = self.timings.get(stage, 0.0) + t - self.last
        self.last = t


def _frame(futures: list[Any], meta: pd.DataFrame) -> Any:
    """A dask DataFrame of partition futures; exact (object) amounts stay ints: dask's
    ``dataframe.convert-string`` is off while the collection is made."""
    import dask
    import dask.dataframe as dd

    with dask.config.set({"dataframe.convert-string": False}):
        if not futures:
            return dd.from_pandas(meta, npartitions=1, sort=False)
        return dd.from_delayed(futures, meta=meta, verify_meta=False)


class _Packed:
    """A task result that travels in one pickle: dask walks a plain list, dict or tuple
    result item by item, which costs ~0.1 s for a few hundred items."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _packed(func: Any, *args: Any) -> _Packed:
    return _Packed(func(*args))


@dataclasses.dataclass
class _Stepped:
    """One rune partition after one range: what its replay found, and the live set after it."""

    out: ReplayOut
    live: pd.DataFrame


@paused_gc
def _step(prepared: Any, before: Any, seeds: _Packed, r: int) -> _Stepped:
    """Probe, replay and carry the live set of one range for rune partition ``r``, in one
    task: the chain from range to range waits on one task a range, not on five, each hop
    a scheduler round trip and a result kept apart."""
    live = before.live if isinstance(before, _Stepped) else before
    out = replay_range(prepared.core, live, probe(prepared.cross, live), seeds.value[r])
    return _Stepped(out, merge_live(live, out.spent, name_new(out.new, prepared.text)))


def _frames(stepped: _Stepped, prepared: Any) -> Framed:
    framed = range_frames(stepped.out, prepared.text)
    framed.burned = stepped.out.burned
    return framed


def _info(framed: Framed) -> _Packed:
    return _Packed((framed.transfers_fit, framed.events_fit, framed.burned))


def _mints_in_window(prepared: Any, terms: pd.DataFrame) -> pd.DataFrame:
    return mints_in_window(prepared.mints, terms)


def _summary(p: Any) -> _Packed:
    heights = {c[0] for c in p.etchings}
    return _Packed((p.etchings, {h: t for h, t in p.text.times.items() if h in heights}))


def _live_fits(live: pd.DataFrame) -> bool:
    return all(a <= 2**63 - 1 for bal in live["balances"] for _, a in bal)


@paused_gc
def _merge(table: str, by: list[str], repr_: str, *parts: Framed) -> pd.DataFrame:
    """One range's ``transfers`` or ``events`` from its rune partitions' frames."""
    return merge_parts([getattr(p, table) for p in parts], by, repr_)


@paused_gc
def _balances_part(live: pd.DataFrame, repr_: str) -> pd.DataFrame:
    """One rune partition's ``balances``: a row per outpoint and rune it holds, as columns."""
    held = live["balances"].tolist()
    flat = list(itertools.chain.from_iterable(held))  # ((block, tx), amount) pairs
    n = len(flat)
    at = np.repeat(np.arange(len(held)), np.fromiter(map(len, held), np.int64, len(held)))
    h, t, v = (live[c].to_numpy(np.int64)[at] for c in ("height", "tx_index", "vout"))
    txid, address = (live[c].to_numpy(object)[at] for c in ("txid", "address"))
    b = np.fromiter((rid[0] for rid, _ in flat), np.int64, n)
    x = np.fromiter((rid[1] for rid, _ in flat), np.int64, n)
    amounts: Any = [amount for _, amount in flat]
    if repr_ == "int64":  # (every balance fits: _live_fits)
        amounts = np.array(amounts, dtype=np.int64)
    return balances_columns(h, t, v, txid, b, x, amounts, address, repr_)

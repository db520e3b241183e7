"""``runes.follow``: the ledger of a node's chain kept current as blocks arrive, with whale alerts.

:class:`Follow` polls a :class:`~.sources.Source` (a data directory or REST), and indexes
the blocks it has not indexed yet with :func:`~mesh_magics.runes.ledger.index_chain`,
continuing from its last :class:`~mesh_magics.runes.ledger.LedgerState`. Each poll that
changed something is a :class:`Batch`: the blocks added and removed, the new blocks'
ledger ``events`` and ``transfers`` (pandas, the ledger's columns) and ``alerts``
(:mod:`.alerts`). Iterate (``for batch in follow``), give ``on_batch=`` and call
:meth:`Follow.run`, or :meth:`Follow.start` it in a background thread.

Reorgs. What the follow indexed is compared with the blocks the source holds at every
poll (not only with what the poll reports, so an interrupted batch is picked up again):
where a held hash differs, the rows of the blocks from there on are retracted
(:attr:`Batch.removed`, :attr:`Batch.retracted`) and the blocks re-indexed from the newest
kept ledger state below the fork (:mod:`.window`). The last ``depth`` blocks are
indexed one ``index_chain`` call each, so that such a state exists for each of them;
a longer catch-up indexes the blocks below them in one call first. A reorg deeper than
``depth`` is the source's :class:`~mesh_magics.errors.ChainError`.

Memory. The follow keeps ``depth + 1`` ledger states, ``depth`` blocks of rows, the
source's last ``depth`` blocks and the newest ``max_alerts`` alerts
(:attr:`Follow.recent`); the rows of older blocks went out in their batches. The rune
table and balances of the whole ledger are :attr:`Follow.result` (the last call's).

Failures. The source is checked when the follow is made (reachable, of this network). A
poll of the source that fails later (the node restarting, a network hiccup) is retried at
the next interval, ``max_failures`` times in a row at most (:attr:`Follow.warning` says
why meanwhile); a ledger error ends the follow.

Stopping. :meth:`Follow.stop` (from any thread) ends the loop at its next wait;
KeyboardInterrupt (Ctrl-C) in a blocking loop ends it cleanly after the last whole batch
(``status`` ``stopped``). Errors are the tree's (``ChainError`` from the source,
``LedgerError`` from the ledger), their message led by the source and the blocks.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ...chain.format.address import network as chain_network
from ...errors import LedgerError, MeshError, named
from ..ledger import LedgerResult, LedgerState, index_chain
from ..ledger.rules import first_rune_height
from .alerts import AlertRules, btc_alerts, display_rows, empty_alerts, merge, rune_alerts
from .sources import Source, open_source
from .window import BlockRows, Checkpoint, Window

__all__ = ["DEFAULT_RULES", "Batch", "Follow", "follow"]

#: the default alert rules: sends of 1 % of a rune's supply, transactions of 100 BTC
DEFAULT_RULES = AlertRules()
#: batches of at most this many blocks are read once and kept on the mesh while indexed
_PERSIST_BLOCKS = 64


@dataclass
class Batch:
    """What one poll changed (see the module doc)."""

    added: list[tuple[int, str | None]]
    removed: list[tuple[int, str | None]]
    events: pd.DataFrame
    transfers: pd.DataFrame
    alerts: pd.DataFrame
    retracted: pd.DataFrame
    tip: int
    height: int | None

    @property
    def reorg(self) -> bool:
        return bool(self.removed)

    def __repr__(self) -> str:
        span = f"{self.added[0][0]}..{self.added[-1][0]}" if self.added else "none"
        gone = f", {len(self.removed)} removed from {self.removed[0][0]}" if self.removed else ""
        return (f"<Batch blocks {span}{gone}: {len(self.events)} events, {len(self.transfers)} transfers, "
                f"{len(self.alerts)} alerts>")  # fmt: skip


@dataclass
class _Pending:
    events: list[pd.DataFrame] = field(default_factory=list)
    transfers: list[pd.DataFrame] = field(default_factory=list)
    alerts: list[pd.DataFrame] = field(default_factory=list)


def _concat(parts: list[pd.DataFrame], empty: pd.DataFrame) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        return empty
    out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
    if "amount" in out and any(str(p["amount"].dtype) == "object" for p in parts):
        out["amount"] = pd.Series([int(a) for a in out["amount"]], dtype=object)  # exact everywhere
    return out


def _context(e: MeshError, where: str) -> MeshError:
    """The same kind of error, its message led by ``where``."""
    try:
        out = type(e)(f"{where}: {e}")
    except Exception:
        return e
    out.__cause__ = e
    return out


class Follow:
    """A followed ledger (see the module doc); made by :func:`follow`."""

    def __init__(self, source: Any, network: str = "mainnet", *, state: LedgerState | LedgerResult | None = None,
                 start: int | None = None, alerts: Any = DEFAULT_RULES, interval: float = 1.0, depth: int = 6,
                 client: Any = None, on_batch: Callable[[Batch], Any] | None = None, max_alerts: int = 1000,
                 rune_partitions: int | None = None, timeout: float = 10.0, max_failures: int = 5) -> None:  # fmt: skip
        self.network = chain_network(network).name
        self.rules = AlertRules.of(alerts)
        if not _positive(interval):
            raise LedgerError(named("{interval} must be a positive number of seconds, not {v!r}", v=interval))
        if not (_positive(depth) and float(depth).is_integer()):
            raise LedgerError(named("{depth} must be a whole number of blocks >= 1, not {v!r}", v=depth))
        if isinstance(state, LedgerResult):
            state = state.state
        if state is not None and not isinstance(state, LedgerState):
            raise LedgerError(f"state: give an index_chain result or its .state, not {type(state).__name__}")
        if state is not None and state.network != self.network:
            raise LedgerError(f"the state is of {state.network}, not {self.network}")
        if state is not None:
            nxt = state.next_height
            if nxt is None:
                raise LedgerError(
                    "the state has indexed no block: follow without state= (and start=) instead"
                )
            if start is not None and start != nxt:
                raise LedgerError(
                    named(
                        "the state ends before block {n}: follow from there, not from {start}={v}",
                        n=nxt,
                        v=start,
                    )
                )
            start = nxt
        elif start is None:
            start = first_rune_height(self.network)
        self.first = start
        self.interval, self.depth, self.on_batch = float(interval), depth, on_batch
        self.rune_partitions = rune_partitions
        self.client = _client(client)
        self.source: Source = open_source(source, self.network, start=start, depth=depth, timeout=timeout)
        self.window = Window(depth, [Checkpoint(start, state)])
        self.recent: deque[dict[str, Any]] = deque(maxlen=max_alerts)
        self.result: LedgerResult | None = None
        self.height: int | None = None if state is None else start - 1
        self.tip = -1
        self.blocks = self.reorgs = self.n_alerts = self.n_retracted = 0
        self.status = "ready"
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._polls = 0
        self.max_failures, self._failures = max_failures, 0
        self.warning = ""

    def __repr__(self) -> str:
        at = "nothing indexed" if self.height is None else f"at block {self.height}"
        error = f", {type(self.error).__name__}: {self.error}" if self.error is not None else ""
        return (f"<Follow {self.source.name} ({self.network}): {self.status}, {at}, tip {self.tip}, "
                f"{self.n_alerts} alerts{error}>")  # fmt: skip

    # -- one poll ------------------------------------------------------------------------
    def poll(self) -> Batch | None:
        """Poll the source once and index what it brought; None when nothing changed."""
        self._polls += 1
        try:
            up = self.source.poll()
        except MeshError as e:
            error = _context(e, f"following {self.source.name}")
            self._failures += 1
            if self._polls == 1 or self._failures > self.max_failures:
                raise error from e.__cause__
            self.warning = f"poll {self._failures} of {self.max_failures + 1} failed, trying again: {error}"
            return None
        self._failures, self.warning = 0, ""
        self.tip = max(self.tip, up.tip) if not up.removed else up.tip
        held = self.source.held()
        ours = self.window.hashes()
        changed = sorted(h for h, x in ours.items() if held.get(h) != x)
        removed: list[tuple[int, str | None]] = []
        retracted = [empty_alerts()]
        base = self.window.checkpoints[-1]
        if changed:  # a reorg: back to a state below the first changed block
            fork = changed[0]
            base, gone = self.window.rewind(fork)
            removed = [(h, r.hash) for h, r in sorted(gone.items()) if h >= fork]
            retracted = [r.alerts for h, r in sorted(gone.items()) if h >= fork]
            self.reorgs += 1
            self._retract(fork)
            self.height = base.next_height - 1 if base.state is not None else None
        lo = base.next_height
        hi = max(held) if held else lo - 1
        if hi < lo and not removed:
            return None
        pending, state = _Pending(), base.state
        first_new = removed[0][0] if removed else lo
        for a, b in self._pieces(lo, hi):
            state = self._index(a, b, state, held, keep=range(first_new, hi + 1), out=pending)
        self.source.seal(self.window.prune(hi) if hi >= lo else lo)
        added = [(h, held.get(h)) for h in range(first_new, hi + 1)]
        alerts = _concat(pending.alerts, empty_alerts())
        self.recent.extend(display_rows(alerts)[::-1])
        self.n_alerts += len(alerts)
        return Batch(added, removed, _concat(pending.events, _empty("events")),
                     _concat(pending.transfers, _empty("transfers")), alerts,
                     _concat(retracted, empty_alerts()), self.tip, self.height)  # fmt: skip

    def _pieces(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """One call for the blocks below the last ``depth``, then one per block."""
        if hi < lo:
            return []
        split = max(lo, hi - self.depth + 1)
        return ([(lo, split - 1)] if split > lo else []) + [(h, h) for h in range(split, hi + 1)]

    def _index(self, a: int, b: int, state: Any, held: dict[int, str], *, keep: range, out: _Pending) -> Any:
        where = (
            f"following {self.source.name}: blocks {a}..{b}"
            if a != b
            else f"following {self.source.name}: block {a}"
        )
        try:
            tables = self.source.tables(a, b)
            if b - a < _PERSIST_BLOCKS and hasattr(tables, "persist"):
                tables = tables.persist()
            result = index_chain(tables, self.network, start=None if state is not None else a, state=state,
                                 client=self.client, rune_partitions=self.rune_partitions)  # fmt: skip
            events, transfers = self.client.compute([result.events, result.transfers], sync=True)
            hashes = {h: held.get(h) for h in range(a, b + 1)}
            alerts = merge(rune_alerts(transfers, result.runes, self.rules, hashes),
                           btc_alerts(tables, self.rules, hashes))  # fmt: skip
        except MeshError as e:
            raise _context(e, where) from e.__cause__
        rows = {}
        for h in range(max(a, b - self.depth + 1), b + 1):
            pick = [t[t["block_height"] == h].reset_index(drop=True) for t in (events, transfers, alerts)]
            rows[h] = BlockRows(held.get(h), *pick)
        self.window.push(Checkpoint(b + 1, result.state), rows)
        mine = [t[t["block_height"] >= keep.start] for t in (events, transfers, alerts)]
        out.events.append(mine[0])
        out.transfers.append(mine[1])
        out.alerts.append(mine[2])
        self.result, self.height = result, b
        self.blocks += b - a + 1
        return result.state

    def _retract(self, fork: int) -> None:
        kept = [r for r in self.recent if r["block"] < fork]
        self.n_retracted += len(self.recent) - len(kept)
        self.n_alerts -= len(self.recent) - len(kept)
        self.recent.clear()
        self.recent.extend(kept)

    # -- loops ---------------------------------------------------------------------------
    def batches(self, polls: int | None = None) -> Iterator[Batch]:
        """Poll every ``interval`` seconds (``polls`` times, or until :meth:`stop`), yielding each batch."""
        self.status = "following"
        done = 0
        try:
            while not self._stop.is_set() and (polls is None or done < polls):
                done += 1
                batch = self.poll()
                if batch is not None:
                    yield batch
                elif polls is None or done < polls:
                    self._stop.wait(self.interval)
        except KeyboardInterrupt:
            self.status = "stopped"
            return
        except BaseException as e:
            self.status, self.error = "failed", e
            raise
        finally:
            if self.status == "following":
                self.status = "stopped" if self._stop.is_set() else "ready"

    def __iter__(self) -> Iterator[Batch]:
        return self.batches()

    def run(self, polls: int | None = None) -> None:
        """Follow in this thread, calling ``on_batch`` with each batch."""
        for batch in self.batches(polls):
            if self.on_batch is not None:
                try:
                    self.on_batch(batch)
                except BaseException as e:
                    self.status, self.error = "failed", e
                    raise

    def start(self, on_end: Callable[[Follow], Any] | None = None) -> Follow:
        """Follow in a daemon thread; :attr:`status`, :attr:`error` and :meth:`join` tell how it
        ends, and ``on_end(follow)`` is called then (in that thread)."""
        if self._thread is not None and self._thread.is_alive():
            raise LedgerError("this follow is already running: stop() it first")
        self._stop.clear()
        self.status = "following"

        def loop() -> None:
            try:
                self.run()
            except BaseException:
                pass  # status and error are set by batches()
            finally:
                if on_end is not None:
                    on_end(self)

        self._thread = threading.Thread(target=loop, daemon=True, name=f"mesh-follow {self.source.name}")
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 30.0) -> None:
        """End the loop at its next wait (a batch being indexed finishes first)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        if self.status in ("following", "ready"):
            self.status = "stopped"

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the background loop to end; whether it has."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def wait_for(self, predicate: Callable[[Follow], bool], timeout: float = 60.0) -> bool:
        """Wait (polling this object, not the node) until ``predicate(self)`` or the loop ended."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            if self.status in ("failed", "stopped"):
                return predicate(self)
            time.sleep(0.05)
        return predicate(self)

    def recent_alerts(self) -> pd.DataFrame:
        """The newest alerts (at most ``max_alerts``), as the table widget shows them, newest first."""
        return pd.DataFrame(list(self.recent)[::-1], columns=["kind", "block", "rune", "amount", "share", "txid",
                                                              "sender", "receiver"])  # fmt: skip


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _empty(table: str) -> pd.DataFrame:
    from ..ledger.tables import events_frame, transfers_frame

    return events_frame([], {}) if table == "events" else transfers_frame([], {})


def _client(client: Any) -> Any:
    if client is not None:
        return client
    try:
        from distributed import get_client

        return get_client()
    except ValueError:
        raise LedgerError(
            "runes.follow indexes on a Dask cluster: start a distributed Client (or a mesh) first, or pass client="
        ) from None


def follow(source: Any, network: str = "mainnet", *, state: LedgerState | LedgerResult | None = None,
           start: int | None = None, alerts: Any = DEFAULT_RULES, interval: float = 1.0, depth: int = 6,
           client: Any = None, on_batch: Callable[[Batch], Any] | None = None, max_alerts: int = 1000,
           rune_partitions: int | None = None, timeout: float = 10.0, max_failures: int = 5) -> Follow:  # fmt: skip
    """Follow ``source`` (a data directory, a REST URL, or a follower) and index its new blocks.

    ``state``: an :func:`~mesh_magics.runes.index_chain` result (or its ``.state``) to
    continue from; without it the ledger starts at ``start`` (default: the network's first
    rune block; on mainnet index the history with ``index_chain`` first and follow from its
    state). ``alerts``: :class:`~.alerts.AlertRules` (or a dict of its fields; None: none).
    ``interval``: seconds between polls. ``depth``: how many of the newest blocks stay
    rewritable by a reorg. ``max_failures``: failed polls of the source in a row that are
    retried. Returns a :class:`Follow`: the source is checked at once (a REST node reachable
    and on ``network``, a data directory of ``network``), blocks are read when it is
    iterated, run or started; see the module doc.
    """
    return Follow(source, network, state=state, start=start, alerts=alerts, interval=interval, depth=depth,
                  client=client, on_batch=on_batch, max_alerts=max_alerts, rune_partitions=rune_partitions,
                  timeout=timeout, max_failures=max_failures)  # fmt: skip

"""Following a running node's tip over its REST interface (``bitcoind -rest=1``), reorgs included.

:class:`RestFollower` polls ``/rest/chaininfo.json`` for the tip, fetches each new block
with ``/rest/blockhashbyheight/<h>.bin`` (the hash, internal byte order) and
``/rest/block/<hash>.bin``, and its spent coins with ``/rest/spenttxouts/<hash>.bin``
(Core >= 30; :func:`~mesh_magics.chain.format.undo.parse_spent_txouts`). Older nodes
answer 404 there: prevouts then come from the outputs of blocks this follower read
earlier, and stay null for older coins. ``prev_height`` / ``prev_is_coinbase`` are not
in the REST answer either: known for coins created in blocks read here, null otherwise.

The last ``reorg_depth`` blocks stay rewritable: each poll checks that the node still
has the follower's newest blocks; if not, the blocks above the fork are removed
(:attr:`Update.removed`) and the node's new branch read. A reorg deeper than that is a
:class:`~mesh_magics.errors.ChainError` (read the range again with ``chain.read``).
Blocks deeper than ``reorg_depth`` are *sealed*: :meth:`RestFollower.take_sealed` hands
their tables over (to append to Parquet) and forgets them.

REST is unauthenticated and meant for a trusted network; Core's docs warn that hundreds
of parallel requests can exhaust its file descriptors, so this asks one thing at a time.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ...errors import ChainError
from .. import columnar
from ..format.address import Network, address, network
from ..format.undo import parse_spent_txouts
from ..tables import TABLES, meta

__all__ = ["RestFollower", "Update"]


@dataclass
class Update:
    """What one poll changed: blocks added and removed as (height, hash), and the node's tip."""

    added: list[tuple[int, str]] = field(default_factory=list)
    removed: list[tuple[int, str]] = field(default_factory=list)
    tip: int = -1


@dataclass
class _Block:
    height: int
    hash: str
    frames: dict[str, pd.DataFrame]
    consumed: list[tuple[tuple[str, int], tuple[int, bool, int, bytes]]] = field(default_factory=list)


class RestFollower:
    """A node's chain from ``start`` on, kept current by :meth:`poll` / :meth:`follow` (see the module doc)."""

    def __init__(self, url: str, network_name: str | Network = "mainnet", *, start: int | None = None,
                 reorg_depth: int = 6, timeout: float = 10.0, spent: str = "auto") -> None:  # fmt: skip
        if spent not in ("auto", "rest", "none"):
            raise ChainError(f"spent must be 'auto', 'rest' or 'none', not {spent!r}")
        self.url = url.rstrip("/")
        self.net = network(network_name)
        self.start = start
        self.reorg_depth = reorg_depth
        self.timeout = timeout
        self._spent = spent
        self.blocks: list[_Block] = []
        self._created: dict[tuple[str, int], tuple[int, bool, int, bytes]] = {}

    # -- HTTP ---------------------------------------------------------------------------
    def get(self, path: str) -> bytes | None:
        """The body of ``GET path``; None on 404."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=self.timeout) as r:
                return bytes(r.read())
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise ChainError(
                f"{self.url}{path}: HTTP {e.code} {e.reason} (is the node started with -rest=1?)"
            ) from None
        except (urllib.error.URLError, OSError) as e:
            raise ChainError(f"cannot reach the node's REST interface at {self.url}: {e}") from None

    def tip(self) -> int:
        body = self.get("/rest/chaininfo.json")
        if body is None:
            raise ChainError(f"{self.url}/rest/chaininfo.json: 404: start the node with -rest=1")
        return int(json.loads(body)["blocks"])

    def _hash_at(self, height: int) -> str | None:
        raw = self.get(f"/rest/blockhashbyheight/{height}.bin")
        if raw is None:
            return None
        if len(raw) != 32:
            raise ChainError(
                f"/rest/blockhashbyheight/{height}.bin gave {len(raw)} bytes, not a 32-byte hash"
            )
        return raw[::-1].hex()

    # -- reading ------------------------------------------------------------------------
    def _read_block(self, height: int, hash_hex: str) -> _Block:
        raw = self.get(f"/rest/block/{hash_hex}.bin")
        if raw is None:
            raise ChainError(
                f"the node no longer has block {height} ({hash_hex}): a reorg while reading? poll again"
            )
        buf = np.frombuffer(raw, dtype=np.uint8).copy()
        span = columnar.Span(
            height, 0, len(raw), f"/rest/block/{hash_hex}.bin", 0, bytes.fromhex(hash_hex)[::-1]
        )
        frames = columnar.frames(columnar.build(buf, [span], self.net).tables)
        spent = None
        if self._spent != "none":
            body = self.get(f"/rest/spenttxouts/{hash_hex}.bin")
            if body is None and self._spent == "rest":
                raise ChainError(f"{self.url} has no /rest/spenttxouts (Core < 30): pass spent='auto'")
            if body is None:
                self._spent = "none"  # an older node: resolve from blocks read here
            else:
                spent = parse_spent_txouts(body)
        block = _Block(height, hash_hex, frames)
        block.frames = self._prevouts(block, spent)
        return block

    def _prevouts(
        self, block: _Block, spent: list[list[tuple[int, bytes]]] | None
    ) -> dict[str, pd.DataFrame]:
        """Fill prevout columns from the REST answer, else from outputs created in blocks read here."""
        f = block.frames
        ins, txs = f["inputs"].copy(), f["txs"].copy()
        coinbase = ins["prev_txid"].eq("0" * 64).to_numpy(dtype=bool) & ins["prev_vout"].eq(
            0xFFFFFFFF
        ).to_numpy(dtype=bool)
        flat = [c for per_tx in spent[1:] for c in per_tx] if spent is not None else None
        if flat is not None and (len(spent or []) != len(txs) or len(flat) != int((~coinbase).sum())):
            raise ChainError(
                f"/rest/spenttxouts of block {int(txs['height'].iloc[0])} does not line up with its transactions"
            )
        cols: dict[str, list[Any]] = {
            c: [] for c in ("prev_value", "prev_script", "prev_height", "prev_is_coinbase")
        }
        out = f["outputs"]
        height = int(txs["height"].iloc[0])
        made: dict[int, list[tuple[int, int, bytes, str]]] = {}
        for t, v, value, script, kind in zip(out["tx_index"].tolist(), out["vout"].tolist(), out["value"].tolist(),
                                             out["script"].tolist(), out["script_type"].tolist()):  # fmt: skip
            made.setdefault(t, []).append((v, value, script, kind))
        txid_of = dict(zip(txs["tx_index"].tolist(), txs["txid"].tolist()))
        cb_of = dict(zip(txs["tx_index"].tolist(), txs["is_coinbase"].tolist()))
        k = 0
        rows = zip(
            ins["tx_index"].tolist(), ins["prev_txid"].tolist(), ins["prev_vout"].tolist(), coinbase.tolist()
        )
        done = -1
        for t, txid, vout, cb in rows:
            while done < t - 1:  # outputs of the transactions before this one are spendable now
                done += 1
                self._made(made.get(done, ()), txid_of[done], height, bool(cb_of[done]))
            known = self._created.pop((txid, vout), None) if not cb else None
            if known is not None:
                block.consumed.append(((txid, vout), known))
            coin: tuple[Any, ...]
            if cb:
                coin = (None, None, None, None)
            elif flat is not None:
                value, script = flat[k]
                coin = (value, script, known[0], known[1]) if known else (value, script, None, None)
            else:
                coin = (known[2], known[3], known[0], known[1]) if known else (None, None, None, None)
            k += 0 if cb else 1
            for col, v in zip(cols, coin):
                cols[col].append(v)
        for t in range(done + 1, len(txs)):
            self._made(made.get(t, ()), txid_of[t], height, bool(cb_of[t]))
        for col, values in cols.items():
            ins[col] = pd.Series(values, index=ins.index, dtype=ins[col].dtype)
        ins["prev_address"] = pd.Series(
            [address(s, self.net) if s is not None else None for s in cols["prev_script"]],
            index=ins.index,
            dtype=ins["prev_address"].dtype,
        )
        per_tx = ins.assign(_v=ins["prev_value"].fillna(0), _k=ins["prev_value"].notna().astype("int64"))
        sums = (
            per_tx.groupby("tx_index", sort=True)[["_v", "_k"]]
            .sum()
            .reindex(txs["tx_index"].tolist(), fill_value=0)
        )
        ok = (sums["_k"].to_numpy() == txs["n_in"].to_numpy()) & ~txs["is_coinbase"].to_numpy(dtype=bool)
        txs["input_value"] = pd.Series(
            np.where(ok, sums["_v"].to_numpy(dtype=np.int64), 0),
            index=txs.index,
            dtype=txs["input_value"].dtype,
        ).where(ok)
        txs["fee"] = txs["input_value"] - txs["output_value"]
        return {**f, "inputs": ins, "txs": txs}

    def _made(self, outputs: Any, txid: str, height: int, coinbase: bool) -> None:
        for v, value, script, kind in outputs:
            if kind != "nulldata":
                self._created[(txid, v)] = (height, coinbase, value, script)

    # -- following ----------------------------------------------------------------------
    def poll(self) -> Update:
        """Read what the node added since the last poll (after undoing what it reorganised away)."""
        up = Update(tip=self.tip())
        while self.blocks:
            last = self.blocks[-1]
            if self._hash_at(last.height) == last.hash:
                break
            if len(up.removed) >= self.reorg_depth:
                raise ChainError(
                    f"a reorg deeper than reorg_depth={self.reorg_depth} blocks below height {last.height}: "
                    "read that range again with chain.read, or follow with a larger reorg_depth"
                )
            self.blocks.pop()
            self._forget(last)
            up.removed.append((last.height, last.hash))
        height = (
            self.blocks[-1].height + 1 if self.blocks else (self.start if self.start is not None else up.tip)
        )
        while height <= up.tip:
            h = self._hash_at(height)
            if h is None:  # the tip moved back meanwhile
                break
            block = self._read_block(height, h)
            self.blocks.append(block)
            up.added.append((height, h))
            height += 1
        return up

    def _forget(self, block: _Block) -> None:
        """Undo a removed block's effect on the outputs known here: its outputs go, what it spent comes back."""
        gone = set(block.frames["txs"]["txid"].tolist())
        self._created = {k: v for k, v in self._created.items() if k[0] not in gone}
        self._created.update(dict(block.consumed))

    def follow(self, *, interval: float = 1.0, max_interval: float = 60.0, polls: int | None = None,
               stop: Callable[[], bool] | None = None, sleep: Callable[[float], None] = time.sleep,
               max_failures: int = 5) -> Iterator[Update]:  # fmt: skip
        """Poll for ever (or ``polls`` times, or until ``stop()``), yielding each update that changed something.

        The wait doubles after every poll without news (up to ``max_interval``) and after
        a failed request; ``max_failures`` failures in a row end it with the last error.
        """
        wait, failures, done = interval, 0, 0
        while (polls is None or done < polls) and not (stop and stop()):
            done += 1
            try:
                up = self.poll()
                failures = 0
            except ChainError:
                failures += 1
                if failures >= max_failures:
                    raise
                sleep(wait)
                wait = min(wait * 2, max_interval)
                continue
            if up.added or up.removed:
                wait = interval
                yield up
            else:
                sleep(wait)
                wait = min(wait * 2, max_interval)

    # -- tables -------------------------------------------------------------------------
    def tables(self) -> dict[str, pd.DataFrame]:
        """The five tables (pandas) of every block held, in height order."""
        out = {}
        for name in TABLES:
            parts = [b.frames[name] for b in self.blocks if name in b.frames]
            out[name] = pd.concat(parts, ignore_index=True) if parts else meta(name)
        return out

    def take_sealed(self) -> dict[str, pd.DataFrame]:
        """The tables of the blocks deeper than ``reorg_depth``, no longer held here."""
        keep = max(len(self.blocks) - self.reorg_depth, 0)
        sealed, self.blocks = self.blocks[:keep], self.blocks[keep:]
        out = {}
        for name in TABLES:
            parts = [b.frames[name] for b in sealed if name in b.frames]
            out[name] = pd.concat(parts, ignore_index=True) if parts else meta(name)
        return out

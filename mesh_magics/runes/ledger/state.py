"""Where a mesh ledger stopped: :class:`LedgerState`, in memory or saved to a directory.

The state is what the next call of :func:`~.mesh.index_chain` needs and nothing more: the
rune entries (with their mint and burn counts) and names, the first block not indexed
yet, and per rune partition the live rune-bearing outpoints. The live sets stay on the
cluster as futures; :meth:`LedgerState.save` has each worker write its own partitions
(Parquet, one file per rune partition) and the client write the small part
(``state.json``); :meth:`LedgerState.load` reads them back the same way, so a state never
passes through the client. Amounts are exact (JSON integers, parsed back as Python ints).
The directory must be reachable from the workers under the same path (a local cluster, or
a shared filesystem).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pandas as pd

from ...errors import LedgerError
from ..protocol.runestone import Terms
from .replay import LIVE_COLUMNS
from .rules import RuneEntry

__all__ = ["LedgerState"]

RuneId = tuple[int, int]
_VERSION = 1


@dataclasses.dataclass
class LedgerState:
    """Where a ledger stopped: rune entries and names, and per rune partition the live
    rune-bearing outpoints (futures on the cluster); ``next_height`` is the first block
    not indexed yet."""

    network: str
    next_height: int | None
    entries: dict[RuneId, RuneEntry]
    names: dict[int, RuneId]
    live: list[Any]
    partitions: int

    def copy_entries(self) -> tuple[dict[RuneId, RuneEntry], dict[int, RuneId]]:
        return {k: dataclasses.replace(e) for k, e in self.entries.items()}, dict(self.names)

    def save(self, path: str | Path, client: Any = None) -> Path:
        """Write the state under ``path`` (a directory, created); returns it."""
        from .mesh import _client

        client = _client(client)
        root = Path(path)
        root.mkdir(parents=True, exist_ok=True)
        files = [str(root / f"live-{r:04d}.parquet") for r in range(self.partitions)]
        client.gather([client.submit(_write_live, live, f, pure=False) for live, f in zip(self.live, files)])
        meta = {
            "version": _VERSION,
            "network": self.network,
            "next_height": self.next_height,
            "partitions": self.partitions,
            "entries": [_entry_json(e) for e in self.entries.values()],
        }
        (root / "state.json").write_text(json.dumps(meta))
        return root

    @classmethod
    def load(cls, path: str | Path, client: Any = None) -> LedgerState:
        """The state :meth:`save` wrote under ``path``, its live sets read on the workers."""
        from .mesh import _client

        client = _client(client)
        root = Path(path)
        try:
            meta = json.loads((root / "state.json").read_text())
        except FileNotFoundError:
            raise LedgerError(
                f"no ledger state under {root}: save one with result.state.save(path)"
            ) from None
        if meta.get("version") != _VERSION:
            raise LedgerError(
                f"{root}: a ledger state of format {meta.get('version')}, this reads {_VERSION}"
            )
        entries = {}
        for raw in meta["entries"]:
            e = _entry(raw)
            entries[e.id] = e
        n = int(meta["partitions"])
        workers = sorted(client.nthreads())
        live = [
            client.submit(_read_live, str(root / f"live-{r:04d}.parquet"),
                          workers=[workers[r % len(workers)]] if workers else None,  # none listed: any
                          allow_other_workers=True, pure=False)
            for r in range(n)
        ]  # fmt: skip
        names = {e.rune: e.id for e in entries.values()}
        return cls(meta["network"], meta["next_height"], entries, names, live, n)


def _entry_json(e: RuneEntry) -> dict[str, Any]:
    out = dataclasses.asdict(e)
    out["terms"] = None if e.terms is None else e.terms._asdict()
    return out


def _entry(raw: dict[str, Any]) -> RuneEntry:
    t = raw["terms"]
    terms = None if t is None else Terms(t["amount"], t["cap"], tuple(t["height"]), tuple(t["offset"]))
    return RuneEntry(**{**raw, "terms": terms})


def _write_live(live: pd.DataFrame, path: str) -> int:
    out = live.copy()
    out["balances"] = [json.dumps([[b, x, a] for (b, x), a in bal]) for bal in live["balances"]]
    out.astype({"txid": "string", "address": "string", "balances": "string"}).to_parquet(path)
    return len(out)


def _read_live(path: str) -> pd.DataFrame:
    raw = pd.read_parquet(path)
    data: dict[str, Any] = {c: raw[c].to_numpy() for c in ("height", "tx_index", "vout", "pfx")}
    data["txid"] = pd.Series(raw["txid"].tolist(), dtype=object)
    data["address"] = pd.Series([None if a is pd.NA else a for a in raw["address"].tolist()], dtype=object)
    data["balances"] = pd.Series(
        [tuple(((b, x), a) for b, x, a in json.loads(text)) for text in raw["balances"].tolist()],
        dtype=object,
    )
    return pd.DataFrame(data, columns=LIVE_COLUMNS)

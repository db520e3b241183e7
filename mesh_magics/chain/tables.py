"""The chain tables on the mesh: :class:`ChainTables`, written to Parquet once, reopened with :func:`open`.

A :class:`ChainTables` holds the four tables of :mod:`.schema` (``blocks``, ``txs``,
``outputs``, ``inputs``) and ``bad`` (blocks set aside by ``on_bad="skip"``: height,
hash, file, offset, reason) as dask DataFrames **partitioned alike**: partition *i* of
every table covers the same height range (``heights[i]``), so a transaction's inputs and
outputs are in the same partition number of their tables (the whale queries rely on
it). Readers build them from one task per partition that returns all five frames; dask
shares that task among the tables of one ``compute`` (``dask.compute(t.txs..., t.inputs...)``),
a table computed alone reads its blocks again: write the tables once with
:meth:`ChainTables.to_parquet` (one pass; one file per partition per table,
``<path>/<table>/part-00000.parquet`` and ``<path>/_chain.json``), or keep them in the
mesh's memory with :meth:`ChainTables.persist`.

Frames are pandas with Arrow dtypes, as :func:`~.blocklist.from_blocks` gives; reopened
tables follow dask's ``dataframe.backend`` (cuDF where it is set to ``cudf``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from ..errors import ChainError
from .columnar import BAD
from .schema import SCHEMAS

__all__ = ["FORMAT", "TABLES", "ChainTables", "meta", "open"]

#: the tables of a ChainTables, in the order partitions return them
TABLES = ("blocks", "txs", "outputs", "inputs", "bad")
#: the version of the Parquet layout :meth:`ChainTables.to_parquet` writes
FORMAT = 1
_SCHEMAS = {**SCHEMAS, "bad": BAD}


def meta(name: str) -> pd.DataFrame:
    """The empty pandas frame (Arrow dtypes) of table ``name``."""
    return _SCHEMAS[name].empty_table().to_pandas(types_mapper=pd.ArrowDtype)


def _pick(part: dict[str, Any], name: str) -> Any:
    return part[name]


def _write(path: str, index: int, *frames: Any) -> dict[str, int]:
    import pyarrow.parquet as pq

    counts = {}
    for name, frame in zip(TABLES, frames):
        if not isinstance(frame, pd.DataFrame):  # cuDF
            frame = frame.to_pandas()
        schema = _SCHEMAS[name]
        if any(not f.nullable and frame[f.name].isna().any() for f in schema):  # bitcoin-etl's null weights
            schema = pa.schema([f.with_nullable(True) for f in schema])
        table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
        out = Path(path) / name
        out.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, out / f"part-{index:05d}.parquet")
        counts[name] = table.num_rows
    return counts


@dataclass
class ChainTables:
    """The chain tables of one read (see the module doc)."""

    blocks: Any
    txs: Any
    outputs: Any
    inputs: Any
    bad: Any
    network: str
    heights: list[tuple[int, int]]  # (first, last) height of each partition, inclusive
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_parts(cls, parts: list[Any], network: str, heights: list[tuple[int, int]],
                   notes: list[str] | None = None) -> ChainTables:  # fmt: skip
        """Tables from delayed objects, one per partition, each a dict of the five frames."""
        import dask.dataframe as dd
        from dask import delayed

        frames = {}
        for name in TABLES:
            pieces = [delayed(_pick, pure=True)(p, name) for p in parts]
            frames[name] = dd.from_delayed(
                pieces or [delayed(meta)(name)], meta=meta(name), verify_meta=False
            )
        b, t, o, i, bad = (frames[name] for name in TABLES)
        return cls(b, t, o, i, bad, network, heights, list(notes or []))

    def __getitem__(self, name: str) -> Any:
        if name not in TABLES:
            raise KeyError(name)
        return getattr(self, name)

    @property
    def npartitions(self) -> int:
        return int(self.txs.npartitions)

    def __repr__(self) -> str:
        known = [h for h in self.heights if h[0] >= 0]
        span = f"heights {known[0][0]}..{known[-1][1]}" if known else "heights unknown until read"
        return f"<ChainTables {self.network}: {span} in {len(self.heights)} partitions>"

    def _delayed_parts(self) -> list[Any]:
        lists = [self[name].to_delayed(optimize_graph=False) for name in TABLES]
        if len({len(x) for x in lists}) != 1:
            raise ChainError(
                "the chain tables are not partitioned alike; rebuild them with chain.read or chain.open"
            )
        return [list(group) for group in zip(*lists)]

    def to_parquet(self, path: str | Path, *, overwrite: bool = False) -> ChainTables:
        """Write every table, one file per partition, in one pass; the reopened tables (:func:`open`)."""
        import dask

        root = Path(path)
        if (root / "_chain.json").exists() and not overwrite:
            raise ChainError(
                f"{root} already holds chain tables: pass overwrite=True, or open it with chain.open"
            )
        root.mkdir(parents=True, exist_ok=True)
        for name in TABLES:
            for old in (root / name).glob("part-*.parquet"):
                old.unlink()
        writes = [
            dask.delayed(_write)(str(root), i, *frames) for i, frames in enumerate(self._delayed_parts())
        ]
        counts = dask.compute(*writes)
        info = {
            "format": FORMAT,
            "network": self.network,
            "heights": [list(h) for h in self.heights],
            "rows": {name: sum(c[name] for c in counts) for name in TABLES},
            "notes": self.notes,
        }
        (root / "_chain.json").write_text(json.dumps(info, indent=1))
        return open(root)

    def persist(self) -> ChainTables:
        """The same tables, computed once and kept in the mesh's memory (one read of the blocks)."""
        import dask

        b, t, o, i, bad = dask.persist(*(self[name] for name in TABLES))
        return ChainTables(b, t, o, i, bad, self.network, list(self.heights), list(self.notes))

    def compute(self, **kwargs: Any) -> dict[str, Any]:
        """All five tables as in-memory frames, in one pass (small reads only); ``kwargs`` go to ``dask.compute``."""
        import dask

        return dict(zip(TABLES, dask.compute(*(self[name] for name in TABLES), **kwargs)))


def open(path: str | Path) -> ChainTables:  # noqa: A001  (chain.open, as the issue names it)
    """The chain tables :meth:`ChainTables.to_parquet` wrote at ``path``."""
    import dask.dataframe as dd

    root = Path(path)
    try:
        info = json.loads((root / "_chain.json").read_text())
    except FileNotFoundError:
        raise ChainError(
            f"{root} holds no chain tables (no _chain.json): write them with ChainTables.to_parquet"
        ) from None
    if info.get("format") != FORMAT:
        raise ChainError(
            f"{root} holds chain tables of format {info.get('format')}, this version reads {FORMAT}"
        )
    heights = [(int(a), int(b)) for a, b in info["heights"]]
    frames = {}
    for name in TABLES:
        files = sorted((root / name).glob("part-*.parquet"))
        if len(files) != len(heights):
            raise ChainError(
                f"{root / name} has {len(files)} files for {len(heights)} partitions: write the tables again"
            )
        if not files:
            frames[name] = dd.from_pandas(meta(name), npartitions=1)
            continue
        frames[name] = dd.read_parquet(
            [str(f) for f in files],
            split_row_groups=False,
            aggregate_files=False,
            arrow_to_pandas={"types_mapper": pd.ArrowDtype},
        )
    b, t, o, i, bad = (frames[n] for n in TABLES)
    return ChainTables(b, t, o, i, bad, info["network"], heights, info.get("notes", []))

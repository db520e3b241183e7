"""The chain tables as :func:`~.mesh.index_chain` reads them on the mesh: by height.

Pandas tables are split into dask DataFrames of so many blocks a partition
(:func:`chain_frames_to_dask`). From the ``height`` columns alone come each table's
partition bounds and the height ranges the ledger is indexed in, one per group of
overlapping ``txs`` partitions, checked to leave no block out (:func:`height_ranges`); a
window of ranges then reads the partitions that hold its heights (:func:`load_window`) and
cuts each range's rows from them on the workers (:func:`range_future`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ...errors import LedgerError

__all__ = [
    "TABLES",
    "Bounds",
    "chain_frames_to_dask",
    "height_ranges",
    "load_window",
    "persisted",
    "range_future",
    "table_of",
]

#: the four chain tables (:mod:`mesh_magics.chain.schema`)
TABLES = ("blocks", "txs", "outputs", "inputs")


def chain_frames_to_dask(tables: Any, blocks_per_partition: int = 1000) -> dict[str, Any]:
    """Pandas chain tables as dask DataFrames, partitioned by height ranges of that many blocks."""
    import dask
    import dask.dataframe as dd

    out = {}
    heights = table_of(tables, "blocks")["height"]
    lo, hi = (int(heights.min()), int(heights.max())) if len(heights) else (0, -1)
    edges = list(range(lo, hi + 1, blocks_per_partition)) or [0]
    for name in TABLES:
        df = table_of(tables, name)
        parts = [df[(df["height"] >= a) & (df["height"] < a + blocks_per_partition)] for a in edges]
        with dask.config.set({"dataframe.convert-string": False}):
            out[name] = dd.from_map(_same, [p.reset_index(drop=True) for p in parts], meta=df.iloc[:0],
                                    enforce_metadata=False)  # fmt: skip
    return out


def _same(part: pd.DataFrame) -> pd.DataFrame:
    return part


def table_of(tables: Any, name: str) -> Any:
    """Table ``name`` of ``tables``: a dict, or an object with the tables as attributes."""
    return tables[name] if isinstance(tables, dict) else getattr(tables, name)


def _bounds(heights: pd.Series) -> pd.DataFrame:
    if isinstance(heights, pd.DataFrame):
        heights = heights["height"]
    n = len(heights)
    lo, hi = (int(heights.min()), int(heights.max())) if n else (0, -1)
    return pd.DataFrame({"lo": [lo], "hi": [hi], "n": [n]})


def _select(lo: int, hi: int, *parts: pd.DataFrame) -> pd.DataFrame:
    frames = [p[(p["height"] >= lo) & (p["height"] <= hi)] for p in parts]
    return pd.concat(frames, ignore_index=True) if len(frames) != 1 else frames[0].reset_index(drop=True)


Bounds = dict[str, list[tuple[int, int, int]]]  # table -> (partition, lo, hi) of its non-empty partitions


def height_ranges(
    client: Any, tables: dict[str, Any], start: int, end: int | None
) -> tuple[list[tuple[int, int]], Bounds]:
    """Height ranges (one per group of overlapping txs partitions) and the tables'
    partition bounds, from their ``height`` columns only (nothing else is read here)."""
    meta = pd.DataFrame({"lo": [0], "hi": [0], "n": [0]}).iloc[:0]
    found = []
    for name in TABLES:
        held = persisted(client, tables[name])
        if held is None:
            found.append(client.compute(tables[name]["height"].map_partitions(_bounds, meta=meta)))
        else:  # one task a partition, on the worker that holds it
            found.append(
                client.submit(_concat, *[client.submit(_bounds, f, pure=False) for f in held], pure=False)
            )
    bounds: Bounds = {}
    for name, frame in zip(TABLES, client.gather(found)):
        rows = zip(range(len(frame)), frame["lo"].tolist(), frame["hi"].tolist(), frame["n"].tolist())
        bounds[name] = [(i, lo, hi) for i, lo, hi, count in rows if count]
    merged: list[list[int]] = []
    for lo, hi in sorted((lo, hi) for _, lo, hi in bounds["txs"]):
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    ranges = []
    for lo, hi in merged:
        lo, hi = max(lo, start), hi if end is None else min(hi, end)
        if lo <= hi:
            ranges.append((lo, hi))
    for (_, hi), (lo, _) in zip(ranges, ranges[1:]):
        if lo != hi + 1:
            raise LedgerError(
                f"the chain tables have no block between {hi} and {lo}: give every block in order"
            )
    return ranges, bounds


def _concat(*parts: pd.DataFrame) -> pd.DataFrame:
    return pd.concat(parts, ignore_index=True)


def persisted(client: Any, table: Any) -> list[Any] | None:
    """The futures of a dask DataFrame's partitions, in order, when it is persisted on
    ``client``'s cluster (each of its partitions an alias of a future), else None: then its
    partitions are used as they are, without a task each to pick one out."""
    try:
        keys = table.__dask_keys__()
        graph = table.__dask_graph__()
        held = {f.key: f for f in client.futures_of(table)}
        out = []
        for key in keys:
            node = graph[key]
            deps = list(getattr(node, "dependencies", ()))
            if type(node).__name__ != "Alias" or len(deps) != 1 or deps[0] not in held:
                return None
            out.append(held[deps[0]])
    except Exception:  # not a collection of this shape: read it through its graph
        return None
    return out or None


def load_window(client: Any, tables: dict[str, Any], bounds: Bounds, lo: int, hi: int) -> dict[str, list]:
    """Futures of the partitions of each table that hold heights ``lo..hi`` (read on the workers)."""
    out = {}
    for name in TABLES:
        chosen = [i for i, a, b in bounds[name] if a <= hi and b >= lo]
        held = persisted(client, tables[name])
        parts = (
            [held[i] for i in chosen]
            if held is not None
            else client.compute([tables[name].partitions[i] for i in chosen])
        )
        out[name] = [(f, next((a, b) for j, a, b in bounds[name] if j == i)) for f, i in zip(parts, chosen)]
    return out


def range_future(client: Any, parts: dict, name: str, lo: int, hi: int) -> Any:
    """A future of table ``name``'s rows of heights ``lo..hi``, cut from the window's
    ``parts``; the partition itself where it holds exactly those heights."""
    chosen = [(f, a, b) for f, (a, b) in parts[name] if a <= hi and b >= lo]
    if len(chosen) == 1 and lo <= chosen[0][1] and chosen[0][2] <= hi:
        return chosen[0][0]
    return client.submit(_select, lo, hi, *(f for f, _, _ in chosen), pure=False)

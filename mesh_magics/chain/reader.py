"""Reading chain data into :class:`~.tables.ChainTables`: a node's data directory, or blocks in memory.

:func:`read` plans on the client (:mod:`.source.plan`: the index, a few dozen bytes per
block) and gives each partition to one mesh task, :func:`read_partition`, which reads
its own byte ranges of ``blk``/``rev`` files on the worker (:mod:`.source.files`) and
builds its tables (:mod:`.columnar`). The client never holds block data; the workers
must see the data directory at the same path (one machine, or shared storage).

:func:`read_blocks` is for small inputs held by the client: raw blocks (``bytes``, hex,
``{"height", "block"}``) go through the columnar walker, header-less block lists
(``{"height", "time", "txs"}``) through :func:`~.blocklist.from_blocks`; prevouts are
resolved from the outputs of earlier blocks in the list (there is no undo data).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ..errors import ChainError
from . import columnar
from .format.address import Network, address
from .format.address import network as _network
from .source.files import read_spans
from .source.plan import Partition, Source, make_plan
from .tables import TABLES, ChainTables, meta

__all__ = ["read", "read_blocks", "read_partition", "resolve_prevouts"]


def read_partition(
    source: Source, part: Partition, on_bad: str = "raise", undo: bool = True
) -> dict[str, pd.DataFrame]:
    """The five frames of one partition, read from the files on this worker."""
    buf, spans, ubuf, bad = read_spans(
        source.blocks_dir, source.network, source.key, list(part.refs), undo=undo
    )
    if bad and on_bad == "raise":
        raise bad[0].error()
    built = columnar.build(buf, spans, source.network, ubuf if undo else None, on_bad)
    out = columnar.frames(built.tables)
    out["bad"] = columnar.frames({"bad": columnar.bad_table(bad + built.bad)})["bad"]
    return out


def _warn_without_numba() -> None:
    from .format import jit

    if not jit.HAVE_NUMBA:
        warnings.warn(
            "numba is not installed: the chain tables are read by the same kernels as plain Python, "
            "about 70 times slower; pip install numba (or mesh-magics[chain])",
            stacklevel=3,
        )


def _compute_map(fn: Callable[..., Any], args: list[tuple[Any, ...]]) -> list[Any]:
    """Run ``fn`` over ``args`` on dask's current scheduler (the mesh when a client is up)."""
    import dask

    return list(dask.compute(*[dask.delayed(fn, pure=True)(*a) for a in args]))


def read(datadir: str | Path, network: str | Network | None = None, start: int | None = None,
         end: int | None = None, *, index: bool = True, copy_index: bool = False, tip: str | None = None,
         on_bad: str = "raise", undo: bool = True, partition_blocks: int = 300,
         partition_txs: int = 1_000_000) -> ChainTables:  # fmt: skip
    """The chain tables of heights ``[start, end)`` of a Bitcoin Core data directory's best chain.

    Parameters
    ----------
    datadir
        The node's data directory (``~/.bitcoin``, or its ``regtest/`` etc.), or its
        ``blocks/`` directory. Read a stopped node's directory, or a copy.
    network
        mainnet, testnet3, testnet4, signet or regtest; found from the files when omitted
        (and checked against them when given).
    start, end
        Heights, ``end`` excluded; the whole chain by default.
    index
        Plan from ``blocks/index`` (default), or, ``False``, from the block files alone
        (headers linked by prev hash; undo records matched by their checksums).
    copy_index
        Read a temporary copy of the index: for a running node, which holds its lock.
    tip
        A block hash (display hex) to end the chain at, instead of the most-work tip.
    on_bad
        ``"raise"`` (default): a bad block is a :class:`~mesh_magics.errors.ChainError`
        naming its file, offset and hash. ``"skip"``: it is left out and listed in
        ``.bad`` with its reason.
    undo
        Read undo data (prevout columns); ``False`` leaves them null.
    partition_blocks, partition_txs
        The most blocks, and about the most transactions, of one partition (one task).
    """
    from dask import delayed

    if on_bad not in ("raise", "skip"):
        raise ChainError(f"on_bad must be 'raise' or 'skip', not {on_bad!r}")
    _warn_without_numba()
    plan = make_plan(datadir, network, start=start, end=end, index=index, copy_index=copy_index, tip=tip,
                     partition_blocks=partition_blocks, partition_txs=partition_txs, run=_compute_map)  # fmt: skip
    parts = [delayed(read_partition, pure=True)(plan.source, p, on_bad, undo) for p in plan.partitions]
    heights = [(p.first, p.last) for p in plan.partitions]
    return ChainTables.from_parts(parts, plan.source.network.name, heights, plan.notes)


# -- blocks in memory ---------------------------------------------------------------------


def resolve_prevouts(f: dict[str, pd.DataFrame], net: Network) -> dict[str, pd.DataFrame]:
    """Fill the prevout columns of inputs spending outputs created earlier in the same frames.

    As :func:`~.blocklist.from_blocks` does: an output spent is matched to the latest
    earlier output with its outpoint (OP_RETURN outputs are never spendable), and a
    transaction's ``input_value`` and ``fee`` are known when all its prevouts are.
    """
    ins, outs, txs = f["inputs"], f["outputs"], f["txs"]
    created = outs.merge(txs[["height", "tx_index", "txid", "is_coinbase"]], on=["height", "tx_index"])
    created = created[created["script_type"] != "nulldata"]
    key = pd.DataFrame({
        "prev_txid": created["txid"], "prev_vout": created["vout"], "_h": created["height"],
        "_t": created["tx_index"], "_value": created["value"], "_script": created["script"],
        "_cb": created["is_coinbase"],
    })  # fmt: skip
    spends = ins[["height", "tx_index", "vin", "prev_txid", "prev_vout"]].reset_index()
    m = spends.merge(key, on=["prev_txid", "prev_vout"], how="inner")
    m = m[(m["_h"] < m["height"]) | ((m["_h"] == m["height"]) & (m["_t"] < m["tx_index"]))]
    m = m.sort_values(["index", "_h", "_t"]).drop_duplicates("index", keep="last").set_index("index")
    ins = ins.copy()
    rows = m.index.to_numpy()
    for col, src in (
        ("prev_value", "_value"),
        ("prev_script", "_script"),
        ("prev_height", "_h"),
        ("prev_is_coinbase", "_cb"),
    ):
        ins.loc[rows, col] = m[src].to_numpy()
    ins.loc[rows, "prev_address"] = [address(s, net) for s in m["_script"].tolist()]
    known = ins["prev_value"].notna()
    per_tx = pd.DataFrame({"height": ins["height"], "tx_index": ins["tx_index"], "v": ins["prev_value"].fillna(0),
                           "k": known.astype("int64")}).groupby(["height", "tx_index"], sort=False).sum()  # fmt: skip
    txs = txs.copy()
    joined = txs[["height", "tx_index"]].merge(
        per_tx, left_on=["height", "tx_index"], right_index=True, how="left"
    )
    ok = (joined["k"].fillna(0).to_numpy() == txs["n_in"].to_numpy()) & ~txs["is_coinbase"].to_numpy(
        dtype=bool
    )
    value = joined["v"].fillna(0).to_numpy(dtype=np.int64)
    arrow = pd.arrays.ArrowExtensionArray(pa.array(value, type=pa.int64(), mask=~ok))
    txs["input_value"] = pd.Series(arrow, index=txs.index)
    txs["fee"] = txs["input_value"] - txs["output_value"]
    return {**f, "inputs": ins, "txs": txs}


def _raw(item: Any, index: int, next_height: int) -> tuple[int, bytes] | None:
    if isinstance(item, Mapping) and "txs" in item:
        return None
    raw = item.get("block") if isinstance(item, Mapping) else item
    height = int(item.get("height", next_height)) if isinstance(item, Mapping) else next_height
    if raw is None:
        raise ChainError(
            f"block list entry {index}: expected txs, a block's bytes or hex, or {{'block': ...}}"
        )
    try:
        return height, bytes.fromhex(raw) if isinstance(raw, str) else bytes(raw)
    except ValueError as e:
        raise ChainError(f"block list entry {index}: not hex ({e})") from None


def _walked(items: list[Any], net: Network, on_bad: str) -> tuple[dict[str, pd.DataFrame], list[Any]]:
    raws: list[tuple[int, bytes]] = []
    for i, item in enumerate(items):
        got = _raw(item, i, raws[-1][0] + 1 if raws else 0)
        assert got is not None
        if raws and got[0] != raws[-1][0] + 1:
            raise ChainError(
                f"block list entry {i} has height {got[0]}, expected {raws[-1][0] + 1}: give blocks in order"
            )
        raws.append(got)
    buf = np.frombuffer(b"".join(r for _, r in raws), dtype=np.uint8).copy()
    pos = np.cumsum([0] + [len(r) for _, r in raws])
    spans = [
        columnar.Span(h, int(pos[k]), int(pos[k + 1]), f"block list entry {k}", 0)
        for k, (h, _) in enumerate(raws)
    ]
    built = columnar.build(buf, spans, net, None, on_bad)
    return columnar.frames(built.tables), built.bad


def read_blocks(blocks: Iterable[Any], network: str | Network = "mainnet", *, on_bad: str = "raise",
                partition_blocks: int = 300) -> ChainTables:  # fmt: skip
    """The chain tables of blocks held in memory (see the module doc), partitioned by height range."""
    from dask import delayed

    from .blocklist import from_blocks

    net = _network(network)
    items = list(blocks)
    bad: list[Any] = []
    if items and all(isinstance(i, Mapping) and "txs" in i for i in items):
        ref = from_blocks(items, net)
        frames = {"blocks": ref.blocks, "txs": ref.txs, "outputs": ref.outputs, "inputs": ref.inputs}
    elif any(isinstance(i, Mapping) and "txs" in i for i in items):
        raise ChainError("a block list mixes header-less entries (txs) with raw blocks: give one kind")
    else:
        frames, bad = _walked(items, net, on_bad)
        frames = resolve_prevouts(frames, net)
    frames["bad"] = columnar.frames({"bad": columnar.bad_table(bad)})["bad"]
    heights = frames["blocks"]["height"].to_numpy(dtype=np.int64)
    cuts = [
        (int(heights[i]), int(heights[min(i + partition_blocks, len(heights)) - 1]))
        for i in range(0, len(heights), partition_blocks)
    ]
    parts = []
    for lo, hi in cuts:
        part = {}
        for name in TABLES:
            df = frames[name]
            sel = df[(df["height"] >= lo) & (df["height"] <= hi)] if len(df) else meta(name)
            part[name] = sel.reset_index(drop=True)
        parts.append(delayed(part, traverse=False))
    return ChainTables.from_parts(parts, net.name, cuts)

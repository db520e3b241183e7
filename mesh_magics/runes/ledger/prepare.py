"""The per-range stage of the mesh ledger: everything that needs one height range's tables only.

:func:`prepare_range` runs on a worker over the rows of one height range ``[lo, hi]`` of
the four chain tables (pandas, :mod:`mesh_magics.chain.schema` columns) and returns a
:class:`Prepared` in parts, each read by a later stage:

``core`` (:class:`Core`, to the replay tasks): integer arrays only. Output offsets per
    transaction, which outputs are OP_RETURN, each transaction's first non-OP_RETURN
    output, the **spend map** of the range (for every output spent inside the range, the
    spending transaction and input), and the decoded artifacts (runestones and cenotaphs)
    as flat arrays;
``cross`` (to the probe tasks): the inputs that spend an output created before the range
    (height, 64-bit txid prefix, vout, full txid, spender), matched against the carried
    state's rune-bearing outpoints;
``text`` (to the resolve tasks): txids and output addresses, to name what the replay
    refers to by position;
``etchings``, ``mints`` (to the group-by stage): the etchings that pass the checks local
    to their transaction (minimum name, reserved names, the commitment) and the mint
    attempts.

Decoding: the first ``OP_RETURN OP_13`` output of each transaction is found with Arrow's
kernels over the whole range, and all of them are decoded at once with their
transactions' output counts by the numpy pass of
:func:`~mesh_magics.runes.decode.fastscan.fast_scan`, which also gives the edicts
(exact u128 amounts), pointers and mint ids a ledger needs. Etchings (rare, and the
ledger needs every field) and the shapes the numpy pass leaves go to
:func:`~mesh_magics.runes.protocol.runestone.decipher`, the reference, once per distinct
``(script, n_out)``. The replay reads the artifacts as flat arrays (:class:`Core`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import LedgerError
from ..decode.fastscan import fast_scan
from ..protocol.runestone import Cenotaph, decipher
from .gcpause import paused_gc
from .rules import COMMIT_CONFIRMATIONS, can_etch_name, commitment, is_p2tr, pushes_commitment, reserved_rune

__all__ = ["Core", "Cross", "Prepared", "Text", "hex_prefix64", "prepare_range"]

_LUT = np.zeros(256, np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _LUT[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _LUT[_c] = 10 + _i
_MAGIC = pa.scalar(b"\x6a\x5d", pa.binary())
_OP_RETURN = pa.scalar(b"\x6a", pa.binary())
_I64_MAX = 2**63 - 1


def _arrow(column: Any) -> pa.Array:
    arr = pa.array(column, from_pandas=True)
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def _ints(column: Any, null: int = -1) -> np.ndarray:
    return pc.fill_null(_arrow(column).cast(pa.int64()), null).to_numpy()


def hex_prefix64(txids: pa.Array) -> np.ndarray:
    """The first 8 bytes of each 64-character hex txid as an int64 (vectorised)."""
    arr = txids.cast(pa.large_string()) if txids.type != pa.large_string() else txids
    n = len(arr)
    if n == 0:
        return np.zeros(0, np.int64)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + n + 1]
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)
    if (np.diff(offsets) == 64).all():
        chars = data[offsets[0] : offsets[0] + 64 * n].reshape(n, 64)[:, :16]
    else:
        idx = offsets[:-1, None] + np.arange(16)
        chars = data[np.minimum(idx, len(data) - 1)]
    nib = _LUT[chars]
    return np.ascontiguousarray((nib[:, 0::2] << 4) | nib[:, 1::2]).view(">i8").ravel().astype(np.int64)


@dataclass
class Core:
    """What the replay of a range reads (integer arrays; see the module doc)."""

    lo: int
    hi: int
    out_start: np.ndarray  # int64[n_tx + 1]
    opret: np.ndarray  # bool[n_out]
    first: np.ndarray  # int32[n_tx]: first non-OP_RETURN vout, -1 for none
    spender: np.ndarray  # int32[n_out]: local index of the tx spending it in the range, -1
    spender_vin: np.ndarray  # int32[n_out]
    # the artifacts, flat (cheap to ship); etchings and mints reach the replay as seeds
    art_tx: np.ndarray  # int32[n_art]: local tx of each artifact (ascending)
    art_cenotaph: np.ndarray  # bool[n_art]
    art_pointer: np.ndarray  # int64[n_art]: a runestone's pointer, -1 for none
    edict_start: np.ndarray  # int64[n_art + 1]: artifact k's edicts: rows edict_start[k]:edict_start[k + 1]
    edicts: np.ndarray  # int64[n_edicts, 4]: block, tx, amount, output (amount -1: in edict_big)
    edict_big: dict[int, int]  # row -> amount, for amounts of 2**63 and more
    block_start: np.ndarray  # int64[n_blocks + 1]: local index of each block's first tx (heights lo..hi)

    def where(self, t: int) -> str:
        """``block H, transaction I`` of local transaction ``t`` (for error messages)."""
        b = int(np.searchsorted(self.block_start, t, side="right")) - 1
        return f"block {self.lo + b}, transaction {t - int(self.block_start[b])}"


@dataclass
class Cross:
    """Inputs spending outputs created before the range (``prev_height`` -1: unknown)."""

    prev_height: np.ndarray
    prev_pfx: np.ndarray
    prev_vout: np.ndarray
    prev_txid: pa.Array
    tx: np.ndarray  # local spender
    vin: np.ndarray


@dataclass
class Text:
    """Names for positions: per local tx its height, index, txid and txid prefix; per output row its address."""

    height: np.ndarray
    tx_index: np.ndarray
    txid: pa.Array
    pfx: np.ndarray
    address: pa.Array
    times: dict[int, int]


@dataclass
class Prepared:
    core: Core
    cross: Cross
    text: Text
    etchings: list[tuple[Any, ...]]  # (height, tx_index, local tx, rune, status, artifact, txid)
    mints: pd.DataFrame  # tx (local), height, tx_index, block, rune_tx


def _check(txs: pd.DataFrame, outputs: pd.DataFrame, inputs: pd.DataFrame, lo: int) -> tuple[np.ndarray, ...]:
    height, tx_index = _ints(txs["height"]), _ints(txs["tx_index"])
    n_out, n_in = _ints(txs["n_out"]), _ints(txs["n_in"])
    n = len(height)
    dh, dt = np.diff(height), np.diff(tx_index)
    ok = ((dh == 1) & (tx_index[1:] == 0)) | ((dh == 0) & (dt == 1))
    if n and (tx_index[0] != 0 or not ok.all()):
        j = 0 if tx_index[0] != 0 else int(np.flatnonzero(~ok)[0]) + 1
        raise LedgerError(
            f"block {int(height[j])}, transaction {int(tx_index[j])}: the txs table must hold every block and "
            "every transaction of each block, ordered by (height, tx_index); this one is out of order or "
            "follows a gap"
        )
    out_start = np.concatenate([[0], np.cumsum(n_out)])
    in_start = np.concatenate([[0], np.cumsum(n_in)])
    owner_o = np.repeat(np.arange(n), n_out)
    owner_i = np.repeat(np.arange(n), n_in)
    for name, table, owner, start, pos_col in (
        ("outputs", outputs, owner_o, out_start, "vout"),
        ("inputs", inputs, owner_i, in_start, "vin"),
    ):
        if len(table) != start[-1]:
            raise LedgerError(
                f"blocks {lo}..: the txs table counts {int(start[-1])} {name}, the {name} table has {len(table)} "
                "rows for these heights"
            )
        pos = np.arange(len(table)) - start[:-1][owner]
        ok = (_ints(table["height"]) == height[owner]) & (_ints(table["tx_index"]) == tx_index[owner])
        ok &= _ints(table[pos_col]) == pos
        if not ok.all():
            j = owner[int(np.flatnonzero(~ok)[0])]
            raise LedgerError(
                f"block {int(height[j])}, transaction {int(tx_index[j])}: its {name} are not where the txs "
                f"table's counts put them; give the tables ordered by (height, tx_index, {pos_col})"
            )
    return height, tx_index, n_out, out_start, in_start, owner_o, owner_i


@paused_gc
def prepare_range(
    txs: pd.DataFrame,
    outputs: pd.DataFrame,
    inputs: pd.DataFrame,
    blocks: pd.DataFrame,
    lo: int,
    hi: int,
    network: str,
    first_height: int,
) -> Prepared:
    """The :class:`Prepared` of the rows with ``lo <= height <= hi`` (see the module doc)."""
    txs, outputs, inputs = (t[(t["height"] >= lo) & (t["height"] <= hi)] for t in (txs, outputs, inputs))
    height, tx_index, n_out, out_start, in_start, owner_o, owner_i = _check(txs, outputs, inputs, lo)
    n = len(height)
    txid = _arrow(txs["txid"]).cast(pa.large_string())
    pfx = hex_prefix64(txid)
    scripts = _arrow(outputs["script"])
    opret = pc.fill_null(pc.equal(pc.binary_slice(scripts, 0, 1), _OP_RETURN), False).to_numpy(
        zero_copy_only=False
    )
    magic = pc.fill_null(pc.equal(pc.binary_slice(scripts, 0, 2), _MAGIC), False).to_numpy(
        zero_copy_only=False
    )
    rows = np.flatnonzero(~opret)
    first = np.full(n, -1, np.int32)
    t_first, at = np.unique(owner_o[rows], return_index=True)
    first[t_first] = (rows[at] - out_start[t_first]).astype(np.int32)
    # -- artifacts: the first OP_RETURN OP_13 output of each transaction from activation on
    cand = np.flatnonzero(magic)
    art_tx, at = np.unique(owner_o[cand], return_index=True)
    keep = height[art_tx] >= first_height
    art_tx, cand_rows = art_tx[keep], cand[at][keep]
    arts = _artifacts(scripts.take(pa.array(cand_rows)), n_out[art_tx])
    has_mint = arts.mint_block >= 0
    minting = art_tx[has_mint]
    mints = pd.DataFrame({"tx": minting, "height": height[minting], "tx_index": tx_index[minting],
                          "block": arts.mint_block[has_mint], "rune_tx": arts.mint_tx[has_mint]}, dtype="int64")  # fmt: skip
    # -- etchings that pass their transaction's own checks (etchings always take the reference decoder)
    etchings: list[tuple[Any, ...]] = []
    witness: list[pa.Array] | None = None  # the inputs' leaf_script, prev_script, prev_height, when needed
    for k, art in arts.etchings:
        t = int(art_tx[k])
        h, ti = int(height[t]), int(tx_index[t])
        named = art.etching if isinstance(art, Cenotaph) else art.etching.rune  # (etching: not None here)
        if named is None:  # (a cenotaph's etching is always a name)
            etchings.append((h, ti, t, reserved_rune(h, ti), "reserved", art, txid[t].as_py()))
        elif can_etch_name(named, h, network):
            if witness is None:
                witness = [_arrow(inputs[c]) for c in ("leaf_script", "prev_script", "prev_height")]
            status = _commit_status(witness, int(in_start[t]), int(in_start[t + 1]), named, h)
            if status != "no":
                etchings.append((h, ti, t, named, status, art, txid[t].as_py()))
    spender, spender_vin, cross = _spends(txs, inputs, txid, pfx, height, out_start, n_out, owner_i, in_start,
                                          lo, hi, first_height, len(scripts))  # fmt: skip
    block_start = np.searchsorted(height, np.arange(lo, hi + 2))
    core = Core(
        lo, hi, out_start, opret, first, spender, spender_vin, art_tx.astype(np.int32), arts.cenotaph,
        arts.pointer, arts.edict_start, arts.edicts, arts.big, block_start,
    )  # fmt: skip
    times = dict(zip(_ints(blocks["height"]).tolist(), _ints(blocks["time"]).tolist()))
    text = Text(height, tx_index, txid, pfx, _arrow(outputs["address"]), times)
    return Prepared(core, cross, text, etchings, mints)


@dataclass
class _Artifacts:
    cenotaph: np.ndarray
    pointer: np.ndarray
    mint_block: np.ndarray  # -1: no mint (or an id no int64 holds, which no rune can have)
    mint_tx: np.ndarray
    edict_start: np.ndarray
    edicts: np.ndarray
    big: dict[int, int]
    etchings: list[tuple[int, Any]]  # (artifact, decoded) of those with an Etching


def _artifacts(scripts: pa.Array, n_out: np.ndarray) -> _Artifacts:
    """The artifacts of the deciding scripts (binary, one per transaction) and their output counts.

    :func:`~mesh_magics.runes.decode.fastscan.fast_scan` decodes the common shapes
    over all of them at once; etchings and every shape it leaves go to :func:`~mesh_magics.runes.protocol.runestone.decipher` (the reference;
    ``tests/test_ledger_decode.py`` checks both give the same), once per distinct
    ``(script, output count)``.
    """
    n = len(scripts)
    fast = fast_scan(scripts, n_out)
    slow = np.flatnonzero(~fast.done | fast.etching)
    cenotaph = fast.flaw > 0
    pointer = fast.pointer.copy()
    mint_block, mint_tx = fast.mint_block.copy(), fast.mint_tx.copy()
    keep = ~np.isin(fast.edict_owner, slow)
    owner = [fast.edict_owner[keep]]
    cols = [np.stack([fast.edict_block[keep], fast.edict_tx[keep], fast.edict_amount[keep],
                      fast.edict_output[keep]], axis=1)]  # fmt: skip
    # amounts of 2**63 and more: exact Python ints beside the int64 rows (row before the sort -> amount)
    top, hi, lo = fast.edict_amount_top[keep], fast.edict_amount_hi[keep], fast.edict_amount[keep]
    wide = np.flatnonzero((hi > 0) | (top > 0))
    big = {i: (t << 126) | (h << 63) | v
           for i, t, h, v in zip(wide.tolist(), top[wide].tolist(), hi[wide].tolist(), lo[wide].tolist())}  # fmt: skip
    cols[0][wide, 2] = -1
    etchings: list[tuple[int, Any]] = []
    cache: dict[tuple[bytes, int], Any] = {}
    slow_edicts: list[tuple[int, int, int, int]] = []
    slow_owner: list[int] = []
    for k, script, count in zip(slow.tolist(), scripts.take(pa.array(slow, pa.int64())).to_pylist(),
                                n_out[slow].tolist()):  # fmt: skip
        key = (script, count)
        art = cache.get(key)
        if art is None:
            art = decipher([script, *([b""] * (count - 1))])
            assert art is not None  # the script starts with the runestone magic
            cache[key] = art
        if art.mint is None or art.mint[0] > _I64_MAX:
            mint_block[k], mint_tx[k] = -1, 0
        else:
            mint_block[k], mint_tx[k] = art.mint
        if art.etching is not None:
            etchings.append((k, art))
        if isinstance(art, Cenotaph):
            cenotaph[k], pointer[k] = True, -1
            continue
        cenotaph[k] = False
        pointer[k] = -1 if art.pointer is None else art.pointer
        for e in art.edicts:
            if e.block > _I64_MAX:  # names no rune that can exist: the replay skips it anyway
                continue
            if e.amount > _I64_MAX:
                big[len(owner[0]) + len(slow_edicts)] = e.amount
            slow_edicts.append((e.block, e.tx, -1 if e.amount > _I64_MAX else e.amount, e.output))
            slow_owner.append(k)
    if slow_edicts:
        owner.append(np.array(slow_owner, np.int64))
        cols.append(np.array(slow_edicts, np.int64).reshape(-1, 4))
    owner_all = np.concatenate(owner)
    order = np.argsort(owner_all, kind="stable")
    edicts = np.concatenate(cols)[order]
    if big:  # rows before the sort -> rows after
        where = np.empty(len(order), np.int64)
        where[order] = np.arange(len(order))
        big = {int(where[i]): v for i, v in big.items()}
    edict_start = np.searchsorted(owner_all[order], np.arange(n + 1))
    return _Artifacts(cenotaph, pointer, mint_block, mint_tx, edict_start, edicts, big, etchings)


def _commit_status(witness: list[pa.Array], a: int, b: int, rune: int, height: int) -> str:
    """``ok``, ``no`` or ``unknown`` (a matching push whose prevout the tables lack), as
    :meth:`~.reference.Ledger._commits` decides, in input order (``witness``: the inputs'
    leaf_script, prev_script and prev_height; rows ``a:b`` are the transaction's)."""
    wanted = commitment(rune)
    cols = [col.slice(a, b - a).to_pylist() for col in witness]
    for leaf, prev_script, prev_height in zip(*cols):
        if not pushes_commitment(leaf, wanted):
            continue
        if prev_script is None or prev_height is None:
            return "unknown"
        if is_p2tr(prev_script) and height - prev_height + 1 >= COMMIT_CONFIRMATIONS:
            return "ok"
    return "no"


def _spends(
    txs: pd.DataFrame, inputs: pd.DataFrame, txid: pa.Array, pfx: np.ndarray, height: np.ndarray,
    out_start: np.ndarray, n_out: np.ndarray, owner_i: np.ndarray, in_start: np.ndarray, lo: int, hi: int,
    first_height: int, n_outputs: int,
) -> tuple[np.ndarray, np.ndarray, Cross]:  # fmt: skip
    """The range's spend map, and its inputs spending earlier outputs."""
    spender = np.full(n_outputs, -1, np.int32)
    spender_vin = np.full(n_outputs, -1, np.int32)
    coinbase = _arrow(txs["is_coinbase"]).to_numpy(zero_copy_only=False)
    prev_height = _ints(inputs["prev_height"])
    prev_vout = _ints(inputs["prev_vout"])
    vin = (np.arange(len(prev_height)) - in_start[:-1][owner_i]).astype(np.int32)
    live = ~coinbase[owner_i] & (height[owner_i] >= first_height)
    live &= (prev_height >= first_height) | (prev_height < 0)  # no rune exists before activation
    prev_txid = _arrow(inputs["prev_txid"]).cast(pa.large_string())
    inside = (prev_height >= lo) & (prev_height <= hi)
    unknown = prev_height < 0  # looked for in the range too, then among the carried outpoints
    local = np.flatnonzero(live & (inside | unknown))
    matched = np.zeros(len(prev_height), bool)
    if len(local):
        want = prev_txid.take(pa.array(local))
        index = pd.Index(pfx)
        found = index.get_indexer(hex_prefix64(want)) if index.is_unique else _exact_lookup(txid, want)
        ok = found >= 0
        ok[ok] &= pc.equal(want.filter(pa.array(ok)), txid.take(pa.array(found[ok]))).to_numpy(
            zero_copy_only=False
        )
        ok[ok] &= (prev_vout[local[ok]] < n_out[found[ok]]) & (found[ok] < owner_i[local[ok]])
        rows = out_start[found[ok]] + prev_vout[local[ok]]
        spender[rows] = owner_i[local[ok]]
        spender_vin[rows] = vin[local[ok]]
        matched[local[ok]] = True
    far = np.flatnonzero(live & ~inside & ~matched)
    far_txid = prev_txid.take(pa.array(far))
    cross = Cross(prev_height[far], hex_prefix64(far_txid), prev_vout[far], far_txid, owner_i[far].astype(np.int32),
                  vin[far])  # fmt: skip
    return spender, spender_vin, cross


def _exact_lookup(txid: pa.Array, want: pa.Array) -> np.ndarray:
    """Positions of ``want`` in ``txid`` by full string (when two txids of a range share a prefix)."""
    return pc.fill_null(pc.index_in(want, value_set=txid), -1).to_numpy(zero_copy_only=False).astype(np.int64)

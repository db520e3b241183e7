"""The four chain tables of many blocks in one buffer, built column by column.

:func:`build` is what every mesh task runs after reading its byte ranges: the walker
(:mod:`.format.walk`) finds every field, :mod:`.format.hashing` gives txids, block hashes
and merkle roots, :mod:`.format.undocols` the spent coins, :mod:`.format.scripts` the
script types and addresses, and the columns become Arrow arrays without a Python object
per row (hex txids, scripts and addresses are built as Arrow buffers). Each block is
checked: it parses to exactly its record's size, hashes to the hash the plan expects,
its merkle root matches its transactions, its undo record's checksum and shape line up.
A block that fails is a :class:`~mesh_magics.errors.ChainError` naming its height, hash,
file and offset, or, with ``on_bad="skip"``, left out of the tables and listed with its
reason in the ``bad`` table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from ..errors import ChainError
from .format import hashing, scripts
from .format.address import Network
from .format.tx import parse_block
from .format.undocols import UndoColumns, UndoError, undo_columns
from .format.walk import BLK, IN, OUT, TX, Walk, WalkError, hex_reversed, read_le, walk_blocks
from .schema import BLOCKS, INPUTS, OUTPUTS, SCHEMAS, TXS

__all__ = ["BAD", "Bad", "Built", "Span", "bad_table", "build", "empty_tables", "frames"]

#: the table of blocks set aside (``on_bad="skip"``)
BAD = pa.schema(
    [
        pa.field("height", pa.int64()),
        pa.field("hash", pa.string()),
        pa.field("file", pa.string()),
        pa.field("offset", pa.int64()),
        pa.field("reason", pa.string()),
    ]
)
MAX_MONEY = 21_000_000 * 100_000_000
_FIX = {
    "read": "copy the files again from a stopped node",
    "parse": "the block file is damaged here: copy it again from a stopped node",
    "hash": "the index and the block files disagree: copy the data directory from a stopped node",
    "merkle": "the block's bytes are damaged: copy the block file again from a stopped node",
    "undo": "the undo file is damaged or belongs to another block: copy the rev file again from a stopped node",
}


@dataclass
class Span:
    """Where one block of a task's buffer came from, and what the plan expects of it."""

    height: int
    start: int  # the block's bytes in the buffer
    end: int
    file: str  # for messages: "blk00012.dat"
    offset: int  # the block's position in its file
    hash: bytes | None = None  # expected, internal byte order; None: not known
    undo_start: int = -1  # the CBlockUndo in the undo buffer (its checksum follows); -1: no undo record
    undo_end: int = -1
    undo_slot: int = -1  # 32 free bytes of the undo buffer, for the parent's hash (the checksum's prefix)
    undo_file: str = ""
    undo_offset: int = -1


@dataclass
class Bad:
    """A block set aside: where it is and why (``kind`` picks the fix the error suggests)."""

    height: int
    hash: str | None
    file: str
    offset: int
    reason: str
    kind: str = "read"
    index: int = -1  # its position among the spans given to build

    def error(self) -> ChainError:
        what = f"block {self.height}" + (f" ({self.hash})" if self.hash else "")
        return ChainError(
            f"{what} in {self.file} at offset {self.offset}: {self.reason}; {_FIX[self.kind]}, "
            "or pass on_bad='skip' to set such blocks aside"
        )


@dataclass
class Built:
    """The four tables (Arrow) of a task's blocks, and the blocks set aside."""

    tables: dict[str, pa.Table]
    bad: list[Bad] = field(default_factory=list)


def _hex(digests: np.ndarray) -> pa.Array:
    """Display hex (byte-reversed) of (n, 32) digests as an Arrow string array."""
    n = len(digests)
    return _hex_at(np.ascontiguousarray(digests).reshape(-1), np.arange(n, dtype=np.int64) * 32)


def _hex_at(buf: np.ndarray, offsets: np.ndarray) -> pa.Array:
    """Display hex of the 32 bytes at each offset of ``buf``, as an Arrow string array."""
    n = len(offsets)
    chars = hex_reversed(buf, offsets)
    return pa.StringArray.from_buffers(
        n, pa.py_buffer(np.arange(n + 1, dtype=np.int32) * 64), pa.py_buffer(chars)
    )


def _var(
    kind: pa.DataType, offsets: np.ndarray, data: np.ndarray, valid: np.ndarray | None = None
) -> pa.Array:
    n = len(offsets) - 1
    mask = None if valid is None or valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
    nulls = 0 if mask is None else int(n - valid.sum())  # type: ignore[union-attr]
    buffers = [mask, pa.py_buffer(np.ascontiguousarray(offsets, dtype=np.int32)), pa.py_buffer(data)]
    return pa.Array.from_buffers(kind, n, buffers, null_count=nulls)


def _i64(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.ascontiguousarray(values, dtype=np.int64), mask=None if valid is None else ~valid)


def _shown(span: Span) -> str | None:
    return span.hash[::-1].hex() if span.hash else None


def _bad(spans: list[Span], i: int, reason: str, kind: str, *, undo: bool = False) -> Bad:
    s = spans[i]
    file, offset = (s.undo_file, s.undo_offset) if undo and s.undo_file else (s.file, s.offset)
    return Bad(s.height, _shown(s), file, offset, reason, kind, i)


def _walk(buf: np.ndarray, spans: list[Span]) -> tuple[Walk | None, Bad | None]:
    starts = np.array([s.start for s in spans], dtype=np.int64)
    ends = np.array([s.end for s in spans], dtype=np.int64)
    try:
        return walk_blocks(buf, starts, ends), None
    except WalkError as e:
        s = spans[e.block]
        try:  # the reference parser's message says what is wrong, and where
            parse_block(buf[s.start : s.end].tobytes(), check_merkle=False)
            why = e.reason
        except ChainError as ref:
            why = str(ref)
        return None, _bad(
            spans, e.block, f"it does not parse: {why} (byte {e.pos - s.start} of the block)", "parse"
        )


def _hashes(buf: np.ndarray, spans: list[Span], w: Walk) -> tuple[np.ndarray, np.ndarray, Bad | None]:
    """(header hashes, txids, the first block whose hash or merkle root is wrong)."""
    starts = np.array([s.start for s in spans], dtype=np.int64)
    heads = hashing.sha256d_parts(buf, starts, np.full(len(starts), 80))
    for i, s in enumerate(spans):
        if s.hash is not None and bytes(heads[i]) != s.hash:
            return (
                heads,
                heads,
                _bad(spans, i, f"the block here hashes to {bytes(heads[i])[::-1].hex()}", "hash"),
            )
    t = w.txs
    four = np.full(len(t), 4)
    offs = np.stack([t[:, TX.START], t[:, TX.BODY], t[:, TX.END] - 4], axis=1)
    txids = hashing.sha256d_parts(
        buf, offs, np.stack([four, t[:, TX.BODY_END] - t[:, TX.BODY], four], axis=1)
    )
    values = w.values()
    wrong = (values < 0) | (values > MAX_MONEY)
    if wrong.any():  # Core's CheckTransaction: bad-txns-vout-negative / vout-toolarge
        tx = int(w.outputs[int(np.argmax(wrong)), OUT.TX])
        b = int(np.searchsorted(w.blocks[:, BLK.FIRST_TX], tx, side="right")) - 1
        return (
            heads,
            heads,
            _bad(spans, b, "an output value is out of range (negative or above 21M BTC)", "parse"),
        )
    roots = hashing.merkle_roots(txids, w.blocks[:, BLK.FIRST_TX], w.blocks[:, BLK.N_TX])
    stated = buf[starts[:, None] + np.arange(36, 68)]
    for i in np.flatnonzero((roots != stated).any(axis=1)).tolist():
        n = int(w.blocks[i, BLK.N_TX])
        return heads, txids, _bad(spans, i, f"its merkle root does not match its {n} transactions", "merkle")
    return heads, txids, None


def _undo(
    buf: np.ndarray, ubuf: np.ndarray, spans: list[Span], w: Walk
) -> tuple[UndoColumns | None, Bad | None]:
    """The spent coins of every input, after checking each record's checksum and shape.

    ``ubuf`` holds each record's ``CBlockUndo`` followed by its checksum, 32 free bytes per
    block (``undo_slot``), and ends in a spare zero byte, which stands for the empty record
    of a block without undo (genesis).
    """
    has = [i for i, s in enumerate(spans) if s.undo_start >= 0]
    for i, s in enumerate(spans):
        if s.undo_start < 0 and int(w.blocks[i, BLK.N_TX]) != 1:
            return None, _bad(spans, i, "it has transactions to undo but no undo record", "undo")
    if has:  # Core's WriteBlockUndo: checksum = sha256d(parent's hash || CBlockUndo)
        for i in has:
            s = spans[i]
            ubuf[s.undo_slot : s.undo_slot + 32] = buf[s.start + 4 : s.start + 36]
        offs = np.array([[spans[i].undo_slot, spans[i].undo_start] for i in has], dtype=np.int64)
        ends = np.array([spans[i].undo_end for i in has], dtype=np.int64)
        lens = np.stack([np.full(len(has), 32), ends - offs[:, 1]], axis=1)
        sums = hashing.sha256d_parts(ubuf, offs, lens)
        for k in np.flatnonzero((sums != ubuf[ends[:, None] + np.arange(32)]).any(axis=1)).tolist():
            why = "its undo record's checksum does not match (a damaged record, or another block's)"
            return None, _bad(spans, has[k], why, "undo", undo=True)
    zero = len(ubuf) - 1
    starts = np.array([s.undo_start if s.undo_start >= 0 else zero for s in spans], dtype=np.int64)
    ends = np.array([s.undo_end if s.undo_start >= 0 else zero + 1 for s in spans], dtype=np.int64)
    try:
        return undo_columns(ubuf, starts, ends, w.blocks, w.txs, len(w.inputs)), None
    except UndoError as e:
        why = f"its undo record does not line up with the block: {e.reason}"
        return None, _bad(spans, e.block, why, "undo", undo=True)
    except ChainError as e:  # a P2PK key off the curve
        return None, _bad(spans, 0, f"undo data of this task's blocks: {e}", "undo", undo=True)


def _sums(values: np.ndarray, first: np.ndarray, count: np.ndarray) -> np.ndarray:
    cs = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(values, out=cs[1:])
    return cs[first + count] - cs[first]


def _tables(buf: np.ndarray, spans: list[Span], w: Walk, heads: np.ndarray, txids: np.ndarray,
            undo: UndoColumns | None, net: Network) -> dict[str, pa.Table]:  # fmt: skip
    nb = len(spans)
    starts = np.array([s.start for s in spans], dtype=np.int64)
    ends = np.array([s.end for s in spans], dtype=np.int64)
    heights = np.array([s.height for s in spans], dtype=np.int64)
    n_tx = w.blocks[:, BLK.N_TX]
    blocks = pa.Table.from_arrays(
        [
            _i64(heights),
            _hex(heads),
            _hex_at(buf, starts + 4),
            _i64(read_le(buf, starts + 68, 4, "<u4")),
            _i64(n_tx),
            _i64(ends - starts),
            _i64(w.blocks[:, BLK.WEIGHT]),
        ],  # fmt: skip
        schema=BLOCKS,
    )
    t, ins, outs = w.txs, w.inputs, w.outputs
    tx_block = np.repeat(np.arange(nb), n_tx)
    tx_height = heights[tx_block]
    tx_index = np.arange(len(t)) - w.blocks[tx_block, BLK.FIRST_TX]
    size = t[:, TX.END] - t[:, TX.START]
    weight = np.where(t[:, TX.SEGWIT] == 1, t[:, TX.BODY_END] - t[:, TX.BODY] + 8, size) * 3 + size
    values = w.values()
    first_in, n_in = t[:, TX.FIRST_IN], t[:, TX.N_IN]
    output_value = _sums(values, t[:, TX.FIRST_OUT], t[:, TX.N_OUT])
    prev_vout = ins[:, IN.VOUT]
    maybe = np.flatnonzero(prev_vout == 0xFFFFFFFF)  # a coinbase input: that vout and a txid of zeros
    coinbase_in = np.zeros(len(ins), dtype=bool)
    if len(maybe):
        coinbase_in[maybe] = ~buf[ins[maybe, IN.OUTPOINT][:, None] + np.arange(32)].any(axis=1)
    is_coinbase = (
        (n_in == 1) & coinbase_in[np.minimum(first_in, max(len(ins) - 1, 0))] if len(ins) else n_in < 0
    )
    if undo is not None:
        prev_value = np.where(undo.has_coin, undo.value, 0)
        known = _sums(undo.has_coin.astype(np.int64), first_in, n_in) == n_in
        input_value = _sums(prev_value, first_in, n_in)
        in_valid = known & ~is_coinbase
    else:
        input_value = np.zeros(len(t), dtype=np.int64)
        in_valid = np.zeros(len(t), dtype=bool)
    txs = pa.Table.from_arrays(
        [
            _i64(tx_height),
            _i64(tx_index),
            _hex(txids),
            _i64(size),
            _i64((weight + 3) // 4),
            _i64(weight),
            _i64(n_in),
            _i64(t[:, TX.N_OUT]),
            _i64(output_value),
            _i64(input_value, in_valid),
            _i64(input_value - output_value, in_valid),
            pa.array(is_coinbase),
        ],  # fmt: skip
        schema=TXS,
    )
    out_tx = outs[:, OUT.TX]
    codes = scripts.classify(w.scripts, outs[:, OUT.SCRIPT], outs[:, OUT.SCRIPT_LEN])
    so = np.append(outs[:, OUT.SCRIPT], len(w.scripts)).astype(np.int32)
    sd = w.scripts
    ao, ad, av = scripts.addresses(w.scripts, outs[:, OUT.SCRIPT], outs[:, OUT.SCRIPT_LEN], codes, net)
    kinds = pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(scripts.SCRIPT_TYPES)).cast(pa.string())
    outputs = pa.Table.from_arrays(
        [
            _i64(tx_height[out_tx]),
            _i64(tx_index[out_tx]),
            _i64(np.arange(len(outs)) - t[out_tx, TX.FIRST_OUT]),
            _i64(values),
            _var(pa.binary(), so, sd),
            kinds,
            _var(pa.string(), ao, ad, av),
        ],  # fmt: skip
        schema=OUTPUTS,
    )
    in_tx = ins[:, IN.TX]
    leaf_valid = ins[:, IN.LEAF] >= 0
    lo = np.zeros(len(ins) + 1, dtype=np.int64)
    np.cumsum(ins[:, IN.LEAF_LEN], out=lo[1:])
    ld = w.leaves
    if undo is not None:
        has = undo.has_coin
        p_off = undo.script_offsets[:-1].astype(np.int64)
        p_len = np.diff(undo.script_offsets).astype(np.int64)
        pcodes = scripts.classify(undo.script_data, p_off, p_len)
        po, pd_, pv = scripts.addresses(undo.script_data, p_off, p_len, pcodes, net)
        prev_cols = [_i64(undo.value, has), _var(pa.binary(), undo.script_offsets, undo.script_data, has),
                     _i64(undo.height, has), pa.array(undo.is_coinbase, mask=~has)]  # fmt: skip
        prev_address = _var(pa.string(), po, pd_, pv & has)
    else:
        n = len(ins)
        prev_cols = [
            pa.nulls(n, pa.int64()),
            pa.nulls(n, pa.binary()),
            pa.nulls(n, pa.int64()),
            pa.nulls(n, pa.bool_()),
        ]
        prev_address = pa.nulls(n, pa.string())
    inputs = pa.Table.from_arrays(
        [
            _i64(tx_height[in_tx]),
            _i64(tx_index[in_tx]),
            _i64(np.arange(len(ins)) - first_in[in_tx]),
            pa.StringArray.from_buffers(
                len(ins), pa.py_buffer(np.arange(len(ins) + 1, dtype=np.int32) * 64), pa.py_buffer(w.prev_hex)
            ),
            _i64(prev_vout),
            _i64(ins[:, IN.SEQUENCE]),
            *prev_cols,
            _var(pa.binary(), lo, ld, leaf_valid),
            prev_address,
        ],  # fmt: skip
        schema=INPUTS,
    )
    return {"blocks": blocks, "txs": txs, "outputs": outputs, "inputs": inputs}


def empty_tables() -> dict[str, pa.Table]:
    return {name: schema.empty_table() for name, schema in SCHEMAS.items()}


def build(buf: np.ndarray, spans: list[Span], net: Network, ubuf: np.ndarray | None = None,
          on_bad: str = "raise") -> Built:  # fmt: skip
    """The tables of the blocks ``spans`` locate in ``buf`` (their undo records in ``ubuf``)."""
    if on_bad not in ("raise", "skip"):
        raise ChainError(f"on_bad must be 'raise' or 'skip', not {on_bad!r}")
    bad: list[Bad] = []
    spans = list(spans)
    while spans:
        found: Bad | None
        w, found = _walk(buf, spans)
        undo = None
        if w is not None:
            heads, txids, found = _hashes(buf, spans, w)
        if w is not None and found is None and ubuf is not None:
            undo, found = _undo(buf, ubuf, spans, w)
        if found is None:
            assert w is not None
            return Built(_tables(buf, spans, w, heads, txids, undo, net), bad)
        if on_bad == "raise":
            raise found.error()
        bad.append(found)
        spans.pop(found.index)
    return Built(empty_tables(), bad)


def bad_table(bad: list[Bad]) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {"height": b.height, "hash": b.hash, "file": b.file, "offset": b.offset, "reason": b.reason}
            for b in bad
        ],
        schema=BAD,
    )


def frames(tables: dict[str, pa.Table]) -> dict[str, pd.DataFrame]:
    """pandas frames (Arrow dtypes, as :func:`~.blocklist.from_blocks` gives) of Arrow tables."""
    return {name: table.to_pandas(types_mapper=pd.ArrowDtype) for name, table in tables.items()}

"""Loader for bitcoin-etl transactions: :func:`bitcoin_etl_frame`, :func:`from_bitcoin_etl`.

bitcoin-etl (``bitcoinetl export_blocks_and_transactions``) writes one JSON
object per transaction with ``hash``, ``block_number``, ``block_timestamp``
(unix seconds), ``index`` (position in the block) and ``outputs``: ``[{index,
script_hex, addresses, type, value}, ...]``. These become the input frame of
:func:`mesh_magics.runes.decode.batch.decode_transactions`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

from ...errors import RunesError
from .common import BAD_FIELDS, AmountRepr, BadRow, need, parse_height
from .files import expand_paths, from_map, from_pandas, split_inputs
from .reader import read_documents
from .result import LoadResult
from .schema import bad_fields

__all__ = ["ETL_COLUMNS", "FIRST_RUNE_HEIGHT", "bitcoin_etl_frame", "from_bitcoin_etl"]

#: the decoder's input schema (``mesh_magics.runes.decode.batch.INPUT_COLUMNS``)
ETL_COLUMNS: dict[str, str] = {
    "txid": "string",
    "block_height": "int64",
    "block_time": "datetime64[ns, UTC]",
    "tx_index": "int64",
    "scripts": "object",  # list of output script hex strings, in output order
    "addresses": "object",  # list: the receiver address of each output, or None
}

#: first block whose runestones the indexer reads, per network (ord's first_rune_height)
FIRST_RUNE_HEIGHT: dict[str, int] = {
    "mainnet": 840_000,
    "bitcoin": 840_000,
    "testnet": 2_520_000,
    "testnet3": 2_520_000,
    "testnet4": 0,
    "signet": 0,
    "regtest": 0,
}

_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")
_TXID = re.compile(r"[0-9a-fA-F]{64}")
# output types bitcoin-etl gives that have no single receiving address
_NO_ADDRESS = {"nulldata", "nonstandard", "multisig"}


def first_rune_height(network: str) -> int:
    try:
        return FIRST_RUNE_HEIGHT[network]
    except KeyError:
        raise RunesError(f"unknown network {network!r}; use one of {', '.join(FIRST_RUNE_HEIGHT)}") from None


def _time(value: Any) -> pd.Timestamp:
    try:
        if isinstance(value, str) and not value.strip().isdigit():
            ts = pd.Timestamp(value)
            return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        return pd.Timestamp(int(value), unit="s", tz="UTC")
    except (ValueError, TypeError, OverflowError):
        raise BadRow("bad-time", f"block_timestamp {value!r} is not unix seconds or ISO 8601") from None


def _address(output: Mapping[str, Any], script: str) -> str | None:
    addresses = output.get("addresses") or []
    if script[:2].lower() == "6a" or output.get("type") in _NO_ADDRESS or len(addresses) != 1:
        return None
    address = addresses[0]
    # bitcoin-etl names address-less scripts "nonstandard<hash>"
    if not isinstance(address, str) or address.startswith("nonstandard"):
        return None
    try:
        address.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no address, and Arrow strings refuse it
        raise BadRow("bad-encoding", f"address {address!r} is not Unicode text") from None
    return address


def _tx_row(source: str, rec: Any) -> dict[str, Any] | None:
    if not isinstance(rec, Mapping):
        raise BadRow("bad-json", "a bitcoin-etl transaction must be a JSON object")
    if rec.get("type", "transaction") != "transaction":
        return None  # a block record of a combined export
    txid = need(rec, "hash")
    if not isinstance(txid, str) or not _TXID.fullmatch(txid):
        raise BadRow("bad-txid", f"hash {txid!r} is not a 64-digit hex txid")
    outputs = need(rec, "outputs")
    if not isinstance(outputs, list):
        raise BadRow("bad-script", "outputs must be a list")
    if all(isinstance(o, Mapping) and "index" in o for o in outputs):
        outputs = sorted(outputs, key=lambda o: o["index"])
    scripts: list[str] = []
    addresses: list[str | None] = []
    for i, o in enumerate(outputs):
        script = o.get("script_hex") if isinstance(o, Mapping) else None
        if not isinstance(script, str) or not _HEX.fullmatch(script):
            raise BadRow("bad-script", f"output {i}: script_hex {script!r} is not hex")
        scripts.append(script.lower())
        addresses.append(_address(o, script))
    return {
        "txid": txid.lower(),
        "block_height": parse_height(need(rec, "block_number"), "block_number"),
        "block_time": _time(need(rec, "block_timestamp")),
        "tx_index": parse_height(need(rec, "index"), "index"),
        "scripts": scripts,
        "addresses": addresses,
    }


def _etl_frame(docs: list[tuple[str, Any]], min_height: int) -> pd.DataFrame:
    """Combined frame (:data:`ETL_COLUMNS` + ``_bad_*``) of bitcoin-etl documents."""
    good: list[dict[str, Any]] = []
    bad: list[dict[str, Any]] = []
    stack = list(reversed(docs))
    while stack:
        src, doc = stack.pop()
        if isinstance(doc, BadRow):
            bad.append(bad_fields(src, doc, None))
            continue
        if isinstance(doc, list):  # a JSON array of transactions
            stack.extend(reversed([(f"{src}[{i}]", d) for i, d in enumerate(doc)]))
            continue
        try:
            row = _tx_row(src, doc)
        except BadRow as e:
            bad.append(bad_fields(src, e, doc))
            continue
        if row is not None and row["block_height"] >= min_height:
            good.append(row)
    frame = pd.DataFrame(
        {
            "txid": pd.Series([r["txid"] for r in good], dtype="string"),
            "block_height": pd.Series([r["block_height"] for r in good], dtype="int64"),
            "block_time": pd.Series([r["block_time"] for r in good], dtype="datetime64[ns, UTC]"),
            "tx_index": pd.Series([r["tx_index"] for r in good], dtype="int64"),
            "scripts": pd.Series([r["scripts"] for r in good], dtype=object),
            "addresses": pd.Series([r["addresses"] for r in good], dtype=object),
        }
    )
    for c in BAD_FIELDS:
        frame[c] = pd.Series(pd.NA, index=frame.index, dtype="string")
    if bad:
        part = pd.DataFrame({c: pd.Series([b[c] for b in bad], dtype="string") for c in BAD_FIELDS})
        filler = {c: frame[c].iloc[:0].reindex(range(len(bad))) for c in ETL_COLUMNS}
        filler["block_height"] = filler["block_height"].fillna(0).astype("int64")
        filler["tx_index"] = filler["tx_index"].fillna(0).astype("int64")
        frame = pd.concat([frame, pd.concat([pd.DataFrame(filler), part], axis=1)], ignore_index=True)
    return frame


def bitcoin_etl_frame(records: Any, network: str = "mainnet") -> LoadResult:
    """Build the batch decoder's input frame from in-memory bitcoin-etl records.

    Parameters
    ----------
    records
        Transaction records (dicts), a list of them, or JSON / JSON-lines text.
    network
        Sets the activation height: transactions below it (840,000 on
        mainnet, 2,520,000 on testnet3, 0 on signet/regtest/testnet4) are
        dropped, as ord's indexer ignores them; they are not bad rows.

    Returns
    -------
    LoadResult
        ``kind="etl"``; ``table`` is a pandas DataFrame with
        :data:`ETL_COLUMNS`: ``txid``, ``block_height``, ``block_time`` (UTC),
        ``tx_index``, ``scripts`` (output scripts, hex, in output order) and
        ``addresses`` (per output the single receiving address, or None for
        OP_RETURN, multisig and non-standard outputs). Records with a bad
        hash, height, time or script are in ``bad_rows``.
    """
    paths, docs = split_inputs(records)
    if paths:
        raise RunesError("bitcoin_etl_frame takes in-memory records; load files with from_bitcoin_etl")
    frame = _etl_frame(docs, first_rune_height(network))
    return LoadResult.from_combined(frame, list(ETL_COLUMNS), "etl", None)


def _etl_partition(url: str, min_height: int, storage_options: Mapping[str, Any] | None) -> pd.DataFrame:
    return _etl_frame(list(read_documents(url, storage_options)), min_height)


def from_bitcoin_etl(
    records_or_path: Any,
    network: str = "mainnet",
    *,
    amount_repr: AmountRepr = "auto",
    storage_options: Mapping[str, Any] | None = None,
) -> LoadResult:
    """Decode the runestones of bitcoin-etl transactions.

    Files (JSON lines, optionally compressed, any fsspec URL; globs allowed)
    are read on the workers, one partition per file; in-memory records are
    converted on the client. The frame of :func:`bitcoin_etl_frame` then goes
    through :func:`mesh_magics.runes.decode.batch.decode_transactions`.

    Returns
    -------
    LoadResult
        ``kind="decoded"``; ``table`` is the decoder's output (lazy): the
        canonical transfers columns plus ``event``, ``output``, ``flaw`` and
        ``needs_ledger``. These are the *stateless* events a runestone
        announces; see :mod:`mesh_magics.runes.decode.batch` for why balances need a
        ledger replay. ``bad_rows`` holds the transaction records that could
        not be read.
    """
    from ..decode import batch

    min_height = first_rune_height(network)
    paths, docs = split_inputs(records_or_path)
    if paths:
        urls = expand_paths(paths, storage_options)
        meta = _etl_frame([], min_height)
        combined = from_map(
            _etl_partition, urls, meta, label="bitcoin-etl", args=(min_height, storage_options)
        )
        etl = LoadResult.from_combined(combined, list(ETL_COLUMNS), "etl", None)
    else:
        local = LoadResult.from_combined(_etl_frame(docs, min_height), list(ETL_COLUMNS), "etl", None)
        etl = LoadResult(from_pandas(local.table), from_pandas(local.bad_rows), "etl", None)
    decoded = batch.decode_transactions(etl.table, first_rune_height=min_height, amount_repr=amount_repr)
    repr_ = decoded._meta.attrs.get("amount_repr", "exact" if amount_repr == "auto" else amount_repr)
    return LoadResult(decoded, etl.bad_rows, "decoded", repr_)

"""Loader for runehook / Hiro Runes API activity exports: :func:`from_runehook`.

runehook writes a movement twice: one ``receive`` row per output (the total
that output got) and one ``send`` row per input address (its part, with the
``receiver_address``). Minted and premined units appear only as ``receive``
rows. So, per transaction and rune:

* every ``send`` row becomes one canonical ``send`` row (it names both sides);
* every ``burn`` row becomes one ``burn`` row (sender = its address);
* a ``receive`` row only adds what the ``send`` rows to that address do not
  already explain; that remainder came from the mint (canonical ``mint`` rows,
  up to the minted amount) or from the premine of an ``etching``;
* a ``mint`` row whose units no ``receive`` row shows (a cenotaph mint, burned)
  gives a ``mint`` row with a null receiver; an ``etching`` row adds nothing
  by itself (it carries no amount);
* a remainder with neither is set aside as ``unpaired``.

Receive rows missing from an export (e.g. one address's activity) are fine:
send rows stand on their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import pandas as pd

from ...errors import RunesError
from .common import (
    BAD_FIELDS,
    AmountRepr,
    BadRow,
    need,
    record_text,
    resolve_repr,
    settle_lazy_repr,
    split_scaled,
    unscale,
)
from .docs import doc_rows, in_memory_result
from .files import empty_combined, expand_paths, from_map, split_inputs
from .reader import read_documents
from .result import LoadResult
from .schema import TABLES, bad_fields, canonical_rune_id, coerce, raw_frame

__all__ = ["from_runehook"]

OPERATIONS = ("etching", "mint", "send", "receive", "burn")

#: columns of the raw (per record) stage
_RAW = ("txid", "block_height", "block_time", "rune_id", "op", "address", "receiver", "amount_text")


def _activity_rows(source: str, doc: Any) -> list[dict[str, Any]]:
    if isinstance(doc, list):
        return doc_rows(((f"{source}[{i}]", d) for i, d in enumerate(doc)), _activity_rows)
    if not isinstance(doc, Mapping):
        raise BadRow("bad-json", "expected a runehook activity record or a page {'results': [...]}")
    if "results" in doc and "operation" not in doc:  # an API page {limit, offset, total, results}
        return doc_rows(
            ((f"{source}.results[{i}]", d) for i, d in enumerate(doc["results"] or [])),
            _activity_rows,
        )
    op = need(doc, "operation")
    if op not in OPERATIONS:
        raise BadRow("unknown-operation", f"operation {op!r} is not one of {', '.join(OPERATIONS)}")
    amount = doc.get("amount")
    if amount is None and op != "etching":
        raise BadRow("missing-field", f"a {op} record needs 'amount'")
    if op == "send" and doc.get("receiver_address") is None:
        raise BadRow("missing-field", "a send record needs 'receiver_address'")
    rune_id = need(doc, "rune", "id")
    try:
        rune_id = canonical_rune_id(rune_id)
    except (ValueError, TypeError) as e:
        raise BadRow("bad-rune-id", str(e)) from None
    return [
        {
            "txid": need(doc, "location", "tx_id"),
            "block_height": need(doc, "location", "block_height"),
            "block_time": need(doc, "location", "timestamp"),
            "rune_id": rune_id,
            "op": op,
            "address": doc.get("address"),
            "receiver": doc.get("receiver_address"),
            "amount_text": amount,
            "_bad_source": source,
            "_bad_record": doc,  # kept until pairing; rendered only if the row turns out bad
        }
    ]


def _raw_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    cols = [*_RAW, *BAD_FIELDS]
    return pd.DataFrame({c: pd.Series([r.get(c) for r in rows], dtype=object) for c in cols})


def _raw_partition(url: str, storage_options: Mapping[str, Any] | None) -> pd.DataFrame:
    return _raw_frame(doc_rows(read_documents(url, storage_options), _activity_rows))


def _divisibilities(raw: pd.DataFrame, given: Mapping[str, int] | None) -> dict[Any, int]:
    if given is not None:
        return dict(given)
    # "infer": runehook writes toFixed(divisibility), so the decimal places are the divisibility
    places: dict[Any, int] = {}
    for rune, text in zip(raw["rune_id"], raw["amount_text"]):
        try:
            places[rune] = max(places.get(rune, 0), len(split_scaled(text)[1]))
        except BadRow:
            pass
    return places


def _pair_partition(raw: pd.DataFrame, divisibility: Mapping[str, int] | None) -> list[dict[str, Any]]:
    """Unscale amounts and pair the rows of one partition into canonical rows."""
    out: list[dict[str, Any]] = []
    bad_mask = raw["_bad_reason"].notna()
    for r in raw[bad_mask].to_dict("records"):
        rec = r["_bad_record"]
        out.append(
            {c: r[c] for c in BAD_FIELDS} | {"_bad_record": rec if isinstance(rec, str) else record_text(rec)}
        )
    good = raw[~bad_mask]
    divs = _divisibilities(good, divisibility)

    def fail(r: dict[str, Any], e: BadRow) -> None:
        out.append(bad_fields(r["_bad_source"], e, r["_bad_record"]))

    rows: list[dict[str, Any]] = []
    for r in good.to_dict("records"):
        if r["op"] == "etching":
            r["amount"] = None
        elif r["rune_id"] not in divs:
            fail(
                r,
                BadRow("unknown-divisibility", f"no divisibility given for rune {r['rune_id']!r}"),
            )
            continue
        else:
            try:
                r["amount"] = unscale(r["amount_text"], int(divs[r["rune_id"]]))
            except BadRow as e:
                fail(r, e)
                continue
        rows.append(r)

    groups: dict[tuple[Any, Any], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["txid"], r["rune_id"]), []).append(r)
    for grp in groups.values():
        base = {k: grp[0][k] for k in ("txid", "block_height", "block_time", "rune_id")}

        def emit(
            op: str, sender: Any, receiver: Any, amount: int, src: dict[str, Any], base: dict = base
        ) -> None:
            out.append(
                base
                | {
                    "operation": op,
                    "sender": sender,
                    "receiver": receiver,
                    "amount": amount,
                    "_bad_source": src["_bad_source"],
                }
            )

        sent_to: dict[Any, int] = {}
        for r in grp:
            if r["op"] == "send":
                emit("send", r["address"], r["receiver"], r["amount"], r)
                sent_to[r["receiver"]] = sent_to.get(r["receiver"], 0) + r["amount"]
            elif r["op"] == "burn":
                emit("burn", r["address"], None, r["amount"], r)
        mints = [r for r in grp if r["op"] == "mint"]
        unminted = sum(r["amount"] for r in mints)
        etched = any(r["op"] == "etching" for r in grp)
        for r in grp:
            if r["op"] != "receive":
                continue
            explained = min(sent_to.get(r["address"], 0), r["amount"])
            sent_to[r["address"]] = sent_to.get(r["address"], 0) - explained
            rest = r["amount"] - explained
            if rest and mints and rest <= unminted:
                emit("mint", None, r["address"], rest, r)
                unminted -= rest
            elif rest and etched and not mints:
                emit("etching", None, r["address"], rest, r)
            elif rest:
                fail(
                    r,
                    BadRow(
                        "unpaired",
                        f"{rest} units received by {r['address']!r} come from "
                        "no send, mint or etching row of this transaction",
                    ),
                )
        if mints and unminted:
            emit("mint", None, None, unminted, mints[0])
    return out


def _pair_and_coerce(
    raw: pd.DataFrame, divisibility: Mapping[str, int] | None, repr_: Literal["int64", "exact"], where: str
) -> pd.DataFrame:
    frame = raw_frame(_pair_partition(raw, divisibility), TABLES["transfers"][0])
    return coerce(frame, "transfers", repr_, where)


def _divisibility_map(divisibility: Any) -> Mapping[str, int] | None:
    if isinstance(divisibility, str):
        if divisibility != "infer":
            raise RunesError(
                f"divisibility must be 'infer', a mapping or a runes table, got {divisibility!r}"
            )
        return None
    if isinstance(divisibility, LoadResult):
        divisibility = divisibility.table
    if hasattr(divisibility, "columns"):  # a runes table, pandas or dask
        frame = divisibility[["rune_id", "divisibility"]]
        if hasattr(frame, "compute"):
            frame = frame.compute()
        return {str(k): int(v) for k, v in zip(frame["rune_id"], frame["divisibility"])}
    return {str(k): int(v) for k, v in dict(divisibility).items()}


def from_runehook(
    records_or_path: Any,
    *,
    divisibility: Any = "infer",
    amount_repr: AmountRepr = "auto",
    storage_options: Mapping[str, Any] | None = None,
) -> LoadResult:
    """Load runehook / Hiro Runes API activity into the canonical ``transfers`` table.

    Parameters
    ----------
    records_or_path
        Activity records (dicts with ``rune.id``, ``operation``, ``address``,
        ``receiver_address``, ``amount``, ``location.{tx_id, block_height,
        timestamp}``), API pages ``{"results": [...]}``, JSON text, or file
        paths / globs of JSON or JSON-lines exports. Files are read on the
        workers; several files are shuffled on ``txid`` before pairing, so a
        transaction may span files.
    divisibility
        How to turn the scaled decimal amounts back into raw units:
        ``{rune_id: divisibility}``, a runes table (pandas, dask or a
        :class:`LoadResult`), or ``"infer"`` (default): the number of decimal
        places, since runehook writes ``toFixed(divisibility)``; within a
        partition the largest count seen for a rune wins. Prefer a mapping
        when the export may have trimmed trailing zeros.
    amount_repr, storage_options
        As in :func:`~mesh_magics.runes.io.read_parquet`.

    Returns
    -------
    LoadResult
        ``table`` in canonical form, one row per movement, with send and
        receive rows paired (see the module doc) and amounts exact in raw
        units; ``bad_rows`` holds unknown operations, bad amounts, missing
        fields, bad rune ids and unpaired receives.
    """
    divs = _divisibility_map(divisibility)
    columns, amount_cols = TABLES["transfers"]
    resolve_repr(amount_repr)
    paths, docs = split_inputs(records_or_path)
    if not paths:
        frame = _pair_and_coerce(_raw_frame(doc_rows(docs, _activity_rows)), divs, "exact", "records")
        return in_memory_result(frame, columns, amount_cols, "transfers", amount_repr)
    urls = expand_paths(paths, storage_options)
    raw_meta = _raw_frame([])
    raw = from_map(_raw_partition, urls, raw_meta, label="runehook", args=(storage_options,))
    if len(urls) > 1:  # a transaction's rows may sit in two files (API pages)
        raw = raw.shuffle("txid", npartitions=len(urls), shuffle_method="tasks")
    combined = raw.map_partitions(
        _pair_and_coerce,
        divs,
        "exact",
        "runehook",
        meta=empty_combined(columns, amount_cols, "exact"),
    )
    combined, repr_ = settle_lazy_repr(combined, amount_cols, amount_repr)
    return LoadResult.from_combined(combined, list(columns), "transfers", repr_)

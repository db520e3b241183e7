"""Loaders for ord server JSON: :func:`from_ord_runes` and :func:`from_ord_outputs`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..protocol.names import format_spaced_rune, rune_number
from ..tables import U128_MAX
from .common import AmountRepr, BadRow, get, need, parse_raw_amount
from .docs import doc_rows, load_documents
from .result import LoadResult

__all__ = ["from_ord_outputs", "from_ord_runes"]


def _spaced_name(entry: Mapping[str, Any]) -> str:
    """The spaced name of a RuneEntry: ``spaced_rune`` text, or rune + spacers."""
    spaced = entry.get("spaced_rune")
    if isinstance(spaced, str):
        return spaced  # checked (and '.' normalised to '•') by the runes coercion
    if isinstance(spaced, Mapping):  # {"rune": NAME or number, "spacers": int}
        rune, spacers = spaced.get("rune"), spaced.get("spacers", 0)
    else:
        rune, spacers = entry.get("rune"), entry.get("spacers", 0)
    if rune is None:
        raise BadRow("missing-field", "the entry has neither 'spaced_rune' nor 'rune'")
    try:
        if isinstance(rune, str) and not rune.isalpha():
            return rune  # already spaced (the CLI `ord runes` writes the spaced name in 'rune')
        if isinstance(rune, str):
            rune_number(rune)
        return format_spaced_rune(rune, int(spacers or 0))
    except (ValueError, TypeError) as e:
        raise BadRow("bad-name", f"rune {rune!r} with spacers {spacers!r}: {e}") from None


def _supply(entry: Mapping[str, Any]) -> int:
    """premine + mints × terms.amount, exactly (a given ``supply`` is used when present)."""
    if entry.get("supply") is not None and entry.get("mints") is None:
        return parse_raw_amount(entry["supply"], "supply")
    premine = parse_raw_amount(entry.get("premine", 0), "premine")
    mints = parse_raw_amount(entry.get("mints", 0), "mints")
    amount = get(entry, "terms", "amount")
    per_mint = 0 if amount is None else parse_raw_amount(amount, "terms.amount")
    supply = premine + mints * per_mint
    if supply > U128_MAX:
        raise BadRow("supply-overflow", f"premine {premine} + mints {mints} x amount {per_mint} > u128::MAX")
    return supply


def _rune_row(source: str, rune_id: Any, entry: Any) -> dict[str, Any]:
    if not isinstance(entry, Mapping):
        raise BadRow("bad-json", f"a rune entry must be an object, got {type(entry).__name__}")
    if rune_id is None:
        raise BadRow("missing-field", "the rune id is missing")
    return {
        "rune_id": rune_id,
        "name": _spaced_name(entry),
        "divisibility": need(entry, "divisibility"),
        "supply": _supply(entry),
        "symbol": entry.get("symbol"),
        "_bad_source": source,
    }


def _runes_rows(source: str, doc: Any) -> list[dict[str, Any]]:
    """Rows of one ord document: a /runes page, a /rune document, `ord runes` output."""
    doc = unwrap_rpc(doc)
    if isinstance(doc, list):
        return doc_rows(((f"{source}[{i}]", d) for i, d in enumerate(doc)), _runes_rows)
    if not isinstance(doc, Mapping):
        raise BadRow("bad-json", "expected an ord /runes page or /rune/<id> document")
    if "entries" in doc:  # GET /runes[/<page>]: {"entries": [["id", RuneEntry], ...], ...}
        pairs = [(f"{source}.entries[{i}]", pair) for i, pair in enumerate(doc["entries"] or [])]
        return doc_rows(pairs, _entry_pair_rows)
    if "entry" in doc:  # GET /rune/<q>: {"entry": RuneEntry, "id": "b:t", ...}
        return [_rune_row(source, doc.get("id"), doc["entry"])]
    if isinstance(doc.get("runes"), Mapping):  # CLI `ord runes`: {"runes": {NAME: {...}}}
        items = [(f"{source}.runes.{k}", v) for k, v in doc["runes"].items()]
        return doc_rows(items, lambda s, e: [_rune_row(s, get(e, "id"), e)])
    raise BadRow("bad-json", "expected an ord /runes page ('entries') or /rune document ('entry')")


def _entry_pair_rows(source: str, pair: Any) -> list[dict[str, Any]]:
    if not (isinstance(pair, list) and len(pair) == 2):
        raise BadRow("bad-json", "a /runes entry must be a pair [rune id, RuneEntry]")
    return [_rune_row(source, pair[0], pair[1])]


def from_ord_runes(
    pages: Any,
    *,
    amount_repr: AmountRepr = "auto",
    storage_options: Mapping[str, Any] | None = None,
) -> LoadResult:
    """Load ord's rune documents into the canonical ``runes`` table.

    Parameters
    ----------
    pages
        ``GET /runes`` listing pages (``{"entries": [[id, RuneEntry], ...]}``),
        ``GET /rune/<id>`` documents (``{"entry": RuneEntry, "id": ...}``) or
        the CLI's ``ord runes`` output, given as parsed dicts, JSON text, or
        file paths / globs (JSON or JSON lines, compressed or remote through
        fsspec). Files are read on the workers, one partition each.
    amount_repr
        Representation of ``supply``: ``"auto"``, ``"int64"`` or ``"exact"``
        (see :class:`LoadResult`).
    storage_options
        fsspec options for remote files.

    Returns
    -------
    LoadResult
        ``table``: one row per rune id (listing pages overlap by one entry;
        the first row of an id is kept), with ``name`` the spaced name
        (``spaced_rune``, or rune + spacers), ``divisibility``, ``supply = premine
        + mints × terms.amount`` in raw units (exact) and ``symbol``.
    """
    res = load_documents(pages, _runes_rows, "runes", amount_repr, storage_options, "ord-runes")
    # a task-based shuffle pickles partitions; P2P goes through Arrow, which refuses ints > int64
    table = res.table.drop_duplicates(subset=["rune_id"], keep="first", shuffle_method="tasks")
    return LoadResult(table, res.bad_rows, res.kind, res.amount_repr)


_OUTPOINT = re.compile(r"(?<![0-9a-fA-F])([0-9a-fA-F]{64})[:_](\d{1,10})(?!\d)")


def unwrap_rpc(doc: Any) -> Any:
    """The ``result`` of a JSON-RPC envelope (as hosted ord providers answer); else ``doc``."""
    if isinstance(doc, Mapping) and "jsonrpc" in doc and ("result" in doc or "error" in doc):
        if doc.get("error") is not None:
            raise BadRow("rpc-error", f"the JSON-RPC call failed: {doc['error']!r}")
        return doc.get("result")
    return doc


def _outpoint(doc: Mapping[str, Any], source: str) -> str:
    if doc.get("outpoint") is not None:
        return str(doc["outpoint"])
    found = _OUTPOINT.search(source)  # /r/utxo/<outpoint> documents: the outpoint is the URL's
    if found is None:
        raise BadRow(
            "missing-field",
            "required field 'outpoint' is missing: ord's /r/utxo/<outpoint> documents do not "
            "carry it; pass {outpoint: document} or name the file <txid>:<vout>.json (or _<vout>)",
        )
    return f"{found.group(1).lower()}:{int(found.group(2))}"


def _output_rows(source: str, doc: Any) -> list[dict[str, Any]]:
    doc = unwrap_rpc(doc)
    if isinstance(doc, list):  # POST /outputs, GET /outputs/<address>
        return doc_rows(((f"{source}[{i}]", d) for i, d in enumerate(doc)), _output_rows)
    if not isinstance(doc, Mapping):
        raise BadRow("bad-json", "expected an ord /output/<outpoint> or /r/utxo/<outpoint> document")
    outpoint = _outpoint(doc, source)
    runes = doc.get("runes") or {}
    # ord writes a map {SPACED_RUNE: Pile}; older versions a list of [SPACED_RUNE, Pile]
    items = runes.items() if isinstance(runes, Mapping) else runes
    rows = []
    for item in items:
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[1], Mapping)):
            raise BadRow("bad-json", f"runes entry {item!r} is not SPACED_RUNE: {{amount, ...}}")
        name, pile = item
        rows.append(
            {
                "outpoint": outpoint,
                "address": doc.get("address"),
                "rune": name,
                "amount": pile.get("amount"),
                "_bad_source": f"{source}.runes.{name}",
            }
        )
    return rows


def from_ord_outputs(
    docs: Any,
    *,
    amount_repr: AmountRepr = "auto",
    storage_options: Mapping[str, Any] | None = None,
) -> LoadResult:
    """Load ord ``/output/<outpoint>`` documents into a balances snapshot.

    This is **not** a transfers table: each row is the amount of one rune
    sitting in one unspent output when the document was fetched, so it has no
    block, time or counterparty, and summing it per address gives balances at
    that moment (not the history that Q2-Q6 need).

    Parameters
    ----------
    docs
        ``/output`` documents, lists of them (``POST /outputs``,
        ``/outputs/<address>``), as dicts, JSON text or file paths / globs; also
        ``/r/utxo/<outpoint>`` documents, which do not carry their outpoint: give them as
        a mapping ``{outpoint: document}``, or in files whose name holds it
        (``<txid>:<vout>.json``, ``..._<vout>.json``). JSON-RPC envelopes
        (``{"jsonrpc", "id", "result"}``) are unwrapped.
    amount_repr, storage_options
        As in :func:`from_ord_runes`.

    Returns
    -------
    LoadResult
        ``kind="balances"``; ``table`` has ``outpoint`` (``txid:vout``),
        ``address`` (null for outputs without one), ``rune`` (the **spaced
        name**, as ord keys the map: join to the runes table on ``name``) and
        ``amount`` (raw units, exact). Outputs without runes give no rows.
    """
    if (
        isinstance(docs, Mapping)
        and docs
        and all(isinstance(k, str) and _OUTPOINT.fullmatch(k) for k in docs)
    ):
        docs = [
            {"outpoint": k, **(unwrap_rpc(v) if isinstance(v, Mapping) else {"_not_a_document": v})}
            for k, v in docs.items()
        ]
    return load_documents(docs, _output_rows, "balances", amount_repr, storage_options, "ord-outputs")

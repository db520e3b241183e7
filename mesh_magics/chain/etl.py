"""The chain tables from bitcoin-etl exports, where the export carries the fields.

``bitcoinetl export_blocks_and_transactions`` writes JSON lines: transactions (``hash,
size, virtual_size, block_number, block_timestamp, index, is_coinbase, inputs[index,
spent_transaction_hash, spent_output_index, sequence, type, addresses, value],
outputs[index, script_hex, value], input_value, output_value, fee``) and blocks
(``"type": "block"``: ``number, hash, timestamp, size, weight, transaction_count``). The
project's Runes loader reads the same files (``mesh_magics.runes.io.etl``). Mapped onto
:mod:`.schema`:

* ``outputs`` in full (script from ``script_hex``; type and address recomputed, so they
  match the other readers);
* ``inputs``: the outpoint, sequence and ``prev_value``; ``prev_script`` rebuilt from the
  spent output's single address where the address determines the script (P2PKH, P2SH,
  segwit v0/v1+; not P2PK, multisig or non-standard: null), ``prev_address`` from that
  script. **Not in the export, so null:** ``prev_height``, ``prev_is_coinbase`` and
  ``leaf_script`` (there are no witnesses) — so these tables do not serve the Runes
  ledger's etching checks (commitment in a tapscript, 6 confirmations), only value
  analytics such as the whale queries;
* ``txs``: all but ``weight`` (the export has ``virtual_size``, which rounds weight/4
  up; the weight is null rather than guessed); a coinbase has the inputs the export
  lists (bitcoin-etl lists none);
* ``blocks``: from block records when the files hold them; ``prev_hash`` is not exported.

Partition heights are not known before the files are read: ``heights`` is ``(-1, -1)``.

One partition per file, read on the workers (plain or ``.gz``); in-memory records make one
partition. A record that does not parse is a :class:`~mesh_magics.errors.ChainError`
naming the file and line.
"""

from __future__ import annotations

import glob
import gzip
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from ..errors import ChainError
from .columnar import BAD
from .format.address import Network, address, address_script, network, script_type
from .schema import SCHEMAS
from .tables import ChainTables

__all__ = ["etl_frames", "from_bitcoin_etl"]

_NO_SCRIPT = {"pubkey", "multisig", "nonstandard", "nulldata"}
_HEX = set("0123456789abcdef")


def _txid(value: Any) -> str:
    text = str(value).lower()
    if len(text) != 64 or not set(text) <= _HEX:
        raise ValueError(f"{value!r} is not a 64-digit hex txid")
    return text


def _prev_script(inp: Mapping[str, Any], net: Network) -> bytes | None:
    addrs = inp.get("addresses") or []
    if inp.get("type") in _NO_SCRIPT or len(addrs) != 1 or not isinstance(addrs[0], str):
        return None
    return address_script(addrs[0], net)


def _rows(records: Iterable[tuple[str, Any]], net: Network) -> dict[str, dict[str, list[Any]]]:
    cols: dict[str, dict[str, list[Any]]] = {name: {f.name: [] for f in SCHEMAS[name]} for name in SCHEMAS}
    b, t, o, i = cols["blocks"], cols["txs"], cols["outputs"], cols["inputs"]
    for where, rec in records:
        try:
            row: tuple[Any, ...]
            if rec.get("type") == "block":
                row = (
                    rec["number"],
                    rec["hash"],
                    None,
                    rec["timestamp"],
                    rec["transaction_count"],
                    rec["size"],
                    rec["weight"],
                )
                for c, v in zip(b, row):
                    b[c].append(v)
                continue
            height, tx_index = int(rec["block_number"]), int(rec["index"])
            outs = sorted(rec["outputs"], key=lambda x: x["index"])
            ins = sorted(rec.get("inputs") or [], key=lambda x: x["index"])
            out_value = 0
            for k, out in enumerate(outs):
                script = bytes.fromhex(out["script_hex"])
                out_value += int(out["value"])
                for c, v in zip(
                    o,
                    (
                        height,
                        tx_index,
                        k,
                        int(out["value"]),
                        script,
                        script_type(script),
                        address(script, net),
                    ),
                ):
                    o[c].append(v)
            values = []
            for k, inp in enumerate(ins):
                prev = _prev_script(inp, net)
                value = inp.get("value")
                values.append(value)
                row = (height, tx_index, k, _txid(inp["spent_transaction_hash"]), int(inp["spent_output_index"]),
                       int(inp["sequence"]), value, prev, None, None, None, address(prev, net) if prev else None)  # fmt: skip
                for c, v in zip(i, row):
                    i[c].append(v)
            coinbase = bool(rec.get("is_coinbase", False))
            known = not coinbase and all(v is not None for v in values)
            in_value = sum(int(v) for v in values) if known else None
            row = (height, tx_index, _txid(rec["hash"]), int(rec["size"]), int(rec["virtual_size"]), None, len(ins),
                   len(outs), out_value, in_value, None if in_value is None else in_value - out_value, coinbase)  # fmt: skip
            for c, v in zip(t, row):
                t[c].append(v)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ChainError(
                f"{where}: not a bitcoin-etl transaction or block record ({type(e).__name__}: {e})"
            ) from None
    return cols


def _frame(name: str, columns: dict[str, list[Any]]) -> pd.DataFrame:
    schema = SCHEMAS[name]
    relaxed = pa.schema([f.with_nullable(True) for f in schema])  # txs.weight is null here
    table = pa.Table.from_pydict(columns, schema=relaxed)
    sort = ["height", "tx_index", "vout" if name == "outputs" else "vin"][
        : 1 if name == "blocks" else (2 if name == "txs" else 3)
    ]
    return table.to_pandas(types_mapper=pd.ArrowDtype).sort_values(sort, ignore_index=True)


def etl_frames(
    records: Iterable[tuple[str, Any]], network_name: str | Network = "mainnet"
) -> dict[str, pd.DataFrame]:
    """The five frames of ``(where, record)`` pairs (``where`` names the record in errors)."""
    cols = _rows(records, network(network_name))
    out = {name: _frame(name, cols[name]) for name in SCHEMAS}
    out["bad"] = BAD.empty_table().to_pandas(types_mapper=pd.ArrowDtype)
    return out


def _read(path: str, network_name: str) -> dict[str, pd.DataFrame]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        records = []
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    records.append((f"{path}:{n}", json.loads(line)))
                except json.JSONDecodeError as e:
                    raise ChainError(f"{path}:{n}: not JSON ({e})") from None
    return etl_frames(records, network_name)


def from_bitcoin_etl(source: Any, network: str = "mainnet") -> ChainTables:  # noqa: A002
    """The chain tables of bitcoin-etl exports: file paths or globs (one partition each), or records."""
    from dask import delayed

    if isinstance(source, (str, Path)) or (
        isinstance(source, list) and source and isinstance(source[0], (str, Path))
    ):
        patterns = [source] if isinstance(source, (str, Path)) else source
        paths = sorted({p for pat in patterns for p in (glob.glob(str(pat)) or [str(pat)])})
        missing = [p for p in paths if not Path(p).exists()]
        if missing:
            raise ChainError(f"no bitcoin-etl export at {missing[0]}")
        parts = [delayed(_read, pure=True)(p, network) for p in paths]
    else:
        records = list(source)
        parts = [
            delayed(etl_frames(((f"record {k}", r) for k, r in enumerate(records)), network), traverse=False)
        ]
    note = "from bitcoin-etl: txs.weight, inputs.prev_height, prev_is_coinbase and leaf_script are null (not exported)"
    return ChainTables.from_parts(parts, network, [(-1, -1)] * len(parts), [note])

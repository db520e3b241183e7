"""Decode the runestones of many transactions at once, partition by partition on the workers.

:func:`decode_transactions` turns a frame of transactions (the loader's
bitcoin-etl schema) into the **stateless** side of the transfers table: every
event a runestone announces that can be read off the transaction alone.

What the decoder knows, and what only a ledger knows
----------------------------------------------------
A runestone says *what should happen*; what actually happens depends on state
the transaction does not carry: the rune balances of the outputs it spends,
whether a mint is still open, whether an etched name is free and committed to.
So each row says whether its real effect needs that state (``needs_ledger``):

``premine`` (operation ``etching``, or ``burn`` for units sent to an OP_RETURN)
    Where the premine of the rune etched here (id ``BLOCK:TX_INDEX``) lands,
    one row per receiving output, after the runestone's edicts for this rune
    (``0:0`` or its own id) and its pointer / first non-OP_RETURN output rule.
    That split is exact without state, because no input can hold a rune etched
    in this very transaction. An etching without premine gives one row with
    amount 0. ``needs_ledger`` is False for unnamed (reserved) etchings, which
    always succeed, and True for named ones: the indexer silently drops an
    etching whose name is taken or not committed to. Names that can never be
    etched at that height (reserved, or below the height's minimum, see
    :func:`~mesh_magics.runes.protocol.names.minimum_rune_at_height`) give no row.
``edict`` (operation ``send``, or ``burn`` for an OP_RETURN target)
    One row per edict on another rune, with the amount as written (null for
    amount 0, which means "all that is left") and the target ``output``;
    ``output == number of outputs`` splits across every non-OP_RETURN output
    and has no single receiver. ``needs_ledger`` is always True: the units
    move only if the spent outputs held them. ``sender`` is null: the senders
    are the addresses of the spent outputs, which need a UTXO lookup.
``mint_request`` (operation ``mint``; ``burn`` in a cenotaph)
    The runestone asks to mint rune ``rune_id``. The amount (the rune's
    terms) and whether the mint is open are ledger facts: amount is null and
    ``needs_ledger`` is True.
``cenotaph`` (operation ``burn``)
    A malformed runestone burns every rune unit the transaction spends;
    ``flaw`` names the first flaw, the amount is null (it is the inputs'
    balances) and ``needs_ledger`` is True.

**Balances need the ledger.** Summing these rows does not give holder
balances: only ``needs_ledger == False`` rows are final, and the rest of the
transfers (runes carried by plain spends, edict results, mint amounts) come
from replaying the UTXO set, as ord's indexer does.

Runestones in blocks below ``first_rune_height`` (840,000, mainnet activation)
are ignored, as the indexer ignores them.

Amounts are exact: ``amount_repr="int64"`` gives a nullable ``Int64`` column
and raises if a value does not fit; ``"exact"`` gives Python ints in an
``object`` column; ``"auto"`` picks ``int64`` for a pandas input whose values
all fit and ``exact`` otherwise, and ``exact`` for a dask input (the data is
not looked at before it is computed). The choice is recorded in
``attrs["amount_repr"]`` of every result partition and of a dask result's
``_meta``.
"""

from __future__ import annotations

from typing import Any, Literal

import pandas as pd

from ...errors import RunesError, SchemaError
from ..protocol.names import RESERVED_RUNE, minimum_rune_at_height
from ..protocol.runestone import Cenotaph, decipher, runestone_output
from ..tables import EXACT_AMOUNT_DTYPE, INT64_MAX, TRANSFERS_COLUMNS

__all__ = ["DECODED_COLUMNS", "INPUT_COLUMNS", "decode_transactions"]

#: the transactions schema this function reads (shared with the bitcoin-etl loader)
INPUT_COLUMNS: dict[str, str] = {
    "txid": "string",
    "block_height": "int64",
    "block_time": "datetime64[ns, UTC]",
    "tx_index": "int64",
    "scripts": "object",  # list of output script hex strings, in order
    "addresses": "object",  # list: one receiver address (or None) per output
}

#: output columns: the canonical transfers columns, then the decoder's own
DECODED_COLUMNS: dict[str, str] = {
    **TRANSFERS_COLUMNS,
    "event": "string",
    "output": "Int64",
    "flaw": "string",
    "needs_ledger": "bool",
}

FIRST_RUNE_HEIGHT = 840_000
AmountRepr = Literal["auto", "int64", "exact"]


def decode_transactions(
    txs: Any,
    *,
    first_rune_height: int = FIRST_RUNE_HEIGHT,
    amount_repr: AmountRepr = "auto",
) -> Any:
    """Decode the runestones of a frame of transactions into stateless transfer events.

    ``txs``: a dask or pandas DataFrame with :data:`INPUT_COLUMNS` (``addresses``
    may be left out: receivers are then null). A dask input is decoded per
    partition on the workers (``map_partitions`` with an explicit ``meta``)
    and a lazy dask DataFrame is returned; a pandas input gives a pandas
    DataFrame. Columns: :data:`DECODED_COLUMNS`; rows in input order, several
    per transaction where the runestone announces several events. See the
    module docstring for each event.

    **Balances need the ledger**: these rows are what the runestones *say*.
    Only rows with ``needs_ledger == False`` are final; edicts and mints
    depend on the balances of the spent outputs and the rune's state, and
    plain spends carry runes without any runestone at all. Do not sum these
    rows into holder balances without replaying the UTXO set.

    >>> import pandas as pd
    >>> txs = pd.DataFrame({
    ...     "txid": ["t1"], "block_height": [840_000], "tx_index": [3],
    ...     "block_time": pd.to_datetime(["2024-04-20"], utc=True),
    ...     "scripts": [["6a5d1002010487a1c3f0c0ebf7fb9d0106e807", "0014" + "00" * 20]],
    ...     "addresses": [[None, "bc1qalice"]],
    ... })
    >>> # DOGGOTOTHEMOON etched with a premine of 1000, all of it to the first payment output
    >>> decode_transactions(txs)[["rune_id", "event", "receiver", "amount", "needs_ledger"]]
        rune_id    event   receiver  amount  needs_ledger
    0  840000:3  premine  bc1qalice    1000          True
    """
    if amount_repr not in ("auto", "int64", "exact"):
        raise RunesError(f"amount_repr must be 'auto', 'int64' or 'exact', got {amount_repr!r}")
    _check_columns(txs)
    if isinstance(txs, pd.DataFrame):
        return _decode_partition(txs, first_rune_height, amount_repr)
    if not hasattr(txs, "map_partitions"):
        raise SchemaError(f"decode_transactions takes a dask or pandas DataFrame, got {type(txs).__name__}")
    repr_ = "exact" if amount_repr == "auto" else amount_repr
    return txs.map_partitions(
        _decode_partition,
        first_rune_height,
        repr_,
        meta=_empty(repr_),
    )


def _check_columns(txs: Any) -> None:
    columns = getattr(txs, "columns", None)
    if columns is None:
        raise SchemaError(f"decode_transactions takes a DataFrame of transactions, got {type(txs).__name__}")
    missing = [c for c in INPUT_COLUMNS if c != "addresses" and c not in columns]
    if missing:
        raise SchemaError(
            f"transactions frame lacks column(s) {missing}; it needs {list(INPUT_COLUMNS)} "
            "(build it with mesh_magics.runes.from_bitcoin_etl)"
        )
    for col in ("scripts", "addresses"):
        if col in columns and _is_string_dtype(txs.dtypes[col]):
            raise SchemaError(_STRINGIFIED.format(col=col))


_STRINGIFIED = (
    "column {col!r} holds strings, not lists of per-output values: dask turns object "
    "columns into strings when dask.config 'dataframe.convert-string' is on (the default "
    "for dd.from_pandas). Build the frame under dask.config.set({{'dataframe.convert-string': "
    "False}}), or read it with mesh_magics.runes.from_bitcoin_etl"
)


def _is_string_dtype(dtype: Any) -> bool:
    return isinstance(dtype, pd.StringDtype) or str(dtype) in ("str", "string")


def _empty(amount_repr: str) -> pd.DataFrame:
    dtypes = dict(DECODED_COLUMNS)
    dtypes["amount"] = "Int64" if amount_repr == "int64" else EXACT_AMOUNT_DTYPE
    df = pd.DataFrame({c: pd.Series([], dtype=t) for c, t in dtypes.items()})
    df.attrs["amount_repr"] = amount_repr
    return df


def _is_op_return(script: Any) -> bool:
    if not script:
        return False
    if isinstance(script, str):
        return script[:2] in ("6a", "6A")
    return script[0] == 0x6A


class _Rows:
    """Column lists of the events of one partition."""

    __slots__ = ("pos", "rune_id", "operation", "receiver", "amount", "event", "output",
                 "flaw", "needs_ledger")  # fmt: skip
    pos: list[int]
    rune_id: list[str | None]
    operation: list[str]
    receiver: list[Any]
    amount: list[int | None]
    event: list[str]
    output: list[int | None]
    flaw: list[str | None]
    needs_ledger: list[bool]

    def __init__(self) -> None:
        for name in self.__slots__:
            setattr(self, name, [])

    def add(self, pos: int, rune_id: str | None, operation: str, receiver: Any,
            amount: int | None, event: str, output: int | None, flaw: str | None,
            needs_ledger: bool) -> None:  # fmt: skip
        self.pos.append(pos)
        self.rune_id.append(rune_id)
        self.operation.append(operation)
        self.receiver.append(receiver)
        self.amount.append(amount)
        self.event.append(event)
        self.output.append(output)
        self.flaw.append(flaw)
        self.needs_ledger.append(needs_ledger)


def _decode_partition(df: pd.DataFrame, first_rune_height: int, amount_repr: str) -> pd.DataFrame:
    rows = _Rows()
    heights = df["block_height"].to_numpy()
    tx_indexes = df["tx_index"].to_numpy()
    addresses_col = df["addresses"] if "addresses" in df.columns else [None] * len(df)
    for pos, (height, scripts, addresses) in enumerate(zip(heights, df["scripts"], addresses_col)):
        if isinstance(scripts, str):
            raise SchemaError(_STRINGIFIED.format(col="scripts"))
        if height < first_rune_height or not hasattr(scripts, "__len__"):
            continue  # before activation, or no scripts (null)
        if runestone_output(scripts) is None:
            continue
        if not hasattr(addresses, "__len__"):
            addresses = None  # null list: receivers unknown
        elif len(addresses) != len(scripts):
            raise SchemaError(
                f"transaction {df['txid'].iloc[pos]!r}: {len(scripts)} scripts but "
                f"{len(addresses)} addresses; give one address (or None) per output"
            )
        _events(rows, pos, int(height), int(tx_indexes[pos]), scripts, addresses,
                first_rune_height)  # fmt: skip
    return _frame(df, rows, amount_repr)


def _events(rows: _Rows, pos: int, height: int, tx_index: int, scripts: Any, addresses: Any,
            first_rune_height: int) -> None:  # fmt: skip
    artifact = decipher(scripts)
    n_outputs = len(scripts)
    minimum = minimum_rune_at_height(height, first_rune_height)

    def can_etch(rune: int) -> bool:
        return minimum <= rune < RESERVED_RUNE

    def receiver(output: int) -> Any:
        if addresses is None or output >= n_outputs:
            return None
        return addresses[output]

    if isinstance(artifact, Cenotaph):
        flaw = artifact.flaw
        if artifact.etching is not None and can_etch(artifact.etching):
            rows.add(pos, f"{height}:{tx_index}", "etching", None, 0, "premine", None, flaw, True)
        if artifact.mint is not None:
            mint_id = f"{artifact.mint[0]}:{artifact.mint[1]}"
            rows.add(pos, mint_id, "burn", None, None, "mint_request", None, flaw, True)
        rows.add(pos, None, "burn", None, None, "cenotaph", None, flaw, True)
        return
    assert artifact is not None  # runestone_output() found a candidate
    etched = (height, tx_index)
    etching = artifact.etching
    if etching is not None and (etching.rune is None or can_etch(etching.rune)):
        named = etching.rune is not None
        premine = etching.premine or 0
        if premine == 0:
            rows.add(pos, f"{height}:{tx_index}", "etching", None, 0, "premine", None, None, named)
        else:
            for output, amount in _allocate_premine(artifact, etched, premine, scripts):
                burn = output is None or _is_op_return(scripts[output])
                to = None if burn or output is None else receiver(output)
                rows.add(pos, f"{height}:{tx_index}", "burn" if burn else "etching", to, amount,
                         "premine", output, None, named)  # fmt: skip
    if artifact.mint is not None:
        mint_id = f"{artifact.mint[0]}:{artifact.mint[1]}"
        rows.add(pos, mint_id, "mint", None, None, "mint_request", None, None, True)
    for edict in artifact.edicts:
        rune = (edict.block, edict.tx)
        if rune == (0, 0) or rune == etched:
            continue  # the etched rune: already resolved into premine rows (or a no-op)
        burn = edict.output < n_outputs and _is_op_return(scripts[edict.output])
        rows.add(pos, f"{edict.block}:{edict.tx}", "burn" if burn else "send",
                 None if burn else receiver(edict.output), edict.amount or None, "edict",
                 edict.output, None, True)  # fmt: skip


def _allocate_premine(
    runestone: Any, etched: tuple[int, int], premine: int, scripts: Any
) -> list[tuple[int | None, int]]:
    """Where the premine goes: ``[(output or None for burned, amount)]``, in ord's order."""
    n_outputs = len(scripts)
    allocated: dict[int, int] = {}
    balance = premine

    def allocate(output: int, amount: int) -> None:
        nonlocal balance
        if amount > 0:
            balance -= amount
            allocated[output] = allocated.get(output, 0) + amount

    for edict in runestone.edicts:
        if (edict.block, edict.tx) not in ((0, 0), etched):
            continue
        if edict.output == n_outputs:
            destinations = [i for i, s in enumerate(scripts) if not _is_op_return(s)]
            if not destinations:
                continue
            if edict.amount == 0:
                share, remainder = divmod(balance, len(destinations))
                for k, output in enumerate(destinations):
                    allocate(output, share + 1 if k < remainder else share)
            else:
                for output in destinations:
                    allocate(output, min(edict.amount, balance))
        else:
            allocate(edict.output, balance if edict.amount == 0 else min(edict.amount, balance))
    result: list[tuple[int | None, int]] = sorted(allocated.items())
    if balance > 0:
        target = runestone.pointer
        if target is None:
            target = next((i for i, s in enumerate(scripts) if not _is_op_return(s)), None)
        if target is None:
            result.append((None, balance))
        else:
            allocated[target] = allocated.get(target, 0) + balance
            result = sorted(allocated.items())
    return result


def _frame(df: pd.DataFrame, rows: _Rows, amount_repr: str) -> pd.DataFrame:
    pos = rows.pos
    if amount_repr == "auto":
        fits = all(a is None or a <= INT64_MAX for a in rows.amount)
        amount_repr = "int64" if fits else "exact"
    if amount_repr == "int64":
        too_big = next((a for a in rows.amount if a is not None and a > INT64_MAX), None)
        if too_big is not None:
            raise RunesError(
                f"amount {too_big} does not fit int64; decode with amount_repr='exact' "
                "(Python ints in an object column) to keep it exact"
            )
        amount = pd.array(rows.amount, dtype="Int64")
    else:
        amount = pd.Series(rows.amount, dtype=EXACT_AMOUNT_DTYPE).to_numpy()
    block_time = pd.to_datetime(df["block_time"].iloc[pos], utc=True)
    out = pd.DataFrame(
        {
            "block_height": pd.array(df["block_height"].to_numpy()[pos], dtype="int64"),
            "block_time": block_time.astype("datetime64[ns, UTC]").array,
            "txid": pd.array(df["txid"].iloc[pos].to_numpy(), dtype="string"),
            "rune_id": pd.array(rows.rune_id, dtype="string"),
            "operation": pd.array(rows.operation, dtype="string"),
            "sender": pd.array([None] * len(pos), dtype="string"),
            "receiver": pd.array(rows.receiver, dtype="string"),
            "amount": amount,
            "event": pd.array(rows.event, dtype="string"),
            "output": pd.array(rows.output, dtype="Int64"),
            "flaw": pd.array(rows.flaw, dtype="string"),
            "needs_ledger": pd.array(rows.needs_ledger, dtype="bool"),
        }
    )
    out.attrs["amount_repr"] = amount_repr
    return out

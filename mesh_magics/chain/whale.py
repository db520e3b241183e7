"""BTC whale queries on the chain tables: large transactions, the flows between addresses, balances.

* :func:`whale_transactions` — transactions moving at least ``min_btc`` (input or output
  value), largest first;
* :func:`whale_flows` — within those transactions, value from input addresses to output
  addresses, summed per (sender, receiver) and largest first. A transaction's value is
  split first-in-first-out, as ordinal theory moves sats: input *i* covers the value
  range ``[sum of earlier inputs, + its value)``, output *j* likewise, and the flow from
  *i*'s address to *j*'s is the overlap, so amounts stay exact integers and what the fee
  takes is nobody's; change back to a sender's own address is left out unless asked;
* :func:`balance_history` — per address, the value received and spent at each height
  where it moved, and the running balance. It counts from the first block read:
  absolute when the tables start at genesis, a change since ``start`` otherwise (spends
  of older coins still count: undo data gives their values).

Values are satoshis (int64, exact; BTC totals fit far below 2^63). Everything runs on
the workers, partition by partition (the tables are partitioned alike: a transaction's
inputs and outputs are in the same partition number), and only the result comes back.
The backend follows dask's ``dataframe.backend`` (``pandas``, or ``cudf`` where RAPIDS
is installed; then only the columns a query needs, none binary, are moved to the GPU);
``backend=`` overrides it. Results are pandas.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import pandas as pd
import pyarrow as pa

from ..errors import ChainError

__all__ = ["balance_history", "sats", "whale_flows", "whale_transactions"]

_KEY = ["height", "tx_index"]


def sats(btc: float | int | str | Decimal) -> int:
    """``btc`` in satoshis, exactly (``"0.1"`` and ``0.1`` both give 10,000,000)."""
    value = Decimal(str(btc)) * 100_000_000
    if value != value.to_integral_value() or value < 0:
        raise ChainError(f"{btc} BTC is not a whole, non-negative number of satoshis")
    return int(value)


def _frames(
    tables: Any, names: Iterable[str], columns: dict[str, list[str]], backend: str | None
) -> list[Any]:
    """The dask frames ``names`` of ``tables`` (ChainTables, or frames in memory), on ``backend``."""
    import dask
    import dask.dataframe as dd

    backend = backend or dask.config.get("dataframe.backend", "pandas")
    if backend not in ("pandas", "cudf"):
        raise ChainError(f"backend must be 'pandas' or 'cudf', not {backend!r}")
    out = []
    for name in names:
        frame = getattr(tables, name)
        if isinstance(frame, pd.DataFrame):
            frame = dd.from_pandas(frame, npartitions=1)
        frame = frame[columns[name]]
        if backend == "cudf" and type(frame._meta).__module__.split(".")[0] != "cudf":
            frame = frame.map_partitions(_to_cudf, meta=_to_cudf(frame._meta))
        out.append(frame)
    if len({f.npartitions for f in out}) != 1:
        raise ChainError(
            "the chain tables are not partitioned alike: use tables from chain.read or chain.open"
        )
    return out


def _to_cudf(part: pd.DataFrame) -> Any:
    try:
        import cudf
    except ImportError:
        raise ChainError(
            "backend='cudf' needs RAPIDS cuDF (pip install mesh-magics[gpu]) and a GPU"
        ) from None
    return cudf.DataFrame.from_arrow(pa.Table.from_pandas(part, preserve_index=False))


def _host(result: Any) -> pd.DataFrame:
    return (
        result.to_pandas()
        if hasattr(result, "to_pandas") and not isinstance(result, pd.DataFrame)
        else result
    )


def _whales(txs: Any, threshold: int, by: str, coinbase: bool) -> Any:
    out_big = txs["output_value"] >= threshold
    in_big = txs["input_value"].fillna(0) >= threshold
    cond = {"either": out_big | in_big, "output": out_big, "input": in_big}[by]
    if not coinbase:
        cond = cond & ~txs["is_coinbase"]
    return txs[cond.fillna(False)]


_TX_COLS = [
    "height",
    "tx_index",
    "txid",
    "n_in",
    "n_out",
    "input_value",
    "output_value",
    "fee",
    "is_coinbase",
]


def whale_transactions(tables: Any, min_btc: float | str = 1000, *, by: str = "either", coinbase: bool = False,
                       top: int | None = None, backend: str | None = None) -> pd.DataFrame:  # fmt: skip
    """Transactions moving at least ``min_btc``: by ``"input"`` or ``"output"`` value, or ``"either"``.

    Coinbases are left out unless ``coinbase=True``. Columns: height, tx_index, txid,
    n_in, n_out, input_value, output_value, fee, is_coinbase, value (the larger of input
    and output value); largest first, the ``top`` of them if given.
    """
    if by not in ("either", "input", "output"):
        raise ChainError(f"by must be 'either', 'input' or 'output', not {by!r}")
    (txs,) = _frames(tables, ["txs"], {"txs": _TX_COLS}, backend)
    found = _host(_whales(txs, sats(min_btc), by, coinbase).compute())
    found = found.assign(
        value=found[["input_value", "output_value"]].max(axis=1).astype(found["output_value"].dtype)
    )
    found = found.sort_values(
        ["value", "height", "tx_index"], ascending=[False, True, True], ignore_index=True
    )
    return found.head(top) if top is not None else found


def _flows(txs: Any, ins: Any, outs: Any, threshold: int, include_change: bool) -> Any:
    """The FIFO flows of one partition's whale transactions, per (sender, receiver)."""
    w = _whales(txs, threshold, "either", False)
    w = w[w["input_value"].notna()][_KEY]
    i = ins.merge(w, on=_KEY).sort_values(_KEY + ["vin"])
    o = outs.merge(w, on=_KEY).sort_values(_KEY + ["vout"])
    i = i.assign(_ie=i.groupby(_KEY)["prev_value"].cumsum())
    i = i.assign(_is=i["_ie"] - i["prev_value"])
    o = o.assign(_oe=o.groupby(_KEY)["value"].cumsum())
    o = o.assign(_os=o["_oe"] - o["value"])
    pairs = i[_KEY + ["prev_address", "_is", "_ie"]].merge(o[_KEY + ["address", "_os", "_oe"]], on=_KEY)
    end = pairs["_ie"].where(pairs["_ie"] < pairs["_oe"], pairs["_oe"])
    start = pairs["_is"].where(pairs["_is"] > pairs["_os"], pairs["_os"])
    pairs = pairs.assign(amount=end - start)
    pairs = pairs[(pairs["amount"] > 0).fillna(False)]
    pairs = pairs[pairs["prev_address"].notna() & pairs["address"].notna()]
    if not include_change:
        pairs = pairs[pairs["prev_address"] != pairs["address"]]
    per_tx = pairs.groupby(["prev_address", "address"] + _KEY, as_index=False)["amount"].sum()
    per_tx = per_tx.assign(n_tx=1)
    return per_tx.groupby(["prev_address", "address"], as_index=False)[["amount", "n_tx"]].sum()


def whale_flows(tables: Any, min_btc: float | str = 1000, *, top: int | None = 100, include_change: bool = False,
                backend: str | None = None) -> pd.DataFrame:  # fmt: skip
    """The largest flows between addresses in transactions of at least ``min_btc`` (see the module doc).

    Columns: sender, receiver, amount (satoshis, exact), n_tx (whale transactions with
    this flow); largest first. Transactions whose prevouts are unknown (no undo data)
    are left out; so are outputs without an address (OP_RETURN, bare scripts).
    """
    import dask.dataframe as dd

    cols = {
        "txs": ["height", "tx_index", "input_value", "output_value", "is_coinbase"],
        "inputs": ["height", "tx_index", "vin", "prev_address", "prev_value"],
        "outputs": ["height", "tx_index", "vout", "address", "value"],
    }
    txs, ins, outs = _frames(tables, ["txs", "inputs", "outputs"], cols, None if backend is None else backend)
    meta = _flows(txs._meta, ins._meta, outs._meta, 0, include_change)
    parts = dd.map_partitions(
        _flows, txs, ins, outs, sats(min_btc), include_change, meta=meta, align_dataframes=False
    )
    total = _host(
        parts.groupby(["prev_address", "address"])[["amount", "n_tx"]].sum().compute()
    ).reset_index()
    total = total.rename(columns={"prev_address": "sender", "address": "receiver"})
    total = total.sort_values(
        ["amount", "sender", "receiver"], ascending=[False, True, True], ignore_index=True
    )
    return total.head(top) if top is not None else total


def balance_history(tables: Any, addresses: Iterable[str], *, backend: str | None = None) -> pd.DataFrame:
    """Per address and height where it moved: received, sent, delta and the running balance (see the module doc)."""
    want = sorted(set(addresses))
    if not want:
        raise ChainError("balance_history needs at least one address")
    cols = {"inputs": ["height", "prev_address", "prev_value"], "outputs": ["height", "address", "value"]}
    ins, outs = _frames(tables, ["inputs", "outputs"], cols, backend)
    got = outs[outs["address"].isin(want)].groupby(["address", "height"])["value"].sum()
    gave = ins[ins["prev_address"].isin(want)].groupby(["prev_address", "height"])["prev_value"].sum()
    import dask

    got, gave = (_host(x) for x in dask.compute(got, gave))
    got, gave = _series(got), _series(gave)
    gave.index = gave.index.set_names(["address", "height"])
    frame = pd.DataFrame({"received": got, "sent": gave}).fillna(0).astype("int64").reset_index()
    frame = frame.sort_values(["address", "height"], ignore_index=True)
    frame["delta"] = frame["received"] - frame["sent"]
    frame["balance"] = frame.groupby("address")["delta"].cumsum()
    return frame


def _series(s: Any) -> pd.Series:
    s = s.to_pandas() if hasattr(s, "to_pandas") and not isinstance(s, pd.Series) else s
    return s.astype("int64")

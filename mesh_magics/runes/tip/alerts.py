"""Whale alerts of a followed chain: :class:`AlertRules` and the ``alerts`` table.

Two rules, each off when its threshold is None:

* **rune**: a row of the ledger's ``transfers`` whose operation is one of ``operations``
  (default ``send``) and whose amount is at least ``min_share`` of its rune's supply. As
  the whale suite's Q1 (``whale_transfers``) compares, exactly: the threshold is
  ⌈min_share · supply⌉ with ``min_share`` taken as the exact value of the float, and the
  supply is the rune's supply after the block (premine + mints × amount so far). A row is
  one (transaction, rune, sender, receiver) movement, as ``transfers`` has it; change (a
  row whose sender is its receiver) does not alert unless ``include_change``.
* **btc**: a transaction moving at least ``min_btc`` (input or output value, coinbases
  left out): the rule of :func:`mesh_magics.chain.whale_transactions`, which finds them.

``alerts`` columns (:data:`ALERT_COLUMNS`): ``kind`` (``rune`` | ``btc``), ``block_height``,
``block_hash``, ``block_time`` (UTC), ``txid``, ``rune_id``, ``rune`` (the spaced name),
``symbol``, ``divisibility``, ``amount`` (raw units, or satoshis for ``btc``; exact Python
ints), ``supply`` (exact), ``share`` (amount / supply as a float, for display; null for
``btc``), ``sender``, ``receiver``. Rune alerts of a block come first, in ``transfers``
order, then its BTC alerts, largest first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import pandas as pd

from ...errors import LedgerError, named

__all__ = [
    "ALERT_COLUMNS",
    "AlertRules",
    "alert_line",
    "btc_alerts",
    "display_rows",
    "format_units",
    "rune_alerts",
]

ALERT_COLUMNS = [
    "kind", "block_height", "block_hash", "block_time", "txid", "rune_id", "rune", "symbol", "divisibility",
    "amount", "supply", "share", "sender", "receiver",
]  # fmt: skip


@dataclass(frozen=True)
class AlertRules:
    """What alerts (see the module doc): ``min_share`` of supply for rune transfers, ``min_btc``
    for BTC transactions; None turns a rule off."""

    min_share: float | None = 0.01
    min_btc: float | str | None = 100
    operations: tuple[str, ...] = ("send",)
    include_change: bool = False

    def __post_init__(self) -> None:
        share: Any = self.min_share
        if share is not None and not (isinstance(share, (int, float)) and 0 < share <= 1):
            raise LedgerError(named("{min_share} must be a share of supply in (0, 1], not {v!r}", v=share))
        if self.min_btc is not None:
            from ...chain.whale import sats

            try:
                sats(self.min_btc)
            except Exception:
                raise LedgerError(
                    f"min_btc must be a non-negative amount of BTC, not {self.min_btc!r}"
                ) from None
        unknown = set(self.operations) - {"send", "mint", "etching", "burn"}
        if unknown:
            raise LedgerError(
                f"operations: {sorted(unknown)} are not transfers operations (send, mint, etching, burn)"
            )

    @classmethod
    def of(cls, alerts: Any) -> AlertRules:
        """``alerts`` as rules: AlertRules, a dict of its fields, or None/False (no alerts)."""
        if isinstance(alerts, AlertRules):
            return alerts
        if alerts is None or alerts is False:
            return cls(None, None)
        if isinstance(alerts, Mapping):
            unknown = set(alerts) - {"min_share", "min_btc", "operations"}
            if unknown:
                raise LedgerError(
                    f"alerts: unknown rule(s) {sorted(unknown)}; known: min_share, min_btc, operations"
                )
            fields: dict[str, Any] = {k: tuple(v) if k == "operations" else v for k, v in alerts.items()}
            return cls(**fields)
        raise LedgerError(
            f"alerts: give AlertRules, a dict such as {{'min_share': 0.01}}, or None; not {alerts!r}"
        )


def empty_alerts() -> pd.DataFrame:
    return _frame([])


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=ALERT_COLUMNS)
    for col in ("block_height", "divisibility"):
        df[col] = pd.array(df[col].tolist(), dtype="Int64")
    for col in ("amount", "supply"):  # exact: Python ints
        df[col] = pd.Series([None if v is None else int(v) for v in df[col].tolist()], dtype=object)
    df["share"] = pd.array([None if v is None else float(v) for v in df["share"].tolist()], dtype="Float64")
    df["block_time"] = pd.to_datetime(df["block_time"], utc=True)
    for col in ("kind", "block_hash", "txid", "rune_id", "rune", "symbol", "sender", "receiver"):
        df[col] = pd.array(
            [None if v is None or v is pd.NA else str(v) for v in df[col].tolist()], dtype="string"
        )
    return df


def _value(v: Any) -> Any:
    return None if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) else v


def rune_alerts(transfers: pd.DataFrame, runes: pd.DataFrame, rules: AlertRules,
                hashes: Mapping[int, str | None]) -> pd.DataFrame:  # fmt: skip
    """The rune alerts among ``transfers`` (pandas), with supplies from ``runes`` (module doc)."""
    if rules.min_share is None or transfers.empty:
        return empty_alerts()
    share = Fraction(rules.min_share)
    info = {
        rid: (name, _value(sym), int(div), int(sup))
        for rid, name, sym, div, sup in zip(runes["rune_id"].tolist(), runes["name"].tolist(), runes["symbol"].tolist(),
                                            runes["divisibility"].tolist(), runes["supply"].tolist())
    }  # fmt: skip
    rows = []
    cols = ("block_height", "block_time", "txid", "rune_id", "operation", "sender", "receiver", "amount")
    for h, when, txid, rid, op, sender, receiver, amount in zip(*(transfers[c].tolist() for c in cols)):
        if op not in rules.operations or rid not in info:
            continue
        if not rules.include_change and sender is not None and sender is not pd.NA and sender == receiver:
            continue
        name, symbol, div, supply = info[rid]
        amount = int(amount)
        if amount < math.ceil(share * supply):
            continue
        rows.append({
            "kind": "rune", "block_height": int(h), "block_hash": hashes.get(int(h)), "block_time": when,
            "txid": txid, "rune_id": rid, "rune": name, "symbol": symbol, "divisibility": div, "amount": amount,
            "supply": supply, "share": float(Fraction(amount, supply)) if supply else None,
            "sender": _value(sender), "receiver": _value(receiver),
        })  # fmt: skip
    return _frame(rows)


def btc_alerts(tables: Any, rules: AlertRules, hashes: Mapping[int, str | None]) -> pd.DataFrame:
    """The BTC alerts of chain ``tables`` (:func:`mesh_magics.chain.whale_transactions`)."""
    if rules.min_btc is None:
        return empty_alerts()
    from ...chain.whale import whale_transactions

    found = whale_transactions(tables, rules.min_btc)
    if found.empty:
        return empty_alerts()
    times = _block_times(tables, set(found["height"].tolist()))
    rows = [
        {
            "kind": "btc", "block_height": int(h), "block_hash": hashes.get(int(h)), "block_time": times.get(int(h)),
            "txid": txid, "rune_id": None, "rune": None, "symbol": "₿", "divisibility": 8, "amount": int(value),
            "supply": None, "share": None, "sender": None, "receiver": None,
        }
        for h, txid, value in zip(found["height"].tolist(), found["txid"].tolist(), found["value"].tolist())
    ]  # fmt: skip
    return _frame(rows)


def _block_times(tables: Any, heights: set[int]) -> dict[int, Any]:
    blocks = tables.blocks if hasattr(tables, "blocks") else tables["blocks"]
    blocks = blocks[["height", "time"]]
    blocks = blocks.compute() if hasattr(blocks, "npartitions") else blocks
    return {
        int(h): pd.Timestamp(int(t), unit="s", tz="UTC")
        for h, t in zip(blocks["height"].tolist(), blocks["time"].tolist())
        if int(h) in heights
    }


def merge(*frames: pd.DataFrame) -> pd.DataFrame:
    """Alert frames as one, by block (stable: rune alerts before BTC alerts of a block)."""
    parts = [f for f in frames if not f.empty]
    if not parts:
        return empty_alerts()
    out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    out = out.sort_values("block_height", kind="stable").reset_index(drop=True)
    for col in ("amount", "supply"):
        out[col] = out[col].astype(object)
    return out


def format_units(amount: int, divisibility: int) -> str:
    """Raw units as a decimal with ``divisibility`` places and thousands separators, exactly."""
    sign, digits = ("-" if amount < 0 else ""), str(abs(int(amount)))
    if divisibility <= 0:
        return f"{sign}{int(digits):,}"
    digits = digits.rjust(divisibility + 1, "0")
    whole, frac = digits[:-divisibility], digits[-divisibility:]
    return f"{sign}{int(whole):,}.{frac}"


def display_rows(alerts: pd.DataFrame) -> list[dict[str, Any]]:
    """The alerts as the table widget shows them: strings, newest block first."""
    out = []
    for row in alerts.iloc[::-1].to_dict("records"):
        btc = row["kind"] == "btc"
        div = int(row["divisibility"]) if _value(row["divisibility"]) is not None else 0
        symbol = _value(row["symbol"])
        amount = format_units(int(row["amount"]), div) + (
            f" {'BTC' if btc else symbol}" if symbol or btc else ""
        )
        share = _value(row["share"])
        out.append({
            "kind": row["kind"], "block": int(row["block_height"]), "rune": "BTC" if btc else row["rune"],
            "amount": amount, "share": "" if share is None else f"{share:.2%}", "txid": row["txid"],
            "sender": _value(row["sender"]) or "", "receiver": _value(row["receiver"]) or "",
        })  # fmt: skip
    return out


def alert_line(row: Mapping[str, Any]) -> str:
    """One alert as a line of text (the run history's output tail), from a :func:`display_rows` row."""
    what = f"{row['rune']} {row['amount']}" + (f" ({row['share']} of supply)" if row["share"] else "")
    who = f" {row['sender'] or '?'} -> {row['receiver'] or '?'}" if row["kind"] == "rune" else ""
    return f"block {row['block']} {row['kind']} alert: {what} tx {row['txid']}{who}"

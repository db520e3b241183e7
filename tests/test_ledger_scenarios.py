"""ord's own ledger tests, as data (../shared/ledger_scenarios_public.json): each scenario's block
list through :func:`mesh_magics.runes.index_blocks` gives exactly the rune entries and balances
ord's last assertion states."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from _shared import shared_path

from mesh_magics.runes import index_blocks

SCENARIOS = shared_path("ledger_scenarios_public.json")


def _scenarios() -> list[dict]:
    return json.loads(SCENARIOS.read_text())


def _value(v):
    return None if v is None or v is pd.NA else v


def _terms(row: dict) -> dict | None:
    keys = ("terms_amount", "terms_cap", "terms_height_start", "terms_height_end",
            "terms_offset_start", "terms_offset_end")  # fmt: skip
    if all(_value(row[k]) is None for k in keys):
        return None  # (ord: terms absent; a Terms with every field absent would need a flag column)
    text = lambda v: None if _value(v) is None else str(v)  # noqa: E731
    return {
        "cap": text(row["terms_cap"]),
        "amount": text(row["terms_amount"]),
        "height": [_value(row["terms_height_start"]), _value(row["terms_height_end"])],
        "offset": [_value(row["terms_offset_start"]), _value(row["terms_offset_end"])],
    }


def _rune(row: dict) -> dict:
    return {
        "rune_id": row["rune_id"],
        "name": row["rune"],
        "spaced_name": row["name"],
        "divisibility": int(row["divisibility"]),
        "symbol": _value(row["symbol"]),
        "premine": str(row["premine"]),
        "mints": int(row["mints"]),
        "burned": str(row["burned"]),
        "terms": _terms(row),
        "turbo": bool(row["turbo"]),
        "number": int(row["number"]),
        "etching_txid": row["etching_txid"],
        "block": int(row["block"]),
        "timestamp": int(row["timestamp"].timestamp()),
    }


@pytest.mark.parametrize("scenario", _scenarios(), ids=lambda s: s["name"])
def test_scenario(scenario):
    result = index_blocks(scenario["blocks"], scenario["network"])
    runes = [_rune(r) for r in result.runes.astype(object).to_dict("records")]
    assert runes == scenario["expect"]["runes"]
    balances = sorted(
        {"txid": t, "vout": int(v), "rune_id": r, "amount": str(a)}.items()
        for t, v, r, a in zip(
            result.balances.txid, result.balances.vout, result.balances.rune_id, result.balances.amount
        )  # fmt: skip
    )
    assert balances == sorted(b.items() for b in scenario["expect"]["balances"])


def test_all_fifteen_are_here():
    assert len(_scenarios()) == 15

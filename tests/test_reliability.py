"""The quick cases of the fault/load/bad-input/security suite (benchmarks/faults.py), as tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from reliability import load_all, run_case  # noqa: E402

QUICK = sorted(name for name, c in load_all().items() if c.quick)


@pytest.mark.parametrize("name", QUICK)
def test_quick_case(name):
    row = run_case(load_all()[name], quick=True)
    if row["status"] == "skipped":
        pytest.skip(row["figure"])
    assert row["status"] == "ok", f"{row['figure']}\n{row['data'].get('traceback', '')}"

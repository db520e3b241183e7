"""The fault, load, bad-input and security suite, with figures.

Every case uses real processes, files and sockets (see ``benchmarks/reliability``).
Prints a table (category, case, outcome, figure) and writes JSON under
``benchmarks/results/``. RELIABILITY.md records the figures.

    python benchmarks/faults.py                 # every case (about 7 minutes on 2 cores)
    python benchmarks/faults.py --quick         # the quick cases only (they are tests too)
    python benchmarks/faults.py --only surrogate --only sigstop
    python benchmarks/faults.py --category security
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))


def main(argv: list[str] | None = None) -> int:
    from reliability import CATEGORIES, load_all, run_case

    p = argparse.ArgumentParser(prog="python benchmarks/faults.py")
    p.add_argument("--quick", action="store_true", help="quick cases only, in their short form")
    p.add_argument("--only", action="append", default=[], help="cases whose name contains this")
    p.add_argument("--category", choices=CATEGORIES, action="append")
    p.add_argument("--out", type=Path, default=HERE / "results" / "faults.json")
    a = p.parse_args(argv)
    cases = [
        c
        for c in load_all().values()
        if (not a.quick or c.quick)
        and (not a.only or any(o in c.name for o in a.only))
        and (not a.category or c.category in a.category)
    ]
    rows = []
    print(f"{'category':<10} {'case':<52} {'outcome':<8} {'s':>6}  figure", flush=True)
    for c in cases:
        r = run_case(c, a.quick)
        rows.append(r)
        print(
            f"{r['category']:<10} {r['case']:<52} {r['status']:<8} {r['seconds']:>6.1f}  {r['figure']}",
            flush=True,
        )
    failed = [r["case"] for r in rows if r["status"] == "FAILED"]
    summary = {s: sum(r["status"] == s for r in rows) for s in ("ok", "skipped", "FAILED")}
    print(f"\n{summary['ok']} ok, {summary['FAILED']} failed, {summary['skipped']} skipped", flush=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "quick": a.quick,
        "summary": summary,
        "cases": rows,
    }
    a.out.write_text(json.dumps(record, indent=1, default=str))
    print(f"written {a.out}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

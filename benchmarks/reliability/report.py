"""RELIABILITY.md's tables from a ``benchmarks/faults.py`` JSON record.

python benchmarks/reliability/report.py benchmarks/results/faults.json > /tmp/tables.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TITLES = {"fault": "Faults", "load": "Load", "bad-input": "Bad input", "security": "Security"}


def _printable(text: str) -> str:
    """A figure as one Markdown line: control characters (a case prints them on purpose) escaped."""
    return "".join(ch if ch.isprintable() else " " if ch == "\n" else f"\\x{ord(ch):02x}" for ch in text)


def render(record: dict) -> str:
    out = [f"Run {record['when']} on {record['machine']['cpus']} CPUs, Python {record['machine']['python']}"
           + (" (quick forms)" if record.get("quick") else "") + ".", ""]  # fmt: skip
    s = record["summary"]
    out += [f"**{s['ok']} ok, {s['FAILED']} failed, {s['skipped']} skipped.**", ""]
    for cat, title in TITLES.items():
        rows = [c for c in record["cases"] if c["category"] == cat]
        if not rows:
            continue
        out += [
            f"### {title} ({len(rows)} cases)",
            "",
            "| case | outcome | s | figure |",
            "|---|---|---|---|",
        ]
        for c in rows:
            figure = _printable(c["figure"]).replace("|", "\\|")
            out.append(f"| `{c['case']}` | {c['status']} | {c['seconds']:.1f} | {figure} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(render(json.loads(Path(sys.argv[1]).read_text())))

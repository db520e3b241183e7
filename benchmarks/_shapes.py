"""Dataset shapes of the whale-suite matrix (used by the benchmarks, not by the library).

A shape is named ``r{runes}-a{addresses}-{share}-f{files}``, e.g. ``r200-a1M-zipf-f16``:
runes, the address pool (``k`` / ``M`` suffixes), how rows are shared across runes
(``uniform``, ``zipf`` with s = 1.1, or the generator's ``default``) and the number of
Parquet files. The full matrix of issue #17 is every combination of
:data:`RUNES` × :data:`ADDRESSES` × :data:`SHARES` × :data:`FILES` at 10M rows (72 cells);
:data:`SAMPLE` is the part of it that fits a session on 2 cores, chosen to hold its corners.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

__all__ = ["ADDRESSES", "FILES", "FULL", "RUNES", "SAMPLE", "SHARES", "Shape", "parse", "summary"]

RUNES = (40, 200, 2_000, 20_000)
ADDRESSES = (100_000, 1_000_000, 5_000_000)
SHARES = ("uniform", "zipf")
FILES = (8, 16, 64)

#: the sample run by ``--matrix``: the skewed corner (200 runes, Zipf), the many-runes corner
#: (20 000), the few-runes heavy-skew corner (40, Zipf), small and large address pools, all
#: three file counts
SAMPLE = (
    "r200-a1M-zipf-f16",
    "r20000-a1M-uniform-f16",
    "r40-a100k-zipf-f8",
    "r2000-a5M-uniform-f64",
    "r20000-a5M-zipf-f64",
    "r2000-a100k-zipf-f16",
)


def _num(text: str) -> int:
    mult = {"": 1, "k": 1_000, "M": 1_000_000}[text[-1] if text[-1] in "kM" else ""]
    return int(text.rstrip("kM")) * mult


def _name(n: int) -> str:
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n % 1_000 == 0 and n >= 100_000:
        return f"{n // 1_000}k"
    return str(n)


@dataclass(frozen=True)
class Shape:
    runes: int
    addresses: int
    share: str
    files: int
    zipf_s: float = 1.1

    @property
    def name(self) -> str:
        return f"r{self.runes}-a{_name(self.addresses)}-{self.share}-f{self.files}"


_PATTERN = re.compile(r"^r(\d+[kM]?)-a(\d+[kM]?)-(uniform|zipf|default)-f(\d+)$")


def parse(name: str) -> Shape:
    """A :class:`Shape` from its name; ``ValueError`` names the expected form."""
    m = _PATTERN.match(name.strip())
    if not m:
        raise ValueError(f"shape {name!r}: expected r<runes>-a<addresses>-<uniform|zipf|default>-f<files>")
    return Shape(_num(m[1]), _num(m[2]), m[3], int(m[4]))


FULL = tuple(Shape(r, a, s, f).name for r, a, s, f in itertools.product(RUNES, ADDRESSES, SHARES, FILES))


def summary(cells: list[dict]) -> str:
    """One line per shape: totals per engine, mesh/peer, the worst single-query ratio, peak RSS."""
    head = (
        f"{'shape':<24}{'mesh':>8}{'duckdb':>8}{'polars':>8}{'m/duck':>8}{'m/pol':>7}"
        f"{'worst q/pol':>13}{'rss mesh MiB':>14}{'duck':>6}{'pol':>6}"
    )
    lines = [head]
    for c in cells:
        tot = {e: sum(r["times"].values()) for e, r in c["warm"].items()}
        mesh = c["warm"].get("mesh")
        line = f"{c['shape']:<24}" + "".join(
            f"{tot.get(e, float('nan')):8.2f}" for e in ("mesh", "duckdb", "polars")
        )
        line += f"{tot['mesh'] / tot['duckdb'] if 'duckdb' in tot else float('nan'):8.2f}"
        line += f"{tot['mesh'] / tot['polars'] if 'polars' in tot else float('nan'):7.2f}"
        if mesh and "polars" in c["warm"]:
            p = c["warm"]["polars"]["times"]
            q, worst = max(((q, mesh["times"][q] / p[q]) for q in p), key=lambda x: x[1])
            line += f"{f'{q} {worst:.2f}':>13}"
        else:
            line += f"{'':>13}"
        if mesh:
            rss = mesh["client_peak_rss_mib"] + sum(mesh["worker_peak_rss_mib"].values())
            line += f"{rss:14.0f}"
        for e in ("duckdb", "polars"):
            line += f"{c['warm'][e]['peak_rss_mib']:6.0f}" if e in c["warm"] else f"{'':>6}"
        lines.append(line)
    return "\n".join(lines)

"""OP_RETURN scripts decoded per second: the mesh (2 workers) beside one process.

The scripts are a realistic mix of OP_RETURN outputs: most carry other
protocols' data (witness commitments, Omni, plain text), some are runestones
(mints, edicts, etchings with terms) and some are cenotaphs (bad varints,
unknown even tags, stray opcodes). They are drawn from a pool of distinct
scripts built with the project's encoder, generated on the workers
(``dd.from_map``) and persisted before the clock starts: the figure is decoding
(:func:`mesh_magics.runes.decode.scan.decode_scripts` per partition, counting kinds),
not generation. Prints a table and writes JSON under benchmarks/results/.

Usage::

    .venv/bin/python benchmarks/decode_throughput.py [--scripts 20_000_000] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

MIX = {"other": 0.80, "runestone": 0.15, "cenotaph": 0.05}


def _pool(rng: np.random.Generator) -> dict[str, list[str]]:
    from mesh_magics.runes.protocol import script as _script
    from mesh_magics.runes.protocol import varint as _varint

    def rs(*ints: int) -> str:
        return (b"\x6a\x5d" + _script.push_data(b"".join(_varint.encode(i) for i in ints))).hex()

    def r(lo: int, hi: int) -> int:
        return int(rng.integers(lo, hi))

    other = [("6a24aa21a9ed" + rng.bytes(32).hex()) for _ in range(300)]  # witness commitments
    other += [("6a146f6d6e69" + rng.bytes(16).hex()) for _ in range(100)]  # Omni
    other += ["6a" + bytes([n]).hex() + rng.bytes(n).hex() for n in rng.integers(1, 75, 200)]
    runestones = [rs(20, r(840_000, 900_000), 20, r(0, 3000)) for _ in range(300)]  # mints
    runestones += [rs(0, r(840_000, 900_000), r(0, 3000), r(1, 10**12), 0) for _ in range(300)]  # edicts
    runestones += [
        rs(
            2,
            3,
            4,
            r(10**15, 10**18),
            1,
            r(0, 10),
            5,
            0x41,
            6,
            r(0, 10**18) * 100,
            10,
            r(1, 10**6),
            8,
            r(1, 10**6),
        )
        for _ in range(200)
    ]  # etchings with terms
    cenotaphs = ["6a5d01ff", "6a5d0b00"] + [rs(126, r(0, 99)) for _ in range(100)]
    cenotaphs += [rs(0, 1, 2) for _ in range(20)] + ["6a5d" + "6a" for _ in range(5)]
    return {"other": other, "runestone": runestones, "cenotaph": cenotaphs}


def _partition(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng([seed])
    pool = _pool(np.random.default_rng(0))
    kinds = rng.choice(list(MIX), size=n, p=list(MIX.values()))
    out = np.empty(n, dtype=object)
    for k, scripts in pool.items():
        where = np.flatnonzero(kinds == k)
        out[where] = np.asarray(scripts, dtype=object)[rng.integers(0, len(scripts), len(where))]
    return pd.DataFrame({"script": pd.array(out, dtype="string")})


def _count(part: pd.DataFrame, vectorised: bool = True) -> pd.DataFrame:
    from mesh_magics.runes.decode.scan import decode_scripts

    kinds = decode_scripts(part["script"], vectorised=vectorised)["kind"]
    return kinds.value_counts().rename_axis("kind").rename("n").reset_index()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scripts", type=lambda s: int(s.replace("_", "")), default=20_000_000)
    ap.add_argument("--partition", type=int, default=1_000_000, help="scripts per partition")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=str(HERE / "results" / "decode_throughput.json"))
    args = ap.parse_args()

    import dask.dataframe as dd
    from distributed import wait

    import mesh_magics

    nparts = max(1, args.scripts // args.partition)
    sizes = [args.scripts * (i + 1) // nparts - args.scripts * i // nparts for i in range(nparts)]
    local = _partition(sizes[0], 10_000)
    _count(local.head(20_000), vectorised=False), _count(local.head(20_000))  # warm both paths
    t0 = time.perf_counter()
    _count(local, vectorised=False)
    reference = time.perf_counter() - t0
    t0 = time.perf_counter()
    one = _count(local)
    single = time.perf_counter() - t0

    mesh = mesh_magics.up(workers=args.workers, threads=1, kind="cpu")
    try:
        mesh.client.run(lambda: __import__("mesh_magics.runes.decode.scan"))
        ddf = dd.from_map(_partition, sizes, list(range(nparts)), meta=_partition(0, 0)).persist()
        wait(ddf)
        t0 = time.perf_counter()
        counts = ddf.map_partitions(_count, meta=_count(local.head(0))).compute()
        elapsed = time.perf_counter() - t0
    finally:
        mesh.down()
    by_kind = counts.groupby("kind")["n"].sum().to_dict()
    assert sum(by_kind.values()) == args.scripts, by_kind
    rows = [
        ("one process, Python", sizes[0], reference),
        ("one process", sizes[0], single),
        (f"mesh, {args.workers} workers", args.scripts, elapsed),
    ]
    print(f"\nmix: {by_kind}\n(one process: {one.set_index('kind')['n'].to_dict()})\n")
    print(f"{'case':24}{'scripts':>14}{'seconds':>10}{'scripts/s':>14}")
    for name, n, s in rows:
        print(f"{name:24}{n:>14,}{s:>10.2f}{n / s:>14,.0f}")
    print(f"\nmesh / one process: {(args.scripts / elapsed) / (sizes[0] / single):.2f}x")
    doc = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "machine": platform.platform(),
        "mix_target": MIX, "mix": {k: int(v) for k, v in by_kind.items()}, "partitions": nparts,
        "results": [{"case": n, "scripts": k, "seconds": s, "scripts_per_s": k / s} for n, k, s in rows],
    }  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

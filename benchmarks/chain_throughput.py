"""Chain tables read per second from a Core data directory: 1 and 2 mesh workers, and the reference.

The chain is written by Bitcoin Core's own validation engine (libbitcoinkernel through
py-bitcoinkernel, :mod:`mesh_magics.chain.regtest`), with a non-zero XOR key: real
``blk``/``rev`` files, ``xor.dat`` and LevelDB index, not a format of ours. At least 1M
transactions in a mainnet-like mix, none needing a signature: segwit v0 spends (P2WSH
whose witness is a 72-byte and a 33-byte item and ``OP_2DROP OP_TRUE``, sized like
P2WPKH), taproot script-path spends (a 64-byte item and ``OP_DROP OP_TRUE``), legacy
P2SH spends (the same in the scriptSig); mostly one or two inputs and two outputs, some
consolidations and batch payouts; outputs to P2WPKH, P2TR, P2PKH and P2SH addresses; 3 %
of transactions with a runestone (``OP_RETURN OP_13``), 2 % with another OP_RETURN.
Generated once and cached (``--cache``).

Timed: ``chain.read(datadir)`` building all four tables (undo included) on a real
``LocalCluster`` of 1 and of 2 worker processes (one thread each), best and worst of
``--runs`` runs after a warm-up that compiles the kernels on each worker; the tables
stay on the workers (only row counts come back). ``--no-trim`` starts the workers without
the ``MALLOC_TRIM_THRESHOLD_=65536`` dask's nanny gives them (which also fixes glibc's
mmap threshold at 128 KiB, so a task's large arrays are fresh, page-faulted memory).
Also timed: one task on the 1-worker mesh reading every partition in turn, counting its
thread's CPU seconds ("worker thread CPU": the per-worker cost, less sensitive than
seconds to other load on a shared machine); this process without dask (compiled, and the same
kernels as plain Python); and the CPU seconds the workers' processes spent
(``tx/CPU-s``). Beside it, one process of the
pure-Python reference (:func:`~mesh_magics.chain.blocklist.from_blocks` plus
:func:`~mesh_magics.chain.format.undo.parse_block_undo`) on the first ``--ref-txs``.
Prints a table and writes JSON under benchmarks/results/.

Usage::

    .venv/bin/python benchmarks/chain_throughput.py [--txs 1_000_000] [--runs 3] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

KEY = bytes.fromhex("5a17c0ffee0b1e55")
DUMMY_SIG, DUMMY_KEY, DUMMY_SCHNORR = b"\x30" * 72, b"\x02" * 33, b"\x5c" * 64
MAX_WEIGHT = 3_900_000


def _sha256d(b: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(b).digest()).digest()


def _cs(n: int) -> bytes:
    return bytes((n,)) if n < 0xFD else b"\xfd" + n.to_bytes(2, "little")


class Mix:
    """Output scripts and how to spend them: three spendable kinds, four kinds of sink."""

    def __init__(self) -> None:
        from mesh_magics.chain.format import secp
        from mesh_magics.chain.format.build import push
        from mesh_magics.chain.regtest import Lock

        wsh, tr = Lock.p2wsh(b"\x6d\x51"), Lock.taproot(b"\x75\x51")
        sh = Lock.p2sh(b"\x6d\x51")
        self.spk = {"wsh": wsh.script, "tr": tr.script, "sh": sh.script}
        self.witness = {
            "wsh": b"\x03" + _cs(72) + DUMMY_SIG + _cs(33) + DUMMY_KEY + b"\x02\x6d\x51",
            "tr": b"\x03" + _cs(64) + DUMMY_SCHNORR + b"\x02\x75\x51" + _cs(33) + tr.control,
            "sh": b"\x00",
        }
        self.script_sig = {"wsh": b"", "tr": b"", "sh": push(DUMMY_SIG) + push(DUMMY_KEY) + push(b"\x6d\x51")}
        self.weights = {"wsh": 0.5, "tr": 0.3, "sh": 0.2}
        self.lock = {"wsh": wsh}
        self.secp = secp

    def sink(self, rng: random.Random) -> bytes:
        r = rng.random()
        if r < 0.45:
            return b"\x00\x14" + rng.randbytes(20)
        if r < 0.75:
            return b"\x51\x20" + rng.randbytes(32)
        if r < 0.9:
            return b"\x76\xa9\x14" + rng.randbytes(20) + b"\x88\xac"
        return b"\xa9\x14" + rng.randbytes(20) + b"\x87"


def _runestone(rng: random.Random) -> bytes:
    from mesh_magics.chain.format.build import push

    def leb(n: int) -> bytes:
        out = bytearray()
        while True:
            out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
            n >>= 7
            if not n:
                return bytes(out)

    body = leb(20) + leb(840_000 + rng.randrange(10_000)) + leb(20) + leb(rng.randrange(3000))  # a mint
    if rng.random() < 0.5:
        body += (
            leb(0)
            + leb(rng.randrange(900_000))
            + leb(rng.randrange(5000))
            + leb(rng.randrange(10**10))
            + leb(1)
        )
    return b"\x6a\x5d" + push(body)


def _tx(
    mix: Mix, kind: str, coins: list[tuple[bytes, int, int]], outs: list[tuple[int, bytes]]
) -> tuple[bytes, bytes, bytes, int]:
    """(raw, txid, wtxid, weight) of a transaction spending ``coins`` of one kind."""
    seg = kind != "sh"
    ins = b"".join(t + v.to_bytes(4, "little") + _cs(len(mix.script_sig[kind])) + mix.script_sig[kind] + b"\xfd\xff\xff\xff"
                   for t, v, _ in coins)  # fmt: skip
    body = (
        _cs(len(coins))
        + ins
        + _cs(len(outs))
        + b"".join(v.to_bytes(8, "little") + _cs(len(s)) + s for v, s in outs)
    )
    base = b"\x02\x00\x00\x00" + body + b"\x00\x00\x00\x00"
    txid = _sha256d(base)
    if not seg:
        return base, txid, txid, 4 * len(base)
    full = b"\x02\x00\x00\x00\x00\x01" + body + mix.witness[kind] * len(coins) + b"\x00\x00\x00\x00"
    return full, txid, _sha256d(full), 3 * len(base) + len(full)


def generate(path: Path, n_txs: int, seed: int = 15) -> dict:
    """A Core-written regtest chain of at least ``n_txs`` transactions (see the module doc)."""
    from mesh_magics.chain.regtest import Regtest

    rng = random.Random(seed)
    mix = Mix()
    t0 = time.perf_counter()
    pool: dict[str, list[tuple[bytes, int, int]]] = {k: [] for k in mix.spk}
    stats = {"txs": 0, "inputs": 0, "outputs": 0, "runestones": 0, "op_returns": 0, "blocks": 0}
    with Regtest(path, xor_key=KEY) as chain:
        cbs = [(h, chain.mine(pay_to=mix.lock["wsh"]).coinbase) for h in range(1, 101)]
        pending: list[tuple[str, tuple[bytes, int, int]]] = []
        while stats["txs"] < n_txs:
            raws, txids, wtxids, weight = [], [], [], 0
            for kind, coin in pending:  # outputs of the last block are spendable now
                pool[kind].append(coin)
            pending = []
            for coins in pool.values():
                rng.shuffle(coins)
            height = chain.tip.height + 1
            if cbs and cbs[0][0] <= height - 100:  # split a matured coinbase into the pools
                cb = cbs.pop(0)[1]
                each = (cb.value - 100_000) // 300
                outs = [
                    (each, mix.spk[k]) for k in rng.choices(list(mix.spk), list(mix.weights.values()), k=300)
                ]
                raw, txid, wtxid, w = _tx(mix, "wsh", [(cb.txid, 0, cb.value)], outs)
                raws.append(raw), txids.append(txid), wtxids.append(wtxid)
                weight += w
                pending += [
                    (next(k for k, s in mix.spk.items() if s == spk), (txid, v, val))
                    for v, (val, spk) in enumerate(outs)
                ]
            while weight < MAX_WEIGHT and stats["txs"] + len(raws) < n_txs:
                kind = rng.choices(list(mix.weights), list(mix.weights.values()))[0]
                r = rng.random()
                n_in = 1 if r < 0.7 else 2 if r < 0.88 else 3 if r < 0.95 else rng.randrange(5, 11)
                if len(pool[kind]) < n_in + 50:  # this kind runs low: another, or the block is done
                    kind = max(pool, key=lambda k: len(pool[k]))
                    if len(pool[kind]) < n_in + 50:
                        break
                coins = [pool[kind].pop() for _ in range(n_in)]
                total = sum(c[2] for c in coins)
                r = rng.random()
                n_out = (
                    1
                    if r < 0.1
                    else 2
                    if r < 0.75
                    else rng.randrange(3, 5)
                    if r < 0.95
                    else rng.randrange(10, 21)
                )
                keep = min(n_out, max(1, n_in + (1 if rng.random() < 0.35 else 0)))
                sinks = [(rng.randrange(546, 30_000), mix.sink(rng)) for _ in range(n_out - keep)]
                fee = 200 + 60 * (n_in + n_out)
                rest = total - fee - sum(v for v, _ in sinks)
                if rest < keep * 1000:
                    sinks, rest = [], total - fee
                if rest < keep * 1000:  # dust left: give it all to one output
                    keep = 1
                kinds = [kind if rng.random() < 0.8 else rng.choice(list(mix.spk)) for _ in range(keep)]
                outs = [
                    (rest // keep + (rest % keep if j == 0 else 0), mix.spk[k]) for j, k in enumerate(kinds)
                ] + sinks
                r = rng.random()
                if r < 0.03:
                    outs.append((0, _runestone(rng)))
                    stats["runestones"] += 1
                elif r < 0.05:
                    outs.append(
                        (
                            0,
                            b"\x6a\x24\xaa\x21\xa9\xed" + rng.randbytes(32)
                            if r < 0.04
                            else b"\x6a" + _cs(40) + rng.randbytes(40),
                        )
                    )
                    stats["op_returns"] += 1
                raw, txid, wtxid, w = _tx(mix, kind, coins, outs)
                raws.append(raw), txids.append(txid), wtxids.append(wtxid)
                weight += w
                stats["inputs"] += n_in
                stats["outputs"] += len(outs)
                pending += [(k, (txid, v, outs[v][0])) for v, k in enumerate(kinds)]
            tip = chain.mine_raw(raws, txids, wtxids, pay_to=mix.lock["wsh"])
            stats["txs"] += len(raws)
            stats["blocks"] += 1
            cbs.append((tip.height, tip.coinbase))
        stats["height"] = chain.tip.height
    stats["seconds"] = round(time.perf_counter() - t0, 1)
    stats["bytes"] = sum(p.stat().st_size for p in (path / "blocks").glob("*.dat"))
    return stats


def _records_bytes(datadir: Path) -> tuple[int, int]:
    """(bytes of block records, bytes of undo records) of the best chain, from the index."""
    from mesh_magics.chain.source.index import best_chain, read_index

    chain = best_chain(read_index(datadir / "blocks", copy=True))
    blk = rev = 0
    for e in chain:
        with open(datadir / "blocks" / f"blk{e.file:05d}.dat", "rb") as f:
            f.seek(e.data_pos - 4)
            blk += 8 + int.from_bytes(
                bytes(a ^ KEY[(e.data_pos - 4 + i) % 8] for i, a in enumerate(f.read(4))), "little"
            )
        if e.undo_pos > 0:
            with open(datadir / "blocks" / f"rev{e.file:05d}.dat", "rb") as f:
                f.seek(e.undo_pos - 4)
                rev += 40 + int.from_bytes(
                    bytes(a ^ KEY[(e.undo_pos - 4 + i) % 8] for i, a in enumerate(f.read(4))), "little"
                )
    return blk, rev


def _mesh(
    datadir: Path, workers: int, runs: int, partition_txs: int, trim: bool = True
) -> tuple[list[float], list[float], list[int], list[float]]:
    """Best/worst runs on a LocalCluster; ``trim=False`` lets glibc keep freed memory (see the module doc)."""
    import dask
    from distributed import Client, LocalCluster

    import mesh_magics.chain as chain

    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ"))
    if not trim:
        environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}), LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                      memory_limit="8GiB") as cluster, Client(cluster) as client:  # fmt: skip
        warm = chain.read(
            datadir, start=0, end=150, partition_blocks=20
        )  # compiles the kernels on every worker
        dask.compute(*[warm[n].map_partitions(len) for n in ("blocks", "txs", "outputs", "inputs")])
        times, cpu = [], []
        for _ in range(runs):
            before = client.run(time.process_time)
            t0 = time.perf_counter()
            tables = chain.read(datadir, partition_txs=partition_txs)
            counts = dask.compute(
                *[tables[n].map_partitions(len).sum() for n in ("blocks", "txs", "outputs", "inputs")]
            )
            times.append(time.perf_counter() - t0)
            after = client.run(time.process_time)
            cpu.append(sum(after[k] - before[k] for k in after))
        thread = []
        if workers == 1:  # what a worker's thread spends per transaction, whatever else the machine runs
            from mesh_magics.chain.source.plan import make_plan

            plan = make_plan(datadir, partition_txs=partition_txs)
            for _ in range(runs):
                n, spent = client.submit(_thread_cpu, plan.source, plan.partitions, pure=False).result()
                thread.append(spent)
        return times, cpu, list(map(int, counts)), thread


def _thread_cpu(source: object, parts: list) -> tuple[int, float]:
    """(txs, thread CPU seconds) of reading ``parts`` one after the other in this worker's thread."""
    from mesh_magics.chain.reader import read_partition

    c0, n = time.thread_time(), 0
    for p in parts:
        n += len(read_partition(source, p)["txs"])
    return n, time.thread_time() - c0


def _row(engine: str, workers: int, txs: int, times: list[float], cpu: list[float], nbytes: int, share: float,
         **extra: object) -> dict:  # fmt: skip
    best, worst = min(times), max(times)
    return {"engine": engine, "workers": workers, "txs": txs, "best_s": round(best, 2), "worst_s": round(worst, 2),
            "tx_per_s": round(txs / best), "tx_per_s_worst": round(txs / worst), "tx_per_s_per_worker": round(txs / best / workers),
            "mb_per_s": round(nbytes * share / best / 1e6, 1), "tx_per_cpu_s": round(txs / min(cpu) * 1) if min(cpu) else 0,
            "times_s": [round(t, 2) for t in times], "cpu_s": [round(c, 2) for c in cpu], **extra}  # fmt: skip


def _in_process(
    datadir: Path, partition_txs: int, parts: int | None, runs: int, plain: bool = False
) -> tuple[float, float, int]:
    """(best seconds, best CPU seconds, txs) of reading the partitions in this process, no dask."""
    from contextlib import nullcontext

    from mesh_magics.chain.format import jit
    from mesh_magics.chain.reader import read_partition
    from mesh_magics.chain.source.plan import make_plan

    plan = make_plan(datadir, partition_txs=partition_txs)
    todo = plan.partitions[:parts] if parts else plan.partitions
    with jit.python_only() if plain else nullcontext():
        read_partition(plan.source, plan.partitions[-1]) if not plain else None  # compiled already: warm
        best, best_cpu, n = 1e9, 1e9, 0
        for _ in range(runs):
            t0, c0, n = time.perf_counter(), time.process_time(), 0
            for p in todo:
                n += len(read_partition(plan.source, p)["txs"])
            best, best_cpu = min(best, time.perf_counter() - t0), min(best_cpu, time.process_time() - c0)
    return best, best_cpu, n


def _reference(datadir: Path, n_txs: int) -> tuple[float, int]:
    """Seconds and txs of the pure-Python reference over the first blocks holding ``n_txs``."""
    import numpy as np

    from mesh_magics.chain.blocklist import from_blocks
    from mesh_magics.chain.format.framing import dexor
    from mesh_magics.chain.format.undo import parse_block_undo
    from mesh_magics.chain.source.index import best_chain, read_index

    chain = best_chain(read_index(datadir / "blocks", copy=True))
    t0 = time.perf_counter()
    raws, undos, count = [], [], 0
    for e in chain:
        for kind, pos, dest in (("blk", e.data_pos, raws), ("rev", e.undo_pos, undos)):
            if pos < 0:
                continue
            with open(datadir / "blocks" / f"{kind}{e.file:05d}.dat", "rb") as f:
                f.seek(pos - 8)
                head = np.frombuffer(bytearray(f.read(8)), np.uint8)
                dexor(head, KEY, pos - 8)
                size = int.from_bytes(head[4:].tobytes(), "little")
                body = np.frombuffer(bytearray(f.read(size)), np.uint8)
                dexor(body, KEY, pos)
                dest.append(body.tobytes())
        count += e.n_tx
        if count >= n_txs:
            break
    from_blocks(raws, "regtest")
    for u in undos:
        parse_block_undo(u)
    return time.perf_counter() - t0, count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--txs", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--partition-txs", type=int, default=125_000)
    ap.add_argument("--ref-txs", type=int, default=60_000)
    ap.add_argument(
        "--no-trim", action="store_true", help="workers without dask's MALLOC_TRIM_THRESHOLD_=65536"
    )
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "mesh-chain-bench")
    args = ap.parse_args()

    datadir = args.cache / f"regtest-{args.txs}"
    info_file = datadir / "generated.json"
    if not info_file.exists():
        print(
            f"generating a chain of {args.txs:,} transactions with Core's validation engine in {datadir} ..."
        )
        info = generate(datadir, args.txs)
        info_file.write_text(json.dumps(info))
    info = json.loads(info_file.read_text())
    blk, rev = _records_bytes(datadir)
    print(f"chain: {info['txs']:,} txs in {info['blocks']} blocks (+{info['height'] - info['blocks']} to mature), "
          f"{info['inputs']:,} inputs, {info['outputs']:,} outputs, {info['runestones']:,} runestones; "
          f"records: {blk / 1e6:.0f} MB blk + {rev / 1e6:.0f} MB rev; generated in {info['seconds']} s")  # fmt: skip

    rows = []
    for w in args.workers:
        load = os.getloadavg()[0]
        times, cpu, counts, thread = _mesh(datadir, w, args.runs, args.partition_txs, not args.no_trim)
        name = f"mesh, {w} worker{'s' * (w > 1)}"
        rows.append(_row(name, w, counts[1], times, cpu, blk + rev, 1.0, load_before=round(load, 2),
                         rows=dict(zip(("blocks", "txs", "outputs", "inputs"), counts))))  # fmt: skip
        if thread:
            rows.append(_row("worker thread CPU", 1, counts[1], thread, thread, blk + rev, 1.0))
    secs, cpu_s1, n = _in_process(datadir, args.partition_txs, None, args.runs)
    rows.append(_row("compiled, 1 process", 1, n, [secs], [cpu_s1], blk + rev, n / info["txs"]))
    secs, cpu_s1, n = _in_process(datadir, args.ref_txs, 1, 1, plain=True)
    rows.append(_row("plain Python kernels", 1, n, [secs], [cpu_s1], blk + rev, n / info["txs"]))
    cpu0 = time.process_time()
    secs, n = _reference(datadir, args.ref_txs)
    rows.append(
        _row("reference, 1 process", 1, n, [secs], [time.process_time() - cpu0], blk + rev, n / info["txs"])
    )

    head = f"{'engine':<22}{'txs':>11}{'best s':>8}{'worst s':>8}{'tx/s best':>11}{'tx/s worst':>11}"
    print(f"\n{head}{'per worker':>11}{'MB/s':>7}{'tx/CPU-s':>10}")
    for r in rows:
        print(f"{r['engine']:<22}{r['txs']:>11,}{r['best_s']:>8}{r['worst_s']:>8}{r['tx_per_s']:>11,}"
              f"{r['tx_per_s_worst']:>11,}{r['tx_per_s_per_worker']:>11,}{r['mb_per_s']:>7}{r['tx_per_cpu_s']:>10,}")  # fmt: skip
    loads = ", ".join(str(r["load_before"]) for r in rows if "load_before" in r)
    print(f"load average before the mesh runs: {loads} on {os.cpu_count()} CPUs (shared); tx/CPU-s counts the "
          "workers' own CPU seconds, less sensitive than seconds to other load on the machine")  # fmt: skip
    best_per_worker = next(r["tx_per_cpu_s"] for r in rows if r["engine"] == "worker thread CPU")
    era_txs, era_bytes, workers = 450e6, 260e9, 16
    per_worker_bytes = best_per_worker * (blk + rev) / info["txs"]
    cpu_s = era_txs / (best_per_worker * workers)
    byte_s = era_bytes / (per_worker_bytes * workers)
    print(f"\nrunes era (840,000 on: ~450M txs, ~260 GB blk+rev) on {workers} workers at {best_per_worker:,} tx per "
          f"CPU-second each (dask's defaults): {cpu_s / 60:.1f} min by transactions, {byte_s / 60:.1f} min by bytes "
          f"at this chain's {(blk + rev) / info['txs']:.0f} B/tx (mainnet's ~580 B/tx makes bytes the likelier bound); "
          "before disk limits")  # fmt: skip
    out = HERE / "results" / "chain_throughput.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"chain": info, "records_bytes": {"blk": blk, "rev": rev}, "rows": rows,
                               "extrapolation": {"txs": era_txs, "bytes": era_bytes, "workers": workers,
                                                 "minutes_by_txs": round(cpu_s / 60, 1), "minutes_by_bytes": round(byte_s / 60, 1)},
                               "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}},
                              indent=1))  # fmt: skip
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

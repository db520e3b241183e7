"""The plan of a synthetic ledger: its parameters, its catalog of runes and addresses, its strings.

Everything here is a function of the :class:`Plan` (the arguments of
:func:`~mesh_magics.runes.synth.synthetic`) alone, so every worker derives the
same catalog on its own, from ``(seed, ...)`` random streams.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..protocol.names import format_spaced_rune

__all__ = [
    "BLOCK_SECONDS",
    "START_HEIGHT",
    "START_TIME",
    "Plan",
    "addresses",
    "catalog",
    "mint_counts",
    "mix",
    "txids",
]

START_HEIGHT = 840_000  # Runes activation (the 2024 halving)
START_TIME = "2024-04-20 00:09:27+00:00"
BLOCK_SECONDS = 600
_BECH32 = np.frombuffer(b"qpzry9x8gf2tvdw0s3jn54khce6mua7l", dtype=np.uint8)
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_SYMBOLS = list("¤$€£¥₿ᚱ◆★☀⚡♠♣♥")
_MINT_ROWS = 0.35  # share of a partition's rows that are mints


@dataclass(frozen=True)
class Plan:
    n_rows: int
    n_runes: int
    n_addresses: int
    seed: int
    npartitions: int
    n_blocks: int
    n_whales: int
    start_ns: int
    backend: str
    #: share of rows across runes: "default" (Zipf 1.1 over a random order of the runes),
    #: "uniform" or "zipf" (Zipf ``zipf_s`` by etching order: the first rune is the largest)
    rune_share: str = "default"
    zipf_s: float = 1.1

    def rows(self, p: int) -> int:
        return self.n_rows * (p + 1) // self.npartitions - self.n_rows * p // self.npartitions

    def blocks(self, p: int) -> tuple[int, int]:
        b = self.n_blocks
        return START_HEIGHT + b * p // self.npartitions, START_HEIGHT + b * (p + 1) // self.npartitions

    def rng(self, *key: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, *key])


# --------------------------------------------------------------------------- catalog


@functools.lru_cache(maxsize=4)
def catalog(plan: Plan) -> dict[str, Any]:
    """Per-rune and per-address attributes: a function of the plan only (cached per process)."""
    rng = plan.rng(0, 0)
    r, P = plan.n_runes, plan.npartitions
    etch_part = np.minimum((rng.random(r) ** 2 * P).astype(np.int64), P - 1)
    etch_part[0] = 0  # something is mintable from the first partition on
    etch_part.sort()
    tx = np.zeros(r, dtype=np.int64)
    for p in np.unique(etch_part):
        idx = np.flatnonzero(etch_part == p)
        tx[idx] = np.arange(1, len(idx) + 1)
    etch_block = np.array([plan.blocks(int(p))[0] for p in etch_part], dtype=np.int64)
    popularity = 1.0 / (rng.permutation(r) + 1.0) ** 1.1  # drawn in every case: the stream stays the same
    if plan.rune_share == "uniform":
        popularity = np.ones(r)
    elif plan.rune_share == "zipf":
        popularity = 1.0 / (np.arange(r) + 1.0) ** plan.zipf_s
    divisibility = rng.choice([0, 0, 1, 2, 2, 5, 8], size=r)
    # supplies stay below 2**62: mints are capped by n_rows, premines by 2**61
    mint_cap = max(1, 2**61 // max(plan.n_rows, 1))
    mint_amount = np.minimum((10 ** rng.uniform(0, 6, r)).astype(np.int64) * 10**divisibility, mint_cap)
    mint_amount = np.maximum(mint_amount, 1)
    premine = np.where(rng.random(r) < 0.6, (mint_amount * 10 ** rng.uniform(2, 5, r)).astype(np.int64), 0)
    premine = np.minimum(premine, 2**61)
    a = plan.n_addresses
    activity = 1.0 / (rng.permutation(a) + 5.0) ** 1.05
    whales = rng.choice(a, size=min(plan.n_whales, a), replace=False)
    receive = activity.copy()
    receive[whales] *= 20.0 * a / max(1, 200)  # planted whales accumulate
    send = activity.copy()
    send[whales] *= 0.2
    names, seen = [], set()
    for _ in range(r):
        while True:
            name = "".join(chr(65 + int(c)) for c in rng.integers(0, 26, int(rng.integers(13, 18))))
            if name not in seen:
                seen.add(name)
                break
        gaps = rng.choice(len(name) - 1, size=int(rng.integers(0, 3)), replace=False)
        names.append(format_spaced_rune(name, int(sum(1 << int(g) for g in gaps))))
    return {
        "etch_part": etch_part,
        "etch_block": etch_block,
        "rune_id": np.array([f"{b}:{t}" for b, t in zip(etch_block, tx)], dtype=object),
        "name": names,
        "divisibility": divisibility.astype(np.int64),
        "symbol": [
            None if rng.random() < 0.25 else _SYMBOLS[int(rng.integers(len(_SYMBOLS)))] for _ in range(r)
        ],
        "premine": premine.astype(np.int64),
        "mint_amount": mint_amount.astype(np.int64),
        "popularity": popularity,
        "creator": rng.choice(a, size=r, p=receive / receive.sum()),
        "receive_p": receive / receive.sum(),
        "send_w": send,
    }


def mint_counts(plan: Plan, p: int) -> np.ndarray:
    """Mints per rune in partition ``p`` (its own random stream, shared by the runes table)."""
    cat = catalog(plan)
    etched_here = int((cat["etch_part"] == p).sum())
    budget = plan.rows(p) - etched_here
    eligible = cat["etch_part"] <= p
    n = max(1, int(round(budget * _MINT_ROWS))) if budget > 0 else 0
    w = np.where(eligible, cat["popularity"], 0.0)
    return plan.rng(p, 1).multinomial(n, w / w.sum()).astype(np.int64)


# --------------------------------------------------------------------------- strings


def mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer (uint64 arithmetic wraps by design)."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def addresses(seed: int, idx: np.ndarray) -> np.ndarray:
    """Deterministic bech32-looking P2WPKH addresses (42 chars) for address numbers."""
    base = idx.astype(np.uint64) * np.uint64(4) + np.uint64(seed % 2**32) * np.uint64(2**34)
    words = np.stack([mix(base + np.uint64(j)) for j in range(4)], axis=1)
    shifts = np.arange(0, 60, 5, dtype=np.uint64)
    codes = ((words[:, :, None] >> shifts) & np.uint64(31)).reshape(len(idx), -1)[:, :38]
    chars = np.concatenate([np.tile(np.frombuffer(b"bc1q", np.uint8), (len(idx), 1)), _BECH32[codes]], axis=1)
    return np.ascontiguousarray(chars).view("S42").ravel().astype(str)


def txids(rng: np.random.Generator, n: int) -> np.ndarray:
    raw = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    chars = np.empty((n, 64), dtype=np.uint8)
    chars[:, 0::2], chars[:, 1::2] = _HEX[raw >> 4], _HEX[raw & 15]
    return chars.view("S64").ravel().astype(str)

"""A deterministic synthetic Runes ledger in the canonical tables: partitions and :func:`synthetic`.

:func:`synthetic` returns lazy dask frames ``(transfers, runes)``; every
partition of ``transfers`` is generated on a worker from ``(seed, partition
number)`` alone, so the same arguments give the same data whatever the
scheduler, worker count or order of execution. The client only builds the
plan (a few integers per partition).

What the ledger looks like:

- runes are etched over time (more early on), each with an id ``BLOCK:TX``, a
  spaced name, a divisibility, an optional symbol, a premine (zero for fair
  launches) and a fixed mint amount; popularity across runes is Zipf-skewed;
- addresses (``bc1q…``) are Zipf-skewed in activity, and a few planted whales
  receive far more than they send;
- each partition covers its own range of blocks (heights and times increase
  across the whole table; about one block per 10 minutes): mints arrive,
  holders then send a heavy-tailed share of what they hold to other addresses,
  in rounds, and now and then burn a part;
- ``runes.supply`` = premine + mints × mint amount, exactly (int64 throughout).

Guarantee on balances: replaying ``transfers`` in row order (block order), no
address's balance in any rune ever goes negative — every send and burn is
covered by units the sender received earlier. Partitions are generated
independently, so units an address holds at the end of one partition's block
range stay where they are: later partitions never spend them.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import dask
import numpy as np
import pandas as pd

from ...errors import RunesError
from ..tables import RUNES_COLUMNS, TRANSFERS_COLUMNS
from .plan import BLOCK_SECONDS, START_HEIGHT, START_TIME, Plan, addresses, catalog, mint_counts, mix, txids

__all__ = ["synthetic"]

_BURN_P = 0.02


def _partition(plan: Plan, p: int) -> Any:
    cat = catalog(plan)
    rng = plan.rng(p, 2)
    b0, b1 = plan.blocks(p)
    etched = np.flatnonzero(cat["etch_part"] == p)
    mints = mint_counts(plan, p)
    # events: (rune, sender, receiver, amount, block, round); -1 = no address
    m_rune = np.repeat(np.arange(plan.n_runes), mints)
    m_recv = rng.choice(plan.n_addresses, size=len(m_rune), p=cat["receive_p"])
    m_block = rng.integers(b0 + 1, b1, size=len(m_rune))
    ev = [
        (
            etched,
            np.full(len(etched), -1),
            cat["creator"][etched],
            cat["premine"][etched],
            np.full(len(etched), b0),
            0,
        ),
        (m_rune, np.full(len(m_rune), -1), m_recv, cat["mint_amount"][m_rune], m_block, 1),
    ]
    # holdings: (rune, address) -> balance, block from which it may be spent
    hold = pd.DataFrame(
        {
            "rune": np.concatenate([etched, m_rune]),
            "addr": np.concatenate([cat["creator"][etched], m_recv]),
            "bal": np.concatenate([cat["premine"][etched], cat["mint_amount"][m_rune]]),
            "t": np.concatenate([np.full(len(etched), b0), m_block]),
        }
    )
    hold = hold.groupby(["rune", "addr"], as_index=False).agg(bal=("bal", "sum"), t=("t", "max"))
    remaining = plan.rows(p) - len(etched) - len(m_rune)
    gap = max(1.0, (b1 - b0) / 8)
    round_ = 2
    while remaining > 0:
        live = hold[hold["bal"] > 0].reset_index(drop=True)
        if live.empty:  # cannot happen: burns never take a holder's last unit
            raise RunesError("synthetic: no holder left to send from")
        # weighted sampling without replacement (exponential keys): one send per holder per round
        keys = rng.exponential(size=len(live)) / cat["send_w"][live["addr"].to_numpy()]
        pick = np.argsort(keys)[: min(remaining, len(live))]
        s = live.iloc[pick]
        bal = s["bal"].to_numpy()
        frac = np.where(rng.random(len(s)) < 0.3, 1.0, rng.beta(0.6, 2.0, len(s)))
        burn = (rng.random(len(s)) < _BURN_P) & (bal >= 2)
        frac = np.where(burn, np.minimum(frac, 0.5), frac)
        amount = np.clip((bal * frac).astype(np.int64), 1, bal)
        amount = np.where(burn, np.minimum(amount, bal - 1), amount)
        recv = rng.choice(plan.n_addresses, size=len(s), p=cat["receive_p"])
        recv = np.where(recv == s["addr"].to_numpy(), (recv + 1) % plan.n_addresses, recv)
        recv = np.where(burn, -1, recv)
        block = np.minimum(s["t"].to_numpy() + rng.geometric(1 / gap, len(s)), b1 - 1)
        rune = s["rune"].to_numpy()
        ev.append((rune, s["addr"].to_numpy(), recv, amount, block, round_))
        live.loc[pick, "bal"] = bal - amount
        got = pd.DataFrame(
            {"rune": rune[~burn], "addr": recv[~burn], "bal": amount[~burn], "t": block[~burn]}
        )
        hold = pd.concat([live, got], ignore_index=True)
        hold = hold.groupby(["rune", "addr"], as_index=False).agg(bal=("bal", "sum"), t=("t", "max"))
        remaining -= len(s)
        round_ += 1
    return _frame(plan, p, ev, rng)


def _frame(plan: Plan, p: int, ev: list[tuple[Any, ...]], rng: np.random.Generator) -> Any:
    cat = catalog(plan)
    rune = np.concatenate([e[0] for e in ev]).astype(np.int64)
    sender = np.concatenate([e[1] for e in ev]).astype(np.int64)
    receiver = np.concatenate([e[2] for e in ev]).astype(np.int64)
    amount = np.concatenate([e[3] for e in ev]).astype(np.int64)
    block = np.concatenate([e[4] for e in ev]).astype(np.int64)
    rnd = np.concatenate([np.full(len(e[0]), e[5]) for e in ev])
    op = np.concatenate(
        [np.full(len(e[0]), ("etching", "mint")[e[5]] if e[5] < 2 else "send", dtype=object) for e in ev]
    )
    op[(rnd >= 2) & (receiver < 0)] = "burn"
    order = np.lexsort((rnd, block))
    rune, sender, receiver, amount, block, op = (
        x[order] for x in (rune, sender, receiver, amount, block, op)
    )
    used = np.unique(np.concatenate([sender, receiver]))
    used = used[used >= 0]
    names = addresses(plan.seed, used)

    def addr(ix: np.ndarray) -> pd.arrays.StringArray:
        out = np.full(len(ix), None, dtype=object)
        ok = ix >= 0
        out[ok] = names[np.searchsorted(used, ix[ok])]
        return pd.array(out, dtype="string")

    jitter = (mix(block.astype(np.uint64)) % np.uint64(241)).astype(np.int64) - 120
    seconds = (block - START_HEIGHT) * BLOCK_SECONDS + jitter
    start = plan.n_rows * p // plan.npartitions
    df = pd.DataFrame(
        {
            "block_height": block,
            "block_time": pd.to_datetime(plan.start_ns + seconds * 1_000_000_000, utc=True).astype(
                TRANSFERS_COLUMNS["block_time"]
            ),
            "txid": pd.array(txids(rng, len(block)), dtype="string"),
            "rune_id": pd.array(cat["rune_id"][rune], dtype="string"),
            "operation": pd.array(op, dtype="string"),
            "sender": addr(sender),
            "receiver": addr(receiver),
            "amount": amount,
        },
        index=pd.RangeIndex(start, start + len(block)),
    )
    df.attrs["amount_repr"] = "int64"
    return _to_backend(df, plan.backend)


def _to_backend(df: pd.DataFrame, backend: str) -> Any:
    if backend == "cudf":
        import cudf

        return cudf.from_pandas(df)
    return df


def _runes(plan: Plan) -> Any:
    cat = catalog(plan)
    mints = np.zeros(plan.n_runes, dtype=np.int64)
    for p in range(plan.npartitions):
        mints += mint_counts(plan, p)
    df = pd.DataFrame(
        {
            "rune_id": pd.array(cat["rune_id"], dtype="string"),
            "name": pd.array(cat["name"], dtype="string"),
            "divisibility": cat["divisibility"],
            "supply": cat["premine"] + mints * cat["mint_amount"],
            "symbol": pd.array(cat["symbol"], dtype="string"),
        }
    )
    df.attrs["amount_repr"] = "int64"
    return _to_backend(df, plan.backend)


def _empty(columns: dict[str, str], backend: str) -> Any:
    return _to_backend(pd.DataFrame({c: pd.Series(dtype=d) for c, d in columns.items()}), backend)


def synthetic(
    n_rows: int = 100_000,
    n_runes: int = 50,
    n_addresses: int = 10_000,
    seed: int = 0,
    npartitions: int = 4,
    start: str | pd.Timestamp = START_TIME,
    path: str | Path | None = None,
    backend: str | None = None,
    *,
    n_blocks: int | None = None,
    n_whales: int = 5,
    rune_share: str = "default",
    zipf_s: float = 1.1,
    files: int | None = None,
) -> tuple[Any, Any]:
    """A synthetic Runes ledger as lazy dask frames ``(transfers, runes)``.

    Parameters
    ----------
    n_rows, n_runes, n_addresses
        Exact number of ``transfers`` rows; number of runes; size of the address pool.
    seed
        Everything is a function of the arguments; partitions draw from
        ``(seed, partition)`` streams, so scheduling never changes the data.
    npartitions
        Partitions of ``transfers``, each covering its own block range and
        generated on a worker (``dd.from_map``); its index is the global row number.
    start
        Time of the first block (height 840,000); blocks are ~10 minutes apart.
    path
        If given, both tables are written as Parquet under ``path/transfers``
        and ``path/runes`` and the frames returned are lazy reads of those files.
    backend
        ``"pandas"`` or ``"cudf"``; default: dask's ``dataframe.backend``.
    n_blocks
        Blocks spanned (default ``max(2·npartitions, n_rows // 20)``).
    n_whales
        Planted whale addresses.
    rune_share, zipf_s
        How mints (and so the holders who send) are shared across runes: ``"default"``
        (Zipf 1.1 over a random order of the runes, the generator's original shape),
        ``"uniform"`` (every rune alike, apart from when it is etched) or ``"zipf"``
        (Zipf with exponent ``zipf_s`` by etching order: the first rune, mintable from the
        first block, is the largest). The default output is unchanged by these options.
    files
        With ``path``: the number of Parquet files ``transfers`` is written as (the
        partitions are merged or split into that many; default one file per partition).
        The rows are the same whatever the file count.
    """
    import dask.dataframe as dd

    backend = backend or dask.config.get("dataframe.backend", "pandas")
    if backend not in ("pandas", "cudf"):
        raise RunesError(f"backend must be 'pandas' or 'cudf', got {backend!r}")
    checked: tuple[tuple[str, object], ...] = (
        ("n_rows", n_rows),
        ("n_runes", n_runes),
        ("n_addresses", n_addresses),
        ("npartitions", npartitions),
    )
    for name, v in checked:
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise RunesError(f"synthetic: {name} must be a positive int, got {v!r}")
    if n_rows < npartitions:
        raise RunesError(f"synthetic: n_rows ({n_rows}) must be at least npartitions ({npartitions})")
    if n_addresses < 2:
        raise RunesError("synthetic: n_addresses must be at least 2 (senders need someone to send to)")
    if rune_share not in ("default", "uniform", "zipf"):
        raise RunesError(f"synthetic: rune_share must be 'default', 'uniform' or 'zipf', got {rune_share!r}")
    s_: object = zipf_s  # as given: callers may pass anything
    if isinstance(s_, bool) or not isinstance(s_, (int, float)) or not 0 < s_ < 10:
        raise RunesError(f"synthetic: zipf_s must be a number in (0, 10), got {zipf_s!r}")
    f_: object = files
    if f_ is not None and (isinstance(f_, bool) or not isinstance(f_, int) or not 1 <= f_ <= n_rows):
        raise RunesError(f"synthetic: files must be a positive int at most n_rows, got {files!r}")
    n_blocks = n_blocks or max(2 * npartitions, n_rows // 20)
    if n_blocks < 2 * npartitions:
        raise RunesError(f"synthetic: n_blocks must be at least 2 per partition ({2 * npartitions})")
    plan = Plan(
        n_rows,
        n_runes,
        n_addresses,
        int(seed),
        npartitions,
        n_blocks,
        n_whales,
        pd.Timestamp(start).tz_convert("UTC").value
        if pd.Timestamp(start).tzinfo
        else pd.Timestamp(start, tz="UTC").value,
        backend,
        rune_share,
        float(zipf_s),
    )
    etched = np.bincount(catalog(plan)["etch_part"], minlength=npartitions)
    short = [p for p in range(npartitions) if plan.rows(p) < etched[p] + (1 if p == 0 else 0)]
    if short:
        raise RunesError(
            f"synthetic: n_rows={n_rows} is too small for {n_runes} runes in {npartitions} partitions "
            "(every etching needs a row); raise n_rows or lower n_runes / npartitions"
        )
    if backend == "cudf":
        import dask_cudf  # noqa: F401
    offsets = [n_rows * p // npartitions for p in range(npartitions)] + [n_rows - 1]
    transfers = dd.from_map(
        functools.partial(_partition, plan),
        range(npartitions),
        meta=_empty(TRANSFERS_COLUMNS, backend),
        divisions=offsets,
        label="runes-synthetic-transfers",
        enforce_metadata=False,
    )
    runes = dd.from_delayed(
        [dask.delayed(_runes)(plan)], meta=_empty(RUNES_COLUMNS, backend), verify_meta=False
    )
    if path is None:
        return transfers, runes
    root = Path(path)
    written = transfers if files is None else transfers.repartition(npartitions=files)
    dask.compute(
        written.to_parquet(root / "transfers", write_index=False, compute=False),
        runes.to_parquet(root / "runes", write_index=False, compute=False),
    )
    return dd.read_parquet(root / "transfers"), dd.read_parquet(root / "runes")

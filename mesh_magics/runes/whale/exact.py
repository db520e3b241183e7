"""Exact integer arithmetic on dataframe columns: amounts as 32-bit limbs.

Sums of raw rune amounts overflow int64 long before the amounts themselves do
(an exchange address can receive a rune's whole supply many times over), and
u128 amounts do not fit int64 at all. The whale suite therefore splits every
amount into ``k`` int64 columns holding 32-bit *limbs*, least significant
first: ``amount = Σ limb_j · 2**(32·j)``. Group sums of limbs stay exact for
up to 2**31 rows per group, and everything here uses only integer column
arithmetic (``//``, ``%``, ``*``, ``+``, comparisons), so it runs unchanged on
pandas and cuDF. ``k`` is 2 for int64 amounts and 4 for exact (u128) amounts.

A *normalized* limb vector has every limb but the last in ``[0, 2**32)``; the
last carries the sign. Normalized vectors compare lexicographically from the
top limb down, which is how exact orderings (top holders, largest flows) are
computed without ever building the integers on the workers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "BASE",
    "EXACT_ROWS",
    "bincount_limbs",
    "int64_limbs",
    "from_ints",
    "greater",
    "limb_names",
    "n_limbs",
    "negate",
    "normalize",
    "positive",
    "split",
    "to_float",
    "to_ints",
]

BITS = 32
BASE = 1 << BITS
_MASK = BASE - 1


#: rows a group may have for float64 sums of its int64 limbs (:func:`int64_limbs`) to be
#: exact: each low limb is below 2**32 (a high one within ±2**31), so (2**21 - 1) of them
#: sum below 2**53
EXACT_ROWS = 2**21


def int64_limbs(amount: np.ndarray) -> dict[str, np.ndarray]:
    """An int64 array as its two limbs ``_a0`` (low 32 bits) and ``_a1`` (the rest, signed)."""
    return {"_a0": amount & np.int64(_MASK), "_a1": amount >> BITS}


def bincount_limbs(codes: np.ndarray, amount: np.ndarray, n: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per code in ``0..n-1``: its rows, and the exact sums of ``amount``'s
    :func:`int64_limbs` (int64). One float64 ``bincount`` per limb; where a code has
    :data:`EXACT_ROWS` rows or more, float64 would round its sums, so they are added in
    integers instead (``np.add.at``, slower)."""
    rows = np.bincount(codes, minlength=n)
    limbs = int64_limbs(amount)
    if len(rows) and rows.max() >= EXACT_ROWS:
        sums = {name: np.zeros(n, np.int64) for name in limbs}
        for name, limb in limbs.items():
            np.add.at(sums[name], codes, limb)
        return rows, sums
    return rows, {
        name: np.bincount(codes, weights=limb.astype(np.float64), minlength=n).astype(np.int64)
        for name, limb in limbs.items()
    }


def limb_names(k: int, prefix: str = "_a") -> list[str]:
    """Column names of ``k`` limbs, least significant first."""
    return [f"{prefix}{j}" for j in range(k)]


def n_limbs(dtype: Any) -> int:
    """2 limbs for integer amounts (int64), 4 for exact Python ints (u128)."""
    return 2 if pd.api.types.is_integer_dtype(dtype) else 4


def split(df: Any, k: int, column: str = "amount", prefix: str = "_a") -> Any:
    """``df`` with ``column`` replaced by ``k`` normalized limb columns."""
    out = df.drop(columns=[column])
    names = limb_names(k, prefix)
    a = df[column]
    if k == 2:
        a = a.astype("int64")
        out[names[0]] = a % BASE
        out[names[1]] = a // BASE
        return out
    # exact mode (pandas only: cuDF has no Python-int columns): one pass over the objects
    values = np.asarray(a.to_numpy(), dtype=object)
    for j, name in enumerate(names):
        shifted = values >> (BITS * j) if j else values
        limb = shifted & _MASK if j < k - 1 else shifted
        out[name] = limb.astype(np.int64)
    return out


def normalize(df: Any, cols: list[str]) -> Any:
    """Propagate carries so that every limb but the last is in ``[0, 2**32)`` (in place)."""
    for lo, hi in zip(cols, cols[1:]):
        carry = df[lo] // BASE
        df[lo] = df[lo] - carry * BASE
        df[hi] = df[hi] + carry
    return df


def negate(df: Any, cols: list[str]) -> Any:
    """Negate a limb vector in place (the result is not normalized)."""
    for c in cols:
        df[c] = -df[c]
    return df


def positive(df: Any, cols: list[str]) -> Any:
    """Boolean Series: the (normalized) value is > 0."""
    top = df[cols[-1]]
    low_nonzero = df[cols[0]] != 0
    for c in cols[1:-1]:
        low_nonzero = low_nonzero | (df[c] != 0)
    return (top > 0) | ((top == 0) & low_nonzero)


def greater(df: Any, a: list[str], b: list[str]) -> Any:
    """Boolean Series: value ``a`` > value ``b`` (both normalized, same length)."""
    result = None
    equal = None
    for ca, cb in zip(reversed(a), reversed(b)):
        gt = df[ca] > df[cb]
        eq = df[ca] == df[cb]
        if result is None:
            result, equal = gt, eq
        else:
            result = result | (equal & gt)
            equal = equal & eq
    return result


def to_float(df: Any, cols: list[str]) -> Any:
    """The values as float64 (a few ulps of rounding at most)."""
    out = df[cols[-1]].astype("float64") * float(2 ** (BITS * (len(cols) - 1)))
    for j in range(len(cols) - 2, -1, -1):
        out = out + df[cols[j]].astype("float64") * float(2 ** (BITS * j))
    return out


def to_ints(df: pd.DataFrame, cols: list[str]) -> pd.Series:
    """The exact values of a small host frame: int64 when all fit, else Python ints (object).

    Runs on the client, on aggregated results only.
    """
    if len(cols) == 2:  # vectorised when normalized and in range: top * 2**32 + low fits in int64
        low, top = (df[c].to_numpy(dtype=np.int64) for c in cols)
        if ((low >= 0) & (low < BASE) & (top >= -(2**31)) & (top < 2**31)).all():
            return pd.Series(top * BASE + low, index=df.index)
    total = np.zeros(len(df), dtype=object)
    for j, c in enumerate(cols):
        total = total + df[c].to_numpy(dtype=np.int64).astype(object) * (1 << (BITS * j))
    if all(-(2**63) <= v < 2**63 for v in total):
        return pd.Series(total.astype(np.int64), index=df.index)
    return pd.Series(total, index=df.index, dtype=object)


def from_ints(values: list[int], k: int, prefix: str = "_a") -> dict[str, np.ndarray]:
    """Normalized limb arrays for exact non-negative Python ints."""
    return {
        name: np.array(
            [(v >> (BITS * j)) & _MASK if j < k - 1 else v >> (BITS * j) for v in values],
            dtype=np.int64,
        )
        for j, name in enumerate(limb_names(k, prefix))
    }

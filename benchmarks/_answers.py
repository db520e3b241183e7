"""Equality of whale-suite answers across engines (used by the benchmarks, not by the library).

Two answers are equal when they have the same columns and the same rows in
the same order; integers equal exactly (whatever their representation: int64,
Python ints in ``object``, Decimal), floats to a relative 1e-9 (absolute
1e-12 near zero), timestamps to the nanosecond in UTC, strings exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["compare", "to_host"]


def to_host(df) -> pd.DataFrame:
    """A pandas frame (cuDF results come back through ``to_pandas``)."""
    if not isinstance(df, pd.DataFrame):
        df = df.to_pandas()
    return df.reset_index(drop=True)


def _kind(s: pd.Series) -> str:
    if pd.api.types.is_float_dtype(s.dtype):
        return "float"
    if isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(s.dtype):
        return "time"
    if pd.api.types.is_integer_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        return "int"
    if s.dtype == object and len(s) and all(isinstance(v, (int, np.integer)) for v in s.head(1000)):
        return "int"
    return "str"


def _ints(s: pd.Series) -> list[int] | np.ndarray:
    if pd.api.types.is_integer_dtype(s.dtype):
        return s.to_numpy(dtype=np.int64)
    return [int(v) for v in s]


def _ns(s: pd.Series) -> np.ndarray:
    t = pd.to_datetime(s, utc=True).dt.tz_localize(None)
    return t.to_numpy(dtype="datetime64[ns]").view(np.int64)


def _column_diff(name: str, a: pd.Series, b: pd.Series) -> str | None:
    ka, kb = _kind(a), _kind(b)
    if "float" in (ka, kb):
        x, y = a.to_numpy(dtype=np.float64), b.to_numpy(dtype=np.float64)
        bad = ~np.isclose(x, y, rtol=1e-9, atol=1e-12)
    elif ka == "time" or kb == "time":
        x, y = _ns(a), _ns(b)
        bad = x != y
    elif "int" in (ka, kb) and "str" not in (ka, kb):
        x, y = _ints(a), _ints(b)
        if isinstance(x, np.ndarray) and isinstance(y, np.ndarray):
            bad = x != y
        else:
            bad = np.array([int(u) != int(v) for u, v in zip(x, y)], dtype=bool)
    else:
        x = a.astype(object).where(a.notna(), None).tolist()
        y = b.astype(object).where(b.notna(), None).tolist()
        bad = np.array([u != v for u, v in zip(x, y)], dtype=bool)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        return f"column {name!r} differs at row {i} ({int(bad.sum())} rows): {a.iloc[i]!r} != {b.iloc[i]!r}"
    return None


def compare(got: pd.DataFrame, want: pd.DataFrame) -> str | None:
    """``None`` when equal, else a one-line description of the first difference."""
    got, want = to_host(got), to_host(want)
    if list(got.columns) != list(want.columns):
        return f"columns {list(got.columns)} != {list(want.columns)}"
    if len(got) != len(want):
        return f"{len(got)} rows != {len(want)} rows"
    for c in got.columns:
        diff = _column_diff(c, got[c], want[c])
        if diff:
            return diff
    return None

"""Text columns of the loaders, in Arrow with Python's exact whitespace.

:func:`null` (null or blank) and :func:`strings` (trimmed, null where blank) work on a whole
string column in Arrow when it holds only text (a string dtype, or object holding only
``str``): they trim exactly what ``str.strip()`` trims (:data:`SPACE`, checked against
Python's own table by a test). A column of mixed Python values (ints and text from JSON) goes
value by value (:func:`null_values`, :func:`strings_values`), with the same answers.
:func:`storable` and :func:`bad_text` build the ``_bad_*`` columns, touching only the bad
rows' cells.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "SPACE",
    "bad_text",
    "is_utf8",
    "null",
    "null_values",
    "storable",
    "strings",
    "strings_values",
    "text_column",
]

#: the characters ``str.isspace`` accepts (what ``str.strip()`` removes), for Arrow's trim;
#: a test checks it against Python's own table
SPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def text_column(s: pd.Series) -> pd.Series | None:
    """``s`` as a string column when it holds only text (and nulls), else None."""
    if isinstance(s.dtype, pd.StringDtype):
        return s
    if s.dtype == object and pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty"):
        try:
            return s.astype(pd.StringDtype())
        except (UnicodeError, ValueError, TypeError):  # what Arrow cannot hold: the per-value path
            return None
    return None


def null(s: pd.Series) -> pd.Series:
    """Rows that are null or blank text (whitespace only)."""
    t = text_column(s)
    if t is not None:
        blank = t.str.strip(SPACE).str.len() == 0
        return pd.Series(np.asarray(t.isna() | blank.fillna(True), dtype=bool), index=s.index)
    return null_values(s)


def null_values(s: pd.Series) -> pd.Series:
    """:func:`null` value by value (a column of mixed Python values)."""
    isna = s.isna()
    if s.dtype == object or isinstance(s.dtype, pd.StringDtype):
        isna |= s.astype(object).map(lambda v: isinstance(v, str) and not v.strip()).astype(bool)
    return isna


def is_utf8(v: Any) -> bool:
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def storable(s: pd.Series) -> pd.Series:
    """Text of the bad-row columns with what UTF-8 cannot carry escaped (``\\udc00``);
    only the non-null cells (the bad rows) are looked at."""
    s = s.astype(object)
    given = s.notna().to_numpy()
    if given.any():
        s = s.copy()
        s[given] = [
            v if not isinstance(v, str) or is_utf8(v) else v.encode("utf-8", "backslashreplace").decode()
            for v in s[given]
        ]
    return s


def strings(s: pd.Series) -> pd.Series:
    """Trimmed text, null where :func:`null`."""
    t = text_column(s)
    if t is not None:
        trimmed = t.str.strip(SPACE)  # blank where it trims to nothing: null(t), from one trim
        return trimmed.where(trimmed.str.len().fillna(0) > 0).astype("string")
    return strings_values(s)


def strings_values(s: pd.Series) -> pd.Series:
    """:func:`strings` value by value (a column of mixed Python values)."""
    out = s.astype(object).where(~null_values(s), None)
    return out.map(lambda v: v if v is None else str(v).strip()).astype("string")


def bad_text(s: pd.Series) -> pd.Series:
    """A ``_bad_*`` column: ``s`` (object, null on most rows) as a string column on a fresh
    index, storable (:func:`storable`); only the non-null cells are converted."""
    s = storable(s.reset_index(drop=True))
    given = s.notna().to_numpy()
    out = pd.Series(pd.NA, index=s.index, dtype="string")
    if given.any():
        out[given] = s[given].astype("string")
    return out

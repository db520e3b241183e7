"""What every loader returns: :class:`LoadResult`, a table and the rows set aside.

Splitting the combined frame (see :mod:`.common`) into :attr:`LoadResult.table`
and :attr:`LoadResult.bad_rows` keeps both lazy while sharing the parse:
computing them together (see :meth:`LoadResult.compute`) reads every file once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import dask
import pandas as pd

from .common import BAD_FIELDS, BAD_ROWS_COLUMNS

__all__ = ["LoadResult"]


# --------------------------------------------------------------------------- result


def _table_part(df: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    return df.loc[df["_bad_reason"].isna(), list(cols)].reset_index(drop=True)


def _bad_part(df: pd.DataFrame) -> pd.DataFrame:
    out = df.loc[df["_bad_reason"].notna(), list(BAD_FIELDS)].reset_index(drop=True)
    out.columns = list(BAD_ROWS_COLUMNS)
    return out


@dataclass(frozen=True)
class LoadResult:
    """What every loader returns: the loaded table and the rows it set aside.

    Attributes
    ----------
    table
        The loaded table: a dask DataFrame (a pandas one for
        :func:`~mesh_magics.runes.io.bitcoin_etl_frame` and after
        :meth:`compute`), with the canonical columns and dtypes.
    bad_rows
        The input rows that could not be loaded, in the same family as
        ``table``, with string columns ``source`` (file and line, or
        ``records[i]``), ``reason`` (a key of :data:`REASONS`), ``detail`` (a
        sentence naming the offending value) and ``record`` (the input row as
        JSON text). A bad row never stops a load.
    kind
        ``"transfers"``, ``"runes"``, ``"balances"`` or ``"etl"``.
    amount_repr
        ``"int64"`` when every amount (``amount``, or ``supply`` for runes)
        fits int64, ``"exact"`` when they are Python ints in an ``object``
        column; ``None`` for tables without amounts.

    ``table`` and ``bad_rows`` come from one parse: ``result.compute()`` (or
    ``dask.compute(result.table, result.bad_rows)``) reads the input once.
    """

    table: Any
    bad_rows: Any
    kind: str
    amount_repr: str | None = None

    @classmethod
    def from_combined(
        cls, combined: Any, columns: Sequence[str], kind: str, amount_repr: str | None
    ) -> LoadResult:
        """Split a combined frame (pandas or dask) into table and bad rows."""
        cols = list(columns)
        if isinstance(combined, pd.DataFrame):
            table = _table_part(combined, cols)
            if amount_repr is not None:
                table.attrs["amount_repr"] = amount_repr
            return cls(table, _bad_part(combined), kind, amount_repr)
        table_meta = _table_part(combined._meta, cols)
        bad_meta = _bad_part(combined._meta)
        table = combined.map_partitions(_table_part, cols, meta=table_meta)
        bad = combined.map_partitions(_bad_part, meta=bad_meta)
        return cls(table, bad, kind, amount_repr)

    @property
    def is_lazy(self) -> bool:
        """Whether ``table`` and ``bad_rows`` are dask collections."""
        return dask.is_dask_collection(self.table)

    def compute(self, **kwargs: Any) -> LoadResult:
        """Both frames as pandas, computed together (the input is parsed once)."""
        if not self.is_lazy:
            return self
        table, bad = dask.compute(self.table, self.bad_rows, **kwargs)
        if self.amount_repr is not None:
            table.attrs["amount_repr"] = self.amount_repr
        return replace(self, table=table, bad_rows=bad)

    def counts(self) -> dict[str, int]:
        """Number of bad rows per reason (computes ``bad_rows`` when lazy)."""
        bad = self.bad_rows.compute() if dask.is_dask_collection(self.bad_rows) else self.bad_rows
        return {str(k): int(v) for k, v in bad["reason"].value_counts().sort_index().items()}

    def __repr__(self) -> str:
        how = "lazy" if self.is_lazy else f"{len(self.table)} rows, {len(self.bad_rows)} bad"
        return f"<LoadResult {self.kind}: {how}, amount_repr={self.amount_repr!r}>"

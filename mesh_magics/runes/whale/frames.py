"""Plumbing of the whale suite: input families, dask collections, small results.

Every query turns its input into a dask collection (an in-memory pandas or
cuDF frame becomes one partition, computed with the synchronous scheduler so
nothing leaves the process), maps per-partition kernels over it, reduces on the
workers, and brings only the aggregated result to the client. There the small
result is finished in pandas (exact integers, final sort) and handed back in
the input's family: pandas for pandas input, cuDF for cuDF input.
"""

from __future__ import annotations

import sys
from decimal import Decimal
from typing import Any

import dask
import numpy as np
import pandas as pd

from ...errors import RunesError, SchemaError
from . import exact as ex

__all__ = [
    "Input",
    "finish",
    "flow_order",
    "frame_lib",
    "from_ticks",
    "prepare",
    "step_ticks",
    "ticks",
    "to_family",
]


class Input:
    """A query input as a dask collection, with what the kernels need to know."""

    def __init__(self, ddf: Any, family: str, local: bool, futures: list[Any] | None = None) -> None:
        self.ddf = ddf
        self.family = family  # "pandas" or "cudf"
        self.local = local  # in-memory input: compute in this process
        # a persisted input's partitions (see held_futures): kernels that read only their own
        # columns may run on them straight, where they are held
        self.futures = futures
        meta = ddf._meta
        self.k = ex.n_limbs(meta["amount"].dtype) if "amount" in meta.columns else 2
        self.time_dtype = meta["block_time"].dtype if "block_time" in meta.columns else None

    def compute(self, *collections: Any) -> list[pd.DataFrame]:
        """Compute small results; return them as host pandas frames."""
        if self.local:  # in this process; P2P shuffles would need the distributed workers
            with dask.config.set({"dataframe.shuffle.method": "tasks"}):
                results = dask.compute(*collections, scheduler="sync")
        else:
            results = dask.compute(*collections)
        return [host(r) for r in results]

    def partitions(self, collection: Any) -> tuple[Any, list[Any]]:
        """Every partition of ``collection`` computed, in order, for a plan that depends on how
        large an intermediate result turned out: ``(client, futures)``, kept on the workers,
        when a distributed client is the default, else ``(None, frames)`` in this process."""
        parts = collection.to_delayed()
        if not self.local:
            try:
                from distributed import default_client

                client = default_client()
            except (ImportError, ValueError):  # no distributed client: dask's local scheduler
                client = None
            if client is not None:
                return client, client.compute(parts)
        return None, list(dask.compute(*parts, scheduler="sync" if self.local else None))

    def project(self, columns: list[str]) -> Input:
        """The same input restricted to ``columns``."""
        return Input(self.ddf[columns], self.family, self.local, self.futures)

    def small(self, pdf: pd.DataFrame) -> Any:
        """A small host frame in the partitions' family (for broadcast merges)."""
        return to_family(pdf, self.family)


def _family_of(obj: Any) -> str:
    module = type(obj).__module__.split(".")[0]
    if module == "pandas":
        return "pandas"
    if module in ("cudf", "dask_cudf"):
        return "cudf"
    raise RunesError(
        f"expected a pandas, cuDF or dask DataFrame, got {type(obj).__module__}.{type(obj).__name__}"
    )


def held_futures(df: Any) -> list[Any] | None:
    """The futures of ``df``'s partitions (in no particular order) when ``df`` is exactly a
    persisted collection (``ddf.persist()`` on a distributed client, nothing computed on top),
    else ``None``. A task graph over the collection spends two tasks a partition before any
    kernel runs (dask's alias of each persisted key, and a column projection); a kernel mapped
    on these futures spends none."""
    try:
        from dask.dataframe.dask_expr.io.io import FromGraph
        from distributed import futures_of
    except ImportError:
        return None
    if not isinstance(getattr(df, "expr", None), FromGraph):
        return None
    futures = futures_of(df)
    return futures if len(futures) == df.npartitions else None


def prepare(df: Any, name: str, columns: list[str]) -> Input:
    """Check ``columns`` exist (and the amount dtype); wrap in-memory input as one partition."""
    is_dask = dask.is_dask_collection(df)
    meta = df._meta if is_dask else df
    family = _family_of(meta)
    if not hasattr(meta, "columns"):
        raise RunesError(f"{name} must be a DataFrame, got a {type(meta).__name__}")
    missing = [c for c in columns if c not in meta.columns]
    if missing:
        raise SchemaError(
            f"{name} is missing column(s) {missing}; the whale suite reads the canonical "
            f"columns {columns} (see mesh_magics.runes.validate_{name})"
        )
    for col in ("amount", "supply"):
        if col in columns:
            dtype = meta[col].dtype
            exact = str(dtype) == "object"
            if not (pd.api.types.is_integer_dtype(dtype) or exact):
                raise SchemaError(
                    f"{name} column {col!r} has dtype {dtype}; amounts must be int64, or exact "
                    f"Python ints (object). Fix: coerce_{name}(df)"
                )
            if exact and family == "cudf":
                raise SchemaError(
                    f"{name} column {col!r} holds exact (object) amounts, which cuDF cannot hold; "
                    "run the exact mode on the pandas backend"
                )
    if is_dask:
        return Input(df[columns], family, local=False, futures=held_futures(df))
    if family == "cudf":
        import dask_cudf  # noqa: F401  (registers cuDF with dask.dataframe)
    import dask.dataframe as dd

    with dask.config.set({"dataframe.convert-string": False}):  # exact amounts stay ints
        ddf = dd.from_pandas(df[columns], npartitions=1, sort=False)
    return Input(ddf, family, local=True)


def host(frame: Any) -> Any:
    """A pandas frame or series as it is; a cuDF one copied to the host."""
    return frame if isinstance(frame, (pd.DataFrame, pd.Series)) else frame.to_pandas()


def frame_lib(part: Any) -> Any:
    """The module of a partition (``pandas`` or ``cudf``) for ``concat``."""
    return sys.modules[type(part).__module__.split(".")[0]]


def step_ticks(freq: str | pd.Timedelta, time_dtype: Any) -> int:
    """A fixed frequency as a number of ticks of ``time_dtype``'s unit."""
    try:
        step = pd.Timedelta(pd.tseries.frequencies.to_offset(freq))
    except (TypeError, ValueError) as exc:
        raise RunesError(f"freq {freq!r} is not a fixed frequency (use e.g. '1h', '15min', '1D')") from exc
    unit = _unit(time_dtype)
    n = step // pd.Timedelta(1, unit=unit)
    if n <= 0 or step % pd.Timedelta(1, unit=unit):
        raise RunesError(f"freq {freq!r} must be a positive whole number of {unit}")
    return int(n)


def _unit(time_dtype: Any) -> str:
    unit = getattr(time_dtype, "unit", None)
    return unit or np.datetime_data(time_dtype)[0]


def ticks(times: Any) -> Any:
    """Timestamps as int64 ticks of their own unit since the epoch (UTC)."""
    return times.astype("int64")


def from_ticks(values: pd.Series, time_dtype: Any) -> pd.Series:
    """Ticks back to timestamps of ``time_dtype`` (same unit, same time zone)."""
    unit = _unit(time_dtype)
    out = pd.Series(values.to_numpy(dtype=np.int64).astype(f"datetime64[{unit}]"), index=values.index)
    tz = getattr(time_dtype, "tz", None)
    return out.dt.tz_localize(tz) if tz is not None else out


def finish(pdf: pd.DataFrame, limbs: dict[str, list[str]]) -> pd.DataFrame:
    """Replace each group of limb columns by its exact value column (int64 or exact)."""
    out = pdf.copy()
    exact = False
    for name, cols in limbs.items():
        ex.normalize(out, cols)
        values = ex.to_ints(out, cols)
        exact = exact or values.dtype == object
        out = out.drop(columns=cols)
        out[name] = values
    out.attrs["amount_repr"] = "exact" if exact else "int64"
    return out


def flow_order(k: int) -> tuple[list[str], list[bool]]:
    """Sort keys of the whale flows (Q5): amount limbs desc, then rune_id, sender, receiver asc."""
    return (
        [*reversed(ex.limb_names(k)), "rune_id", "sender", "receiver"],
        [*([False] * k), True, True, True],
    )


def to_family(pdf: pd.DataFrame, family: str) -> Any:
    """A host result in the requested family; exact integers become decimal128 on cuDF."""
    pdf = pdf.reset_index(drop=True)
    if family == "pandas":
        return pdf
    import cudf
    import pyarrow as pa

    exact = [c for c in pdf.columns if pdf[c].dtype == object and pdf[c].map(type).eq(int).all()]
    if not exact:
        return cudf.from_pandas(pdf)
    table = pa.Table.from_pandas(pdf.drop(columns=exact), preserve_index=False)
    for c in exact:
        if any(abs(v) >= 10**38 for v in pdf[c]):
            raise RunesError(f"column {c!r} exceeds decimal128(38) and cannot be returned as cuDF")
        arr = pa.array([Decimal(v) for v in pdf[c]], type=pa.decimal128(38, 0))
        table = table.append_column(c, arr)
    return cudf.DataFrame.from_arrow(table.select(list(pdf.columns)))

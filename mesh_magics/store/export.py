"""The run history as a DataFrame and as files: :func:`frame`, :func:`export_rows`.

Behind :meth:`History.to_frame <mesh_magics.store.history.History.to_frame>` and
:meth:`History.export <mesh_magics.store.history.History.export>`; pandas is imported
here only, when a frame or a file is asked for.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import HistoryError
from .history import COLUMNS, EXPORT_SUFFIXES, TIME_COLUMNS, summary_json

if TYPE_CHECKING:  # pragma: no cover
    import pandas

__all__ = ["export_rows", "frame"]


def _iso(ts: float | None) -> str | None:
    return None if ts is None else _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).isoformat()


def frame(rows: list[dict[str, Any]]) -> pandas.DataFrame:
    """History rows as a DataFrame; timestamps are UTC datetimes."""
    import pandas as pd

    out = pd.DataFrame.from_records(rows, columns=list(COLUMNS))
    for key in TIME_COLUMNS:
        seconds = out[key].astype("float64")
        out[key] = pd.to_datetime(seconds, unit="s", utc=True).astype("datetime64[us, UTC]")
    return out


def export_rows(rows: list[dict[str, Any]], dest: str | os.PathLike[str]) -> int:
    """Write ``rows`` (as :meth:`History.query` returns them) to ``dest``; return their count.
    See :meth:`History.export <mesh_magics.store.history.History.export>`."""
    dest = Path(os.fspath(dest)).expanduser()
    suffix = dest.suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise HistoryError(
            f"cannot export run history to {dest}: unsupported suffix {suffix or '(none)'!r}; "
            f"use one of {', '.join(EXPORT_SUFFIXES)}"
        )
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        if suffix == ".json":
            records = [{**r, **{k: _iso(r[k]) for k in TIME_COLUMNS}} for r in rows]
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(records, f, ensure_ascii=False, indent=1, default=str)
        else:
            table = frame(rows)
            table["summary"] = [summary_json(s) for s in table["summary"]]
            if suffix == ".csv":
                table["targets"] = [json.dumps(t) for t in table["targets"]]
                for key in TIME_COLUMNS:
                    table[key] = [_iso(r[key]) for r in rows]
                table.to_csv(tmp, index=False)
            else:
                table.to_parquet(tmp, index=False)
        os.replace(tmp, dest)
    except OSError as exc:
        raise HistoryError(f"cannot export run history to {dest}: {exc}") from exc
    finally:
        if tmp.exists():
            tmp.unlink()
    return len(rows)

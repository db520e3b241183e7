"""The run history as a DataFrame and as files: :func:`frame`, :func:`export_rows`.

Behind :meth:`History.to_frame <mesh_magics.store.history.History.to_frame>` and
:meth:`History.export <mesh_magics.store.history.History.export>`; pandas is imported
here only, when a frame or a file is asked for.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import HistoryError
from .history import COLUMNS, EXPORT_SUFFIXES, TIME_COLUMNS, summary_json
from .sqlite import SIDECARS

if TYPE_CHECKING:  # pragma: no cover
    import pandas

__all__ = ["check_destination", "export_rows", "frame"]


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


def _same(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name the same file (resolved, or the same inode)."""
    try:
        if a.resolve() == b.resolve():
            return True
        return os.path.samefile(a, b)
    except OSError:
        return False


def _inside(path: Path, directory: Path) -> bool:
    try:
        return path.resolve().is_relative_to(directory.resolve())
    except OSError:
        return False


def check_destination(
    dest: Path, databases: Iterable[Path], directories: Iterable[Path], overwrite: bool
) -> None:
    """Refuse an export over what it must not replace (see :func:`export_rows`)."""
    for db in databases:
        for victim in (db, *(db.with_name(db.name + s) for s in SIDECARS)):
            if _same(dest, victim):
                raise HistoryError(
                    f"cannot export run history to {dest}: that is the run-history database "
                    f"{'itself' if victim == db else 'file ' + victim.name} ({victim}); export to another file"
                )
    for directory in directories:
        if _inside(dest, directory):
            raise HistoryError(
                f"cannot export run history to {dest}: it is inside the mesh registry {directory}, "
                "whose files the Jupyter server reads as live meshes; export elsewhere"
            )
    if dest.is_dir():
        raise HistoryError(f"cannot export run history to {dest}: it is a directory; give a file name")
    if not overwrite and os.path.lexists(dest):
        raise HistoryError(
            f"cannot export run history to {dest}: the file exists. Fix: choose another name, or "
            "replace it with overwrite=True (`%mesh history --export FILE --force`)"
        )


def export_rows(
    rows: list[dict[str, Any]],
    dest: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    databases: Iterable[Path] = (),
    directories: Iterable[Path] = (),
) -> int:
    """Write ``rows`` (as :meth:`History.query` returns them) to ``dest``; return their count.

    Refused (HistoryError, nothing written): a suffix other than .csv/.parquet/.json, a
    file of ``databases`` or its ``-wal``/``-shm``/``-journal`` (also through a link), a
    path inside one of ``directories`` (the registry), a directory, and an existing file
    unless ``overwrite``. The file is written with mode 0600 (it holds cell sources and
    outputs) under a temporary name, then renamed; without ``overwrite`` the rename does
    not replace a file that appeared meanwhile. See
    :meth:`History.export <mesh_magics.store.history.History.export>`."""
    dest = Path(os.fspath(dest)).expanduser()
    suffix = dest.suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise HistoryError(
            f"cannot export run history to {dest}: unsupported suffix {suffix or '(none)'!r}; "
            f"use one of {', '.join(EXPORT_SUFFIXES)}"
        )
    databases, directories = list(databases), list(directories)
    check_destination(dest, databases, directories, overwrite)
    tmp: Path | None = None
    try:
        fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")  # mode 0600
        os.close(fd)
        tmp = Path(name)
        _write(rows, tmp, suffix)
        check_destination(dest, databases, directories, overwrite)  # again: it may have changed
        if overwrite:
            os.replace(tmp, dest)
        else:
            _link_no_clobber(tmp, dest)
    except FileExistsError as exc:
        raise HistoryError(
            f"cannot export run history to {dest}: the file exists. Fix: choose another name, or "
            "replace it with overwrite=True (`%mesh history --export FILE --force`)"
        ) from exc
    except OSError as exc:
        raise HistoryError(f"cannot export run history to {dest}: {exc}") from exc
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()
    return len(rows)


def _link_no_clobber(tmp: Path, dest: Path) -> None:
    """Give ``tmp`` the name ``dest`` unless ``dest`` exists (FileExistsError then)."""
    try:
        os.link(tmp, dest)  # atomic, and never replaces
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: check, then rename
        if os.path.lexists(dest):
            raise FileExistsError(dest) from None
        os.replace(tmp, dest)


def _write(rows: list[dict[str, Any]], path: Path, suffix: str) -> None:
    if suffix == ".json":
        records = [{**r, **{k: _iso(r[k]) for k in TIME_COLUMNS}} for r in rows]
        with open(path, "w", encoding="utf-8") as f:
            json.dump(records, f, ensure_ascii=False, indent=1, default=str)
        return
    table = frame(rows)
    table["summary"] = [summary_json(s) for s in table["summary"]]
    if suffix == ".csv":
        table["targets"] = [json.dumps(t) for t in table["targets"]]
        for key in TIME_COLUMNS:
            table[key] = [_iso(r[key]) for r in rows]
        table.to_csv(path, index=False)
    else:
        table.to_parquet(path, index=False)

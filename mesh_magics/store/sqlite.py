"""One SQLite file shared by every kernel of a user: :class:`SharedDatabase`.

Opened for concurrent use by several processes:

* WAL journal mode and a busy timeout, so readers never block writers and writers
  wait for each other instead of failing;
* every write is one short ``BEGIN IMMEDIATE`` transaction (taking the write lock up
  front avoids the lock-upgrade deadlock that a busy timeout cannot resolve);
* the schema version is ``PRAGMA user_version`` and migrations only ever add;
* the file is created with mode 0600 and its directory with mode 0700; a file (or a
  ``-wal``/``-shm``/``-journal`` beside it) readable by others is set to 0600 when opened.

Within a process, one :class:`SharedDatabase` holds ONE connection opened with
``check_same_thread=False`` and serialises its use with a lock, so the kernel's main
thread and background threads can share it. Writes take a few milliseconds, so the
lock is never held long. After a ``fork`` the child reopens its own connection on first
use. Every failure is an error of the caller's class, naming the file and the fix.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import MeshError

__all__ = ["SIDECARS", "SharedDatabase", "equal_to", "existing_files", "transaction"]


def equal_to(clauses: list[str], params: list[Any], **columns: Any) -> None:
    """Add ``column = ?`` to a WHERE clause's parts for each column given a value (not None)."""
    for column, value in columns.items():
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)


def existing_files(paths: Iterable[str | os.PathLike[str] | None]) -> list[tuple[Path, tuple[int, int]]]:
    """The files of ``paths`` that exist (``~`` expanded, empty entries skipped), each once
    with its ``(device, inode)``: the same file under two names counts once."""
    seen: set[tuple[int, int]] = set()
    out: list[tuple[Path, tuple[int, int]]] = []
    for raw in paths:
        if not raw:
            continue
        path = Path(os.path.expanduser(str(raw)))
        try:
            st = path.stat()
        except OSError:
            continue
        if (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            out.append((path, (st.st_dev, st.st_ino)))
    return out


#: files SQLite keeps beside a database
SIDECARS = ("-wal", "-shm", "-journal")


def _private(fd: int) -> None:
    """Mode 0600 for an open file of ours that is readable by others."""
    st = os.fstat(fd)
    if hasattr(os, "fchmod") and st.st_uid == os.geteuid() and st.st_mode & 0o077:
        os.fchmod(fd, 0o600)


def _storable(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One short write transaction, taking the write lock up front."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # SQLite may have rolled back already (e.g. SQLITE_FULL)
            conn.execute("ROLLBACK")
        raise


class SharedDatabase:
    """The database at ``path`` at the schema ``migrations`` build (see the module doc).

    ``migrations`` maps each schema version to the statements that bring the schema
    from the version before to it; ``functions`` are SQL functions to register
    (``name: (number of arguments, function)``). ``error`` is the class of every error
    raised, worded with ``label`` (``run history``), ``kind`` (``run-history database``),
    ``reopen`` (what to do once closed) and ``fix`` (how to point at another file).
    """

    def __init__(
        self,
        path: Path,
        *,
        timeout: float,
        migrations: Mapping[int, Sequence[str]],
        functions: Mapping[str, tuple[int, Callable[..., Any]]],
        error: type[MeshError],
        corrupt: type[MeshError] | None = None,
        label: str,
        kind: str,
        reopen: str,
        fix: str,
    ) -> None:
        self.path = path
        self.version = max(migrations)
        self._timeout = float(timeout)
        self._migrations, self._functions = migrations, functions
        self._error_class, self._label, self._kind, self._reopen, self._fix = error, label, kind, reopen, fix
        self._corrupt_class = corrupt or error
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = -1
        self.closed = False
        self._prepare_file()
        with self._lock:
            self._connection()

    def error(
        self, what: str, exc: BaseException | None = None, cls: type[MeshError] | None = None
    ) -> MeshError:
        cause = f": {exc}" if exc is not None else ""
        return (cls or self._error_class)(f"{self._label} {self.path}: {what}{cause}. Fix: {self._fix}.")

    def _prepare_file(self) -> None:
        """Create the directory (0700) and the file (0600) before SQLite opens it."""
        parent = self.path.parent
        try:
            if not parent.is_dir():
                parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                os.chmod(parent, 0o700)  # mkdir's mode is subject to the umask
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                _private(fd)
            finally:
                os.close(fd)
            # SQLite gives -wal/-shm the mode of the database when it creates them, but
            # ones left by an older, looser file keep theirs: tighten them too.
            for suffix in SIDECARS:
                try:
                    fd = os.open(f"{self.path}{suffix}", os.O_RDWR | getattr(os, "O_NOFOLLOW", 0))
                except (FileNotFoundError, IsADirectoryError):
                    continue
                try:
                    _private(fd)
                finally:
                    os.close(fd)
        except OSError as exc:
            raise self.error("cannot create or open the database file", exc) from exc

    def _connection(self) -> sqlite3.Connection:
        """This process's connection (reopened after a fork). Call with ``_lock`` held."""
        if self.closed:
            raise self._error_class(f"{self._label} {self.path} is closed; {self._reopen}")
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        try:
            # isolation_level=None: we issue BEGIN IMMEDIATE / COMMIT ourselves.
            conn = sqlite3.connect(
                self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise self.error("cannot open the database", exc) from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
            mode = self._enable_wal(conn)
            # WAL + NORMAL: no corruption on a crash, and no fsync per write on the
            # hot path; a power cut may lose the last commits, never the file.
            conn.execute("PRAGMA synchronous = NORMAL")
            if str(mode).lower() != "wal":  # e.g. on network file systems
                raise self.error(f"WAL journal mode is not available (got {mode!r}); use a local disk")
            for name, (n_args, fn) in self._functions.items():
                conn.create_function(name, n_args, fn, deterministic=True)
            self._migrate(conn)
        except MeshError:
            conn.close()
            raise
        except sqlite3.Error as exc:
            conn.close()
            text = str(exc).lower()
            if "full" in text or "readonly" in text or "read-only" in text or "unable to open" in text:
                raise self.error("cannot write the database", exc) from exc  # the disk, not the file
            what = f"not a usable {self._kind} (move the file aside to start afresh)"
            raise self.error(what, exc, self._corrupt_class) from exc
        self._conn, self._pid = conn, os.getpid()
        return conn

    def _enable_wal(self, conn: sqlite3.Connection) -> str:
        """Switch to WAL (a no-op once the file is WAL); return the journal mode."""
        deadline, delay = time.monotonic() + self._timeout, 0.005
        while True:
            try:
                return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
            except sqlite3.OperationalError as exc:
                # The switch needs an exclusive lock, and SQLite can report "database is
                # locked" without calling the busy handler when kernels open a new file
                # together: retry with backoff within the busy timeout.
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.1)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == self.version:
            return
        if version > self.version:
            raise self._error_class(
                f"{self._label} {self.path} has schema version {version}, newer than this "
                f"mesh-magics understands ({self.version}). Fix: upgrade mesh-magics, or {self._fix}."
            )
        with transaction(conn):
            # Re-read under the write lock: another kernel may have migrated meanwhile.
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for target in range(version + 1, self.version + 1):
                for statement in self._migrations[target]:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {target}")

    def write(self, sql: str, params: Sequence[Any]) -> int:
        """Run one statement in its own short write transaction; return its rowcount.
        ``sqlite3.IntegrityError`` is left to the caller to word. Text that UTF-8 cannot
        carry (a lone surrogate a cell printed) is stored escaped, never refused."""
        params = [_storable(p) if isinstance(p, str) else p for p in params]
        with self._lock:
            conn = self._connection()
            try:
                with transaction(conn):
                    return conn.execute(sql, params).rowcount
            except sqlite3.IntegrityError:
                raise
            except sqlite3.Error as exc:
                raise self.error("write failed", exc) from exc

    def read(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        """Rows of a query, as dicts."""
        with self._lock:
            conn = self._connection()
            try:
                cursor = conn.execute(sql, params)
                names = [d[0] for d in cursor.description]
                return [dict(zip(names, row)) for row in cursor.fetchall()]
            except sqlite3.Error as exc:
                raise self.error("read failed", exc) from exc

    def close(self) -> None:
        """Close the connection. Idempotent."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn, self.closed = None, True

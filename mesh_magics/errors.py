"""The one error tree of mesh-magics.

Every error the package raises on purpose is a :class:`MeshError`, so a user can
catch them all with one ``except`` clause, and each message names the problem
and the fix. The tree::

    MeshError
    ├── MeshConfigError          a ``mesh.*`` dask.config key or a magic option is wrong
    │   ├── MeshUsageError       a usage mistake in the magics (also an IPython UsageError)
    │   └── TemplateError        an unknown template, or bad arguments for one
    ├── NoMeshError              no mesh is up or connected yet
    ├── GPUUnavailableError      ``--gpu`` asked for, but no usable NVIDIA GPU / dask-cuda
    ├── MeshConnectionError      the scheduler cannot be reached (connect, reconnect gave up)
    ├── TransferError            moving variables between the notebook and the mesh failed
    │   ├── PushError            a pushed variable cannot be pickled (names it)
    │   └── PullError            a ``--pull`` name is not defined on the worker (names it)
    ├── RunError                 a ``%%mesh`` run did not finish normally
    │   ├── RemoteError          the cell raised on a worker (carries the remote traceback)
    │   │   └── BatchError       items of a ``%%mesh map`` batch failed (first tracebacks, the rest counted)
    │   ├── RunCancelledError    cancelled (Ctrl-C, ``MeshRun.cancel()``, the side panel)
    │   ├── RunTimeoutError      ``--timeout`` expired
    │   └── WorkerLostError      the worker running the cell left and no retry was left
    ├── HistoryError             the run-history database cannot be opened or written
    │   └── HistoryCorruptError  the file is not a run-history database (moved aside by recovery)
    ├── RegistryError            the registry of live meshes cannot be written
    ├── AuditError               the audit trail cannot be opened, written, queried or exported
    ├── PluginError              a plugin (an entry point) failed to load or register
    └── RunesError               ``mesh_magics.runes``: bad tables or input
        ├── SchemaError          a table does not match the canonical schema (names column/row)
        └── RuneNameError        a rune name, spaced name or rune id does not parse

``MeshUsageError`` also derives from IPython's ``UsageError`` when IPython is
importable. It is made on first use (a module ``__getattr__``): the Runes kernels
import this module on Dask's workers, and importing IPython there cost each worker
~85 ms on its first whale task. IPython shows every ``MeshError`` as one red line naming the problem
and the fix (``_render_traceback_``), except ``RemoteError``, which renders the
remote traceback.

Parameters. A message that names a parameter of the call that failed is built with
:func:`named`, which keeps the parameter apart from the text: ``str(error)`` spells it
as Python does (``timeout must be a positive number of seconds``), and the magics call
:meth:`MeshError.respell` to spell it as their flag (``--timeout must be ...``). The core
never writes a magic's flag itself.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

__all__ = [
    "AuditError",
    "BatchError",
    "PluginError",
    "TemplateError",
    "ChainError",
    "GPUUnavailableError",
    "HistoryCorruptError",
    "HistoryError",
    "LedgerError",
    "MeshConfigError",
    "MeshConnectionError",
    "MeshError",
    "MeshUsageError",
    "NoMeshError",
    "PullError",
    "PushError",
    "RegistryError",
    "RemoteError",
    "RuneNameError",
    "RunCancelledError",
    "RunError",
    "RunTimeoutError",
    "RunesError",
    "SchemaError",
    "TransferError",
    "WorkerLostError",
]  # and `named`, the package's own helper for messages (not part of the tree)


class Named(str):
    """A message that names parameters; ``str`` gives their Python spelling.

    ``parts`` alternates literal text (already formatted values included) and
    parameter names, which :meth:`spelled` can render another way.
    """

    parts: tuple[tuple[bool, str], ...]

    def __new__(cls, parts: tuple[tuple[bool, str], ...]) -> Named:
        self = super().__new__(cls, "".join(text for _, text in parts))
        self.parts = parts
        return self

    def __getnewargs__(self) -> tuple[tuple[tuple[bool, str], ...]]:  # type: ignore[override]  # str's takes the text
        return (self.parts,)

    def spelled(self, spelling: Mapping[str, str]) -> Named:
        """The same message with each parameter in ``spelling`` spelled as mapped."""
        return Named(tuple((p, spelling.get(t, t) if p else t) for p, t in self.parts))


def named(template: str, /, **values: Any) -> Named:
    """A message naming parameters: ``{field}`` in ``template`` is the value of
    ``values[field]`` when given (formatted with its ``!r`` or ``:spec``), else the
    name of a parameter, written as Python spells it (``{timeout}``, ``{kind='cpu'}``).

    >>> str(named("{timeout} must be positive, not {value!r}", value=-1))
    'timeout must be positive, not -1'
    >>> named("{timeout} must be positive", value=-1).spelled({"timeout": "--timeout"})
    '--timeout must be positive'
    """
    parts: list[tuple[bool, str]] = []
    for literal, field, spec, conversion in string.Formatter().parse(template):
        if literal:
            parts.append((False, literal))
        if field is None:
            continue
        if field in values:
            value = values[field]
            if conversion == "r":
                value = repr(value)
            elif conversion == "s":
                value = str(value)
            parts.append((False, format(value, spec or "")))
        else:
            parts.append((True, field))
    return Named(tuple(parts))


class MeshError(Exception):
    """Base class of every error mesh-magics raises on purpose."""

    def _render_traceback_(self) -> list[str]:
        """IPython shows our errors as one line (the message names the fix), not our frames."""
        return [f"\x1b[31m{type(self).__name__}\x1b[0m: {self}"]

    def respell(self, spelling: Mapping[str, str]) -> MeshError:
        """Spell the parameters the message names as ``spelling`` maps them (a magic's
        flags); messages built without :func:`named` stay as they are. Returns ``self``."""
        if self.args and isinstance(self.args[0], Named):
            self.args = (self.args[0].spelled(spelling), *self.args[1:])
        return self


class MeshConfigError(MeshError, ValueError):
    """A ``mesh.*`` configuration value or an option is invalid."""


class NoMeshError(MeshError, RuntimeError):
    """No mesh is up or connected in this session."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or "no mesh yet: run `%mesh up` (the embedded mesh) or `%mesh connect ADDRESS` first "
            "(from Python: mesh_magics.up() or mesh_magics.connect(address))"
        )


class GPUUnavailableError(MeshError, RuntimeError):
    """A GPU mesh was asked for but no usable NVIDIA GPU (or dask-cuda) was found."""


class MeshConnectionError(MeshError, ConnectionError):
    """The scheduler could not be reached, or reconnection gave up."""


class TransferError(MeshError):
    """Moving a variable between the notebook and the mesh failed."""

    def __init__(self, message: str, name: str | None = None) -> None:
        super().__init__(message)
        self.name = name


class PushError(TransferError):
    """A variable to push could not be serialised."""


class PullError(TransferError, NameError):
    """A ``--pull`` name is not defined in the remote namespace."""


class RunError(MeshError):
    """A run did not finish normally. ``run_id`` names it in the history."""

    def __init__(self, message: str, run_id: str | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id


class RemoteError(RunError):
    """The cell raised on one or more workers.

    ``failures`` holds one dict per failed worker: ``worker``, ``ename``,
    ``evalue`` and ``traceback`` (a list of formatted lines, the cell's own line
    numbers). IPython renders it through ``_render_traceback_`` so the user sees
    the remote traceback, not this module's frames.
    """

    def __init__(
        self,
        message: str,
        failures: list[dict[str, Any]],
        run_id: str | None = None,
        rendered: list[str] | None = None,
    ) -> None:
        super().__init__(message, run_id)
        self.failures = failures
        self._rendered = rendered or [message]

    @property
    def ename(self) -> str:
        return str(self.failures[0]["ename"]) if self.failures else "RemoteError"

    def _render_traceback_(self) -> list[str]:
        return list(self._rendered)


class BatchError(RemoteError):
    """Items of a batch (``%%mesh map``) failed after their retries. ``failures`` has one
    dict per failed item (``item``: its index, ``ename``, ``evalue``, ``traceback``), ``failed``
    counts them, and ``results`` keeps every item's value in item order (None where it failed):
    nothing the other items computed is lost."""

    def __init__(
        self,
        message: str,
        failures: list[dict[str, Any]],
        run_id: str | None = None,
        rendered: list[str] | None = None,
        results: list[Any] | None = None,
    ) -> None:
        super().__init__(message, failures, run_id, rendered)
        self.failed = len(failures)
        self.results = results if results is not None else []


class RunCancelledError(RunError):
    """The run was cancelled before it finished."""


class RunTimeoutError(RunError, TimeoutError):
    """The run's ``--timeout`` expired; the run was cancelled."""


class WorkerLostError(RunError):
    """The worker running the cell left the mesh and no retry was left."""


class HistoryError(MeshError):
    """The run-history database cannot be opened or written."""


class HistoryCorruptError(HistoryError):
    """The run-history file is not a usable database; :func:`mesh_magics.store.history.recover`
    moves it aside (nothing is deleted) so a new one can start."""


class RegistryError(MeshError):
    """The registry of live meshes cannot be read or written."""


class AuditError(MeshError):
    """The audit trail cannot be opened, written, queried or exported."""


class TemplateError(MeshConfigError):
    """An unknown template, a template file that does not parse, or bad arguments for one."""


class PluginError(MeshError):
    """A plugin's entry point failed to load or to register; the message names the package."""


class RunesError(MeshError):
    """Base class for errors of :mod:`mesh_magics.runes`."""


class SchemaError(RunesError, ValueError):
    """A table does not match the canonical schema; the message names the column/row."""


class RuneNameError(RunesError, ValueError):
    """A rune name, spaced rune name or rune id does not parse."""


class LedgerError(RunesError, ValueError):
    """The Runes ledger cannot index what it was given (a block out of order, an unknown
    prevout, an impossible balance); the message names the block and the transaction."""


class ChainError(MeshError, ValueError):
    """Block data that does not parse or does not line up: a truncated file, a wrong
    network magic or XOR key, a merkle root that does not match, undo data that does not
    match its block. The message names the file, the offset and the block."""


if TYPE_CHECKING:

    class MeshUsageError(MeshConfigError):
        """A usage mistake in a magic: shown by IPython as one line, no traceback."""


def _usage_error() -> type:
    bases: tuple[type, ...] = (MeshConfigError,)
    try:  # IPython is a dependency, but keep the error tree importable without it.
        from IPython.core.error import UsageError

        bases = (MeshConfigError, UsageError)
    except ImportError:  # pragma: no cover - exercised only without IPython
        pass
    doc = "A usage mistake in a magic: shown by IPython as one line, no traceback."
    return type("MeshUsageError", bases, {"__doc__": doc, "__module__": __name__})


def __getattr__(name: str) -> Any:
    if name == "MeshUsageError":  # made once, on first use (see the module's docstring)
        cls = globals()["MeshUsageError"] = _usage_error()
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

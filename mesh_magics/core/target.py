"""One worker's share of a run: :class:`Target`.

The dispatcher starts attempts on it (:meth:`Target.attempt`); the run records what came
back (``result``, ``error``, ``lost``, ``chunks_seen``). A plain record: both sides
write only the fields the docstrings give them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Target"]


@dataclass(eq=False)
class Target:
    """Where one share of a run executes and what its current attempt returned.

    Written by the dispatcher: ``address``, ``payload`` (what
    :func:`mesh_magics.worker.cell.run_cell` receives), ``future`` and ``attempts``
    (through :meth:`attempt`). Written by the run: ``result`` (the cell task's dict),
    ``error`` (the future's failure), ``lost`` and ``chunks_seen``.
    """

    address: str
    payload: dict[str, Any] = field(repr=False)
    future: Any = field(default=None, repr=False)
    attempts: int = 0
    result: dict[str, Any] | None = field(default=None, repr=False)
    error: BaseException | None = None
    chunks_seen: int = 0
    lost: bool = False

    def attempt(self) -> int:
        """Begin a new attempt: forget the last one's outcome; return its number (1, 2, ...)."""
        self.attempts += 1
        self.result = self.error = None
        self.future = None
        self.lost = False
        self.chunks_seen = 0
        return self.attempts

    @property
    def done(self) -> bool:
        """Whether the current attempt has an outcome."""
        return self.result is not None or self.error is not None or self.lost

    @property
    def status(self) -> str | None:
        """The cell task's own status (``ok``, ``error``, ``cancelled``), None without a result."""
        return None if self.result is None else str(self.result.get("status"))

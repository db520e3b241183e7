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
    (through :meth:`attempt`), ``waiting_until`` (through :meth:`wait`). Written by the run:
    ``result`` (the cell task's dict), ``error`` (the future's failure), ``lost`` and
    ``chunks_seen``; it releases the future once it has the outcome (:meth:`release`).
    """

    address: str
    payload: dict[str, Any] = field(repr=False)
    future: Any = field(default=None, repr=False)
    attempts: int = 0
    result: dict[str, Any] | None = field(default=None, repr=False)
    error: BaseException | None = None
    chunks_seen: int = 0
    lost: bool = False
    waiting_until: float | None = None  # a retry waits for a live worker until then (monotonic)
    gave_up: bool = False  # the retry waited for a live worker in vain

    def attempt(self) -> int:
        """Begin a new attempt: forget the last one's outcome; return its number (1, 2, ...)."""
        self.attempts += 1
        self.result = self.error = None
        self.future = None
        self.lost = False
        self.waiting_until = None
        self.gave_up = False
        self.chunks_seen = 0
        return self.attempts

    def wait(self, until: float) -> None:
        """The next attempt waits for a worker to run on, until ``until`` (monotonic)."""
        self.result = self.error = None
        self.lost = False
        self.waiting_until = until

    def release(self) -> None:
        """Drop the current attempt's future: its task (and result) leave the scheduler, so a
        later worker loss can never run this cell again."""
        if self.future is not None:
            try:
                self.future.release()
            except Exception:  # the client may be gone; nothing is held then
                pass
        self.future = None

    @property
    def done(self) -> bool:
        """Whether the current attempt has an outcome."""
        return self.result is not None or self.error is not None or self.lost

    @property
    def waiting(self) -> bool:
        return self.waiting_until is not None

    @property
    def status(self) -> str | None:
        """The cell task's own status (``ok``, ``error``, ``cancelled``), None without a result."""
        return None if self.result is None else str(self.result.get("status"))

"""Errors of the server extension's core, each carrying its HTTP status.

The manager raises these; the handlers' one translator turns them (and any
other :class:`~mesh_magics.errors.MeshError`) into ``{"error": {"reason",
"status"}}``. The tree::

    MeshError
    └── ApiError            500, the base: ``reason`` is shown to the user as is
        ├── BadRequest      400  an input failed validation
        ├── Forbidden       403  the server will not contact that scheduler
        ├── NotFound        404  no such mesh, run or route
        ├── Conflict        409  the request does not fit the state (run ended, mesh gone, version)
        └── Unavailable     502  the scheduler of a registered mesh did not answer
"""

from __future__ import annotations

from ..errors import MeshError

__all__ = ["ApiError", "BadRequest", "Conflict", "Forbidden", "NotFound", "Unavailable"]


class ApiError(MeshError):
    """An error with an HTTP status and a reason meant for the user."""

    status: int = 500

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        if status is not None:
            self.status = status


class BadRequest(ApiError):
    """An input failed validation (400)."""

    status = 400


class Forbidden(ApiError):
    """The request would make the server contact a scheduler it does not know (403)."""

    status = 403


class NotFound(ApiError):
    """No such mesh, run or route (404)."""

    status = 404


class Conflict(ApiError):
    """The request does not fit the current state (409)."""

    status = 409


class Unavailable(ApiError):
    """A registered scheduler did not answer (502: the server is a gateway to it)."""

    status = 502

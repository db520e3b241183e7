"""The frontend/server version handshake.

The panel sends its package version on every request, in the header
``X-Mesh-Frontend-Version`` (on the ``events`` websocket, where browsers cannot
set headers, in the query parameter ``frontend_version``). The server answers
409 when the frontend speaks another major version of the REST API than
:data:`API_VERSION`: that happens when the browser runs a cached bundle, or the
JupyterLab extension and the Python package come from different installs.

The value is a version (``0.1.0``, ``0.2.0-alpha.1``), optionally followed by
the API the frontend speaks: ``0.1.0; api=1``. Without ``api=``, the API is
looked up in :data:`API_SINCE`, the first frontend release of each API major.
"""

from __future__ import annotations

import re

from .._version import __version__
from .errors import BadRequest, Conflict

__all__ = ["API_SINCE", "API_VERSION", "HEADER", "QUERY_PARAMETER", "check_frontend", "frontend_api"]

#: Major version of the REST API served here (``GET version`` → ``api``).
API_VERSION = 1
#: First frontend package version that speaks each API major.
API_SINCE: dict[int, tuple[int, ...]] = {1: (0, 1, 0)}
#: Where the frontend puts its version.
HEADER = "X-Mesh-Frontend-Version"
QUERY_PARAMETER = "frontend_version"

_VERSION = re.compile(r"^\s*v?(\d+(?:\.\d+)*)\S*\s*(?:;\s*api\s*=\s*(\d+)\s*)?$")


def frontend_api(value: str) -> int:
    """The API major a frontend speaks, from its version string (BadRequest if malformed)."""
    match = _VERSION.match(value) if len(value) <= 100 else None
    if match is None:
        raise BadRequest(
            f"malformed {HEADER} {value[:100]!r}: expected a version such as '0.1.0' or '0.1.0; api=1'"
        )
    if match.group(2) is not None:
        return int(match.group(2))
    version = tuple(int(part) for part in match.group(1).split("."))
    spoken = [api for api, since in API_SINCE.items() if version >= since]
    return max(spoken) if spoken else 0


def check_frontend(value: str | None) -> None:
    """Raise :class:`Conflict` (409) unless the frontend speaks :data:`API_VERSION`.

    A request without a version (curl, scripts) is served: the handshake guards
    the panel against a stale bundle, it is not an access control.
    """
    if value is None or not value.strip():
        return
    api = frontend_api(value)
    if api != API_VERSION:
        raise Conflict(
            f"the Mesh panel in this browser (version {value.strip()}, API {api}) does not match the "
            f"mesh-magics server extension (version {__version__}, API {API_VERSION}). Reinstall "
            "mesh-magics so both come from the same release (pip install -U mesh-magics), restart "
            "Jupyter, then reload this page."
        )

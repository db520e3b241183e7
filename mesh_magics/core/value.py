"""The one path from a cell task's result to the cell's value.

A cell's last expression comes back as itself when it pickles, and otherwise stays on
the worker: the result then carries only its mimebundle (``repr`` and ``_repr_html_``),
returned as a :class:`RemoteValue` that displays like the original. ``MeshRun.result()``
and ``%%mesh`` both read values here, so they always agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["RemoteValue", "value_of"]


class RemoteValue:
    """A value that stayed on the worker (it does not pickle): shown by its remote repr.

    ``bundle`` is its mimebundle (``text/plain``, maybe ``text/html``); ``note`` says why
    it could not travel.
    """

    def __init__(self, bundle: Mapping[str, str], note: str | None) -> None:
        self.bundle, self.note = dict(bundle), note

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return dict(self.bundle)

    def __repr__(self) -> str:
        return self.bundle.get("text/plain", "<remote value>")


def value_of(result: Mapping[str, Any]) -> Any:
    """The value of one cell task's result: itself, a :class:`RemoteValue`, or None."""
    if result.get("has_value"):
        return result.get("value")
    bundle = result.get("mimebundle")
    return RemoteValue(bundle, result.get("value_note")) if bundle else None

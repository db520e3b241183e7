"""Dask tokens of a session namespace's values, for the result cache (``%%mesh --cache``).

A cached result is valid only while the worker's namespace holds what the cell saw and
what it left there (see :mod:`mesh_magics.core.cache`). The worker reports both as Dask
tokens (:func:`dask.base.tokenize`, ``ensure_deterministic``: a value without a stable
token is ``None``, never a token that could match by chance); a name the namespace does
not hold is :data:`ABSENT`. Tokens are compared only with tokens computed in the same
worker process, or with those of the kernel for pushed values.

``dask`` is what ``distributed`` runs on, so it is on every worker already.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["ABSENT", "tokens"]

#: the token of a name the namespace does not hold
ABSENT = "-"


def tokens(ns: Mapping[str, Any], names: Iterable[str]) -> dict[str, str | None]:
    """``{name: token}`` of ``names`` in ``ns``: :data:`ABSENT` when missing, ``None`` when the
    value has no deterministic Dask token (an open file, a lock, a socket)."""
    from dask.base import tokenize

    out: dict[str, str | None] = {}
    for name in names:
        if name not in ns:
            out[name] = ABSENT
            continue
        try:
            out[name] = tokenize(ns[name], ensure_deterministic=True)
        except Exception:  # noqa: BLE001 - any failure to tokenize means: no stable token
            out[name] = None
    return out

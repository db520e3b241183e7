"""The mesh's view of its workers: :class:`WorkerTable`.

Kept from the scheduler's own answers: :meth:`WorkerTable.refresh` replaces it with the
workers of the scheduler's ``identity`` reply, and the scheduler's ``add-worker`` /
``remove-worker`` events keep it current between refreshes. Records are the
scheduler's worker records (see :mod:`mesh_magics.worker.metrics`).

Not ``Client.scheduler_info()``: it fetches the identity into the client's cache and
returns the cache, which the client's own periodic update (every
``distributed.client.scheduler-info-interval``) overwrites with an identity of *no*
workers (it asks for ``n_workers=0``). When that update lands between the fetch and the
return, ``scheduler_info()["workers"]`` is empty although every worker is up: about once
in 17,000 calls at the default 2 s interval (distributed 2026.8), which made a batch
refuse with "the mesh has no workers yet" in CI.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from ..worker.metrics import WorkerInfo, describe_workers
from .targets import label

__all__ = ["WorkerTable"]

logger = logging.getLogger("mesh_magics")


class WorkerTable:
    def __init__(self) -> None:
        self._records: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def refresh(self, client: Any) -> dict[str, dict[str, Any]]:
        """Read the workers from the scheduler (never call on Dask's event-loop thread);
        on failure keep what was known. Returns the records."""
        try:
            records = dict(client.sync(client.scheduler.identity, n_workers=-1).get("workers", {}))
        except Exception as e:
            logger.debug("the scheduler's identity failed: %s", e)
        else:
            with self._lock:
                self._records = records
        return self.records()

    def some(self, client: Any, wait: float) -> dict[str, dict[str, Any]]:
        """The records now; when there are none (every worker restarting, the cluster scaling
        up), refreshed every quarter second for up to ``wait`` seconds first. May still be empty."""
        records = self.refresh(client)
        deadline = time.monotonic() + max(0.0, wait)
        while not records and time.monotonic() < deadline:
            time.sleep(0.25)
            records = self.refresh(client)
        return records

    def joined(self, address: str) -> None:
        with self._lock:
            self._records.setdefault(address, {})

    def left(self, address: str) -> None:
        with self._lock:
            self._records.pop(address, None)

    def records(self) -> dict[str, dict[str, Any]]:
        """A copy of the records, address → scheduler record."""
        with self._lock:
            return dict(self._records)

    def addresses(self) -> list[str]:
        with self._lock:
            return sorted(self._records)

    def label(self, address: str) -> str:
        """A worker's name when known, else its address."""
        with self._lock:
            return label(self._records, address)

    def describe(self, records: Mapping[str, Any] | None = None) -> list[WorkerInfo]:
        """:class:`WorkerInfo` rows, sorted by name."""
        return describe_workers({"workers": self.records() if records is None else records})

    def __len__(self) -> int:
        return len(self._records)

"""What ``%mesh status`` and a mesh's repr show: text/plain and text/html."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from dask.utils import format_bytes as _bytes

from ..worker.metrics import WorkerInfo

if TYPE_CHECKING:  # pragma: no cover
    from .mesh import Mesh

__all__ = ["MeshStatus"]

#: how a mesh's kind reads beside its state ("connected" is a kind and a state)
_KIND_TEXT = {"connected": "joined"}


class MeshStatus:
    """What ``%mesh status`` and the mesh's repr show (text/plain and text/html)."""

    def __init__(self, mesh: Mesh, workers: list[WorkerInfo]) -> None:
        self.mesh, self.workers = mesh, workers

    def summary(self) -> dict[str, Any]:
        w = self.workers
        return {
            "address": self.mesh.address,
            "kind": self.mesh.kind,
            "state": self.mesh.state,
            "workers": len(w),
            "threads": sum(x.threads for x in w),
            "memory": sum(x.memory_limit for x in w),
            "gpus": sum(1 for x in w if x.gpu_name),
            "dashboard": self.mesh.dashboard_link,
            "reconnect_attempts": self.mesh.reconnect_attempts,
            "runs_in_flight": len(self.mesh.runs_in_flight()),
        }

    def __repr__(self) -> str:
        s = self.summary()
        lines = [
            f"Mesh {s['address']} ({_KIND_TEXT.get(s['kind'], s['kind'])}) {s['state']}"
            + (f", reconnect attempt {s['reconnect_attempts']}" if s["state"] == "reconnecting" else ""),
            f"  workers {s['workers']}, threads {s['threads']}, memory {_bytes(s['memory'])}, "
            f"GPUs {s['gpus']}, runs in flight {s['runs_in_flight']}",
            f"  dashboard {s['dashboard']}",
        ]
        for x in self.workers:
            gpu = (
                f", GPU {x.gpu_name} {_bytes(x.gpu_memory_used or 0)}/{_bytes(x.gpu_memory_total or 0)}"
                if x.gpu_name
                else ""
            )
            lines.append(
                f"  [{x.name}] {x.address} host {x.host}, {x.threads} threads, "
                f"memory {_bytes(x.memory)}/{_bytes(x.memory_limit)}, tasks {x.tasks}{gpu}"
            )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        s = self.summary()
        e = html.escape
        dash = (
            f"<a href='{e(s['dashboard'])}' target='_blank'>{e(s['dashboard'])}</a>"
            if s["dashboard"]
            else "none"
        )
        rows = "".join(
            f"<tr><td>{e(x.name)}</td><td><code>{e(x.address)}</code></td><td>{e(x.host)}</td>"
            f"<td>{x.threads}</td><td>{_bytes(x.memory)} / {_bytes(x.memory_limit)}</td>"
            f"<td>{e(x.gpu_name or '-')}</td><td>{x.tasks}</td></tr>"
            for x in self.workers
        )
        return (
            f"<div class='mesh-status'><b>Mesh</b> <code>{e(s['address'])}</code> "
            f"({e(_KIND_TEXT.get(s['kind'], s['kind']))}, {e(s['state'])}) — {s['workers']} workers, {s['threads']} threads, "
            f"{_bytes(s['memory'])}, {s['gpus']} GPUs — dashboard {dash}"
            "<table><tr><th>name</th><th>address</th><th>host</th><th>threads</th><th>memory</th>"
            f"<th>GPU</th><th>tasks</th></tr>{rows}</table></div>"
        )

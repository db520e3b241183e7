"""The in-cell dashboard widget (anywidget) and its plain-text twin.

Why anywidget: the dashboard is one custom view (progress bars, a node map of
1–256 tiles with transfer links, a filterable log) whose state is a handful of
synced traits. anywidget gives a small ES module with no front-end build and no
extra labextension of ours, and ipywidgets 8's comm machinery underneath.
Nothing here is a plot, so bokeh is not used for the dashboard (it is for the
analytics notebooks' charts).

Every display also carries ``text/plain`` and ``text/html`` (``snapshot``), so
terminals, nbviewer, VS Code without widgets and nbval read a summary instead of
``MeshDashboard(...)``.
"""

from __future__ import annotations

import html
import pathlib
from typing import Any

import anywidget
import traitlets as t

from ..core.telemetry import LogBuffer, NodeMap, RunProgress, bytes_text

__all__ = ["MeshDashboard", "text_snapshot"]

_HERE = pathlib.Path(__file__).parent
#: log lines sent to the view (the buffer may hold more; the search covers these)
VIEW_LOG_LINES = 500


class MeshDashboard(anywidget.AnyWidget):
    _esm = _HERE / "_widget.js"
    _css = _HERE / "_widget.css"

    run_id = t.Unicode("").tag(sync=True)
    name = t.Unicode("").tag(sync=True)
    status = t.Unicode("queued").tag(sync=True)
    elapsed = t.Float(0.0).tag(sync=True)
    blocking = t.Bool(True).tag(sync=True)
    hint = t.Unicode("").tag(sync=True)
    dashboard_link = t.Unicode("").tag(sync=True)
    total = t.Int(0).tag(sync=True)
    done = t.Int(0).tag(sync=True)
    percent = t.Float(0.0).tag(sync=True)
    eta = t.Float(None, allow_none=True).tag(sync=True)
    groups = t.List(t.Dict()).tag(sync=True)
    compact = t.Bool(False).tag(sync=True)
    node_groups = t.List(t.Dict()).tag(sync=True)
    links = t.List(t.List()).tag(sync=True)
    logs = t.List(t.List()).tag(sync=True)
    dropped = t.Int(0).tag(sync=True)
    summary = t.Dict().tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._cancel_handlers: list[Any] = []
        self.on_msg(self._on_front_msg)

    def on_cancel(self, fn: Any) -> None:
        self._cancel_handlers.append(fn)

    def _on_front_msg(self, _w: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("event") == "cancel":
            for fn in self._cancel_handlers:
                fn()

    def set_state(self, progress: RunProgress, nodes: NodeMap, logs: LogBuffer, busy: set[str]) -> None:
        """Push the model into the traits in one batch (one comm message)."""
        with self.hold_sync():
            self.total, self.done = progress.total, progress.done + progress.erred
            self.percent = progress.percent
            self.eta = progress.eta()
            self.groups = progress.rows()
            self.compact = nodes.compact
            self.node_groups = _slim(nodes.groups(busy), nodes.compact)
            self.links = [list(x[:3]) for x in nodes.links[-200:]]
            self.logs = [list(x) for x in list(logs.lines)[-VIEW_LOG_LINES:]]
            self.dropped = logs.dropped + max(0, len(logs.lines) - VIEW_LOG_LINES)

    def snapshot(self) -> dict[str, str]:
        return text_snapshot(self)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        data = dict(data or {})
        data.update(self.snapshot())
        return data


def _slim(groups: list[dict[str, Any]], compact: bool) -> list[dict[str, Any]]:
    """In compact mode (many workers) tiles carry only what the small squares show."""
    if not compact:
        return groups
    keep = ("address", "name", "state", "cpu", "memory", "memory_limit", "processing", "gpu_util")
    return [{**g, "tiles": [{k: tile[k] for k in keep} for tile in g["tiles"]]} for g in groups]


def text_snapshot(w: Any) -> dict[str, str]:
    """text/plain and text/html of the dashboard's current state."""
    lines = [f"mesh run {w.name}: {w.status}, {w.elapsed:.1f} s"]
    if w.total:
        lines.append(f"  progress {w.done}/{w.total} tasks ({w.percent:.0f} %)")
    n_tiles = sum(len(g["tiles"]) for g in w.node_groups)
    if n_tiles:
        busy = sum(1 for g in w.node_groups for tl in g["tiles"] if tl["state"] != "idle")
        lines.append(f"  workers {n_tiles} ({busy} busy)")
    s = w.summary
    if s:
        lines.append(
            f"  summary: {s.get('duration') or 0:.2f} s, {s.get('tasks')} tasks, "
            + bytes_text(
                s.get("bytes_transferred") or 0, s.get("bytes_spilled") or 0, s.get("peak_memory") or 0
            )
        )
    text = "\n".join(lines)
    return {"text/plain": text, "text/html": f"<pre class='mesh-dash-text'>{html.escape(text)}</pre>"}

"""One progress display for a whole batch: :class:`BatchProgress`.

Not a widget: a display with ``text/plain`` and ``text/html`` (an HTML ``<progress>``
bar) that the cell renderer updates in place, so every front-end shows it, plain-text ones
and saved notebooks included. Where the renderer writes text (scripts,
``MESH_NONINTERACTIVE=1``), it prints a progress line every :data:`LINE_EVERY` seconds
and one at the end.
"""

from __future__ import annotations

import html
import time
from typing import Any

from .batch import BatchRun

__all__ = ["LINE_EVERY", "UPDATE_EVERY", "BatchProgress", "attach_progress", "by_worker", "progress_text"]

#: seconds between two progress lines of a text renderer
LINE_EVERY = 2.0
#: seconds between two in-place updates of the cell's progress display
UPDATE_EVERY = 0.25


def progress_text(batch: BatchRun) -> str:
    """``batch NAME: 7/10 finished, 1 failed, 2 running`` (then the end: status, duration)."""
    c = batch.counts()
    parts = [f"{c['finished']}/{len(batch.items)} finished"]
    parts += [f"{c[k]} {k}" for k in ("failed", "running", "cancelled", "lost") if c[k]]
    text = f"batch {batch.name}: {', '.join(parts)}"
    if batch.finished is not None:
        text += f" [{batch.status} in {batch.duration or 0.0:.1f} s]"
    return text


_NODE_STATUSES = ("running", "finished", "failed", "cancelled", "lost")


def by_worker(batch: BatchRun) -> list[tuple[str, dict[str, int]]]:
    """The batch's node map: per worker that ran (or runs) an item, its items' last attempts
    by status, workers by name. An item retried elsewhere counts where it ran last."""
    nodes: dict[str, dict[str, int]] = {}
    for it in batch.items:
        if it.worker and it.status in _NODE_STATUSES:
            counts = nodes.setdefault(batch.label(it.worker), dict.fromkeys(_NODE_STATUSES, 0))
            counts[it.status] += 1
    return sorted(nodes.items())


def _node_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {status}" for status, n in counts.items() if n)


class BatchProgress:
    """The display object (see the module doc)."""

    def __init__(self, batch: BatchRun) -> None:
        self.batch = batch

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        b = self.batch
        c = b.counts()
        ended = c["finished"] + c["failed"] + c["cancelled"] + c["lost"]
        text = progress_text(b)
        color = "#c62828" if c["failed"] else "#2e7d32"
        nodes = by_worker(b)
        rows = "".join(
            f"<tr><td><code>{html.escape(name)}</code></td><td>{html.escape(_node_text(counts))}</td></tr>"
            for name, counts in nodes
        )
        markup = (
            f"<div class='mesh-batch'><progress value='{ended}' max='{len(b.items)}' "
            f"style='width:20em;accent-color:{color}'></progress> <code>{html.escape(text)}</code>"
            + (f"<table class='mesh-batch-nodes' style='font-size:smaller'>{rows}</table>" if rows else "")
            + "</div>"
        )
        lines = [text] + [f"  {name}: {_node_text(counts)}" for name, counts in nodes]
        return {"text/plain": "\n".join(lines), "text/html": markup}


def attach_progress(batch: BatchRun) -> None:
    """Show the batch's progress through its renderer, if it shows anything."""
    renderer: Any = batch.renderer
    if callable(getattr(renderer, "widget", None)) and callable(getattr(renderer, "update_widget", None)):
        view = BatchProgress(batch)
        key = f"batch-{batch.id[:12]}"
        renderer.widget(view, key)
        last = [time.monotonic()]

        def update(b: BatchRun, final: bool) -> None:
            now = time.monotonic()
            if final or now - last[0] >= UPDATE_EVERY:
                last[0] = now
                renderer.update_widget(view, key)

        batch.on_tick(update)
    elif callable(getattr(renderer, "progress_line", None)):
        printed = [time.monotonic()]

        def line(b: BatchRun, final: bool) -> None:
            now = time.monotonic()
            if final or now - printed[0] >= LINE_EVERY:
                printed[0] = now
                renderer.progress_line(progress_text(b))

        batch.on_tick(line)

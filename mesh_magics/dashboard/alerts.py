"""The live whale-alert table of a followed chain (anywidget) and its plain-text twin.

:class:`AlertTable` shows the newest alerts (block, rune or BTC, amount, share of supply,
txid, sender and receiver), newest first, at most ``max_rows`` of them, and a header with
the follow's state: status, block indexed and the node's tip, counts of alerts, reorgs
and retracted alerts, and a note (the last reorg, or the error that ended the follow).
Rows arrive as the plain dicts :func:`mesh_magics.runes.tip.alerts.display_rows` makes;
this module knows nothing of the ledger. :meth:`AlertTable.show` is called from the
follow's thread: one comm message per batch (``hold_sync``), nothing printed.

Like the dashboard, every display also carries ``text/plain`` and ``text/html``
(:func:`alerts_snapshot`): terminals, nbviewer and nbval read the table as text.
"""

from __future__ import annotations

import html
import pathlib
from collections.abc import Iterable, Mapping
from typing import Any

import anywidget
import traitlets as t

__all__ = ["AlertTable", "alerts_snapshot"]

_HERE = pathlib.Path(__file__).parent
#: the columns of the table, as (row key, heading)
COLUMNS = (("block", "block"), ("rune", "rune"), ("amount", "amount"), ("share", "share"), ("txid", "txid"),
           ("sender", "from"), ("receiver", "to"))  # fmt: skip


class AlertTable(anywidget.AnyWidget):
    _esm = _HERE / "_alerts.js"
    _css = _HERE / "_alerts.css"

    title = t.Unicode("").tag(sync=True)
    network = t.Unicode("").tag(sync=True)
    status = t.Unicode("ready").tag(sync=True)
    height = t.Int(-1).tag(sync=True)
    tip = t.Int(-1).tag(sync=True)
    n_alerts = t.Int(0).tag(sync=True)
    reorgs = t.Int(0).tag(sync=True)
    retracted = t.Int(0).tag(sync=True)
    note = t.Unicode("").tag(sync=True)
    rows = t.List(t.Dict()).tag(sync=True)
    max_rows = t.Int(50).tag(sync=True)

    def show(self, rows: Iterable[Mapping[str, Any]] | None = None, **state: Any) -> None:
        """Set the rows (newest first; only the first ``max_rows`` are kept) and header fields at once."""
        with self.hold_sync():
            for key, value in state.items():
                setattr(self, key, value)
            if rows is not None:
                self.rows = [dict(r) for r, _ in zip(rows, range(self.max_rows))]

    def snapshot(self) -> dict[str, str]:
        return alerts_snapshot(self)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        data = dict(data or {})
        data.update(self.snapshot())
        return data


def _head(w: Any) -> str:
    where = f"block {w.height}" if w.height >= 0 else "nothing indexed yet"
    tip = f" (tip {w.tip})" if w.tip >= 0 else ""
    extra = (f", {w.reorgs} reorg{'s' if w.reorgs != 1 else ''}" if w.reorgs else "") + (
        f", {w.retracted} retracted" if w.retracted else ""
    )
    return f"follow {w.title} ({w.network}): {w.status}, {where}{tip}, {w.n_alerts} alerts{extra}"


def alerts_snapshot(w: Any) -> dict[str, str]:
    """text/plain and text/html of the table's current state."""
    rows = list(w.rows)
    cells = [[str(r.get(k) or "") for k, _ in COLUMNS] for r in rows]
    lines = [_head(w)]
    if w.note:
        lines.append(f"  {w.note}")
    if cells:
        widths = [max(len(h), *(len(c[i]) for c in cells)) for i, (_, h) in enumerate(COLUMNS)]
        lines.append("  " + "  ".join(h.ljust(n) for (_, h), n in zip(COLUMNS, widths)).rstrip())
        lines += ["  " + "  ".join(c.ljust(n) for c, n in zip(row, widths)).rstrip() for row in cells]
    else:
        lines.append("  no alerts yet")
    text = "\n".join(lines)
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h in COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in cells)
    note = f"<div>{html.escape(w.note)}</div>" if w.note else ""
    table = (
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        if cells
        else "<div>no alerts yet</div>"
    )
    markup = f"<div class='mesh-alerts-text'><b>{html.escape(_head(w))}</b>{note}{table}</div>"
    return {"text/plain": text, "text/html": markup}

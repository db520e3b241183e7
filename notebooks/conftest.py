"""nbval sees display updates, as Jupyter and nbclient do.

``%%mesh`` streams worker output into one display per (worker, stream) and
updates it in place (``update_display_data``); the in-cell dashboard re-sends
its text fallback when the run ends the same way. nbval 0.11 ignores
``update_display_data`` (it prints ``unhandled iopub msg``), so without this it
compares the *first* frame of every live display with the *final* frame that
nbclient stored in the notebook, and the result depends on how the output was
batched in 20 ms flushes.

This hook applies each update to the output it replaces, by ``display_id``,
before nbval compares: the cell is checked against what a reader of the
notebook sees. Nothing else about nbval changes.
"""

from __future__ import annotations

from typing import Any

from nbformat import NotebookNode, from_dict

try:
    from nbval.plugin import IPyNbCell, IPyNbFile
except ImportError:  # nbval not installed: nothing to patch
    IPyNbCell = IPyNbFile = None

_WIDGET = "application/vnd.jupyter.widget-view+json"


def _is_dashboard(output: Any) -> bool:
    data = output.get("data") or {}
    return _WIDGET in data and str(data.get("text/plain", "")).startswith("mesh run ")


def _dashboards_last(outputs: list[Any]) -> list[Any]:
    return [o for o in outputs if not _is_dashboard(o)] + [o for o in outputs if _is_dashboard(o)]


def _dashboard_timing(compare: Any) -> Any:
    """The in-cell dashboard appears only once a run has lasted ``mesh.progress.after``
    (1 s): whether a borderline cell shows one depends on the machine's load, and so does
    its place among the worker-output displays (a line printed at 0.9 s lands above it,
    one printed at 1.1 s below). When one side has it and the other does not, leave it
    out of the comparison; when both do, compare it (its text sanitised) like any output,
    and every other output in its own order, but not the dashboard's position."""

    def compare_outputs(self: Any, test: list[Any], ref: list[Any], skip_compare: Any = None) -> Any:
        if any(map(_is_dashboard, test)) != any(map(_is_dashboard, ref)):
            test = [o for o in test if not _is_dashboard(o)]
            ref = [o for o in ref if not _is_dashboard(o)]
        else:
            test = _dashboards_last(test)
            ref = _dashboards_last(ref)
        return compare(self, test, ref, skip_compare)

    return compare_outputs


def _with_display_updates(get_kernel_message: Any) -> Any:
    def get(self: Any, timeout: Any = None, stream: str = "iopub") -> Any:
        displays: dict[str, NotebookNode] = self.__dict__.setdefault("_mesh_displays", {})
        while True:
            msg = get_kernel_message(self, timeout=timeout, stream=stream)
            kind = msg.get("msg_type")
            content = msg.get("content", {})
            display_id = (content.get("transient") or {}).get("display_id")
            if kind == "display_data" and display_id:
                # nbval keeps content["data"] as the output's data: keep a handle on that object
                content["data"] = data = from_dict(content.get("data", {}))
                displays[display_id] = data
            elif kind == "update_display_data":
                data = displays.get(display_id) if display_id else None
                if data is not None:
                    data.clear()
                    data.update(from_dict(content.get("data", {})))
                continue  # applied (or its display belongs to no checked cell); nbval never sees it
            return msg

    return get


if IPyNbFile is not None and not getattr(IPyNbFile.get_kernel_message, "_mesh_patched", False):
    IPyNbFile.get_kernel_message = _with_display_updates(IPyNbFile.get_kernel_message)
    IPyNbFile.get_kernel_message._mesh_patched = True

if IPyNbCell is not None and not getattr(IPyNbCell.compare_outputs, "_mesh_patched", False):
    IPyNbCell.compare_outputs = _dashboard_timing(IPyNbCell.compare_outputs)
    IPyNbCell.compare_outputs._mesh_patched = True

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
    from nbval.plugin import IPyNbFile
except ImportError:  # nbval not installed: nothing to patch
    IPyNbFile = None


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

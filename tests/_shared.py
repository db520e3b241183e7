"""The project's shared reference data (``shared/`` beside the checkout): runestone
vectors and ord's ledger scenarios. Looked up in ``$MESH_SHARED_DIR``, then beside the
checkout, then at ``/work/shared``; missing data is an error, never a skipped test."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

_CANDIDATES = [
    *([Path(os.environ["MESH_SHARED_DIR"])] if os.environ.get("MESH_SHARED_DIR") else []),
    Path(__file__).resolve().parents[2] / "shared",
    Path("/work/shared"),
]


def shared_path(name: str) -> Path:
    for d in _CANDIDATES:
        if (d / name).is_file():
            return d / name
    raise FileNotFoundError(f"{name} not found in {', '.join(map(str, _CANDIDATES))}; set MESH_SHARED_DIR")


def shared_json(name: str) -> Any:
    return json.loads(shared_path(name).read_text())

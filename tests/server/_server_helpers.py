"""Helpers of the server extension's tests (fixtures are in ``_server_fixtures``)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def wait_for_status(history_path: Path, status: str, timeout: float = 20) -> dict[str, Any]:
    """The newest run of the history once it has ``status``."""
    from mesh_magics.store.history import History

    deadline = time.monotonic() + timeout
    with History(history_path) as h:
        while time.monotonic() < deadline:
            rows = h.query(1)
            if rows and rows[0]["status"] == status:
                return rows[0]
            time.sleep(0.05)
    raise TimeoutError(f"no run reached {status!r} in {timeout} s")


def dead_pid() -> int:
    """The pid of a process that has exited (for stale registry entries)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


#: A program that prints forever, slowly: cancelled from outside in the tests.
SLOW_CODE = "import time\nfor i in range(100000):\n    print(i, flush=True)\n    time.sleep(0.05)"

"""A stand-in for a kernel, for the server extension's tests: a process that owns a mesh.

Started with ``DASK_MESH__REGISTRY__PATH`` and ``DASK_MESH__HISTORY__PATH`` set,
it brings up a 1-worker mesh (which registers itself and records runs, as in a
kernel), prints ``{"ready": address, "id": registry id}`` and then reads one JSON
command per line on stdin:

* ``{"run": code}`` runs the code BLOCKING (the process is busy until the run
  ends, exactly like a kernel executing a ``%%mesh`` cell) and prints
  ``{"id", "status", "error"}``;
* ``{"down": true}`` takes the mesh down and exits.
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    import mesh_magics

    mesh = mesh_magics.up(workers=1, threads=1, kind="cpu")
    print(json.dumps({"ready": mesh.address, "id": mesh._registry_id}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        if command.get("down"):
            break
        run = mesh.run(command["run"], name=command.get("name"), block=True)
        print(json.dumps({"id": run.id, "status": run.status, "error": repr(run.error)}), flush=True)
    mesh.down()


if __name__ == "__main__":
    main()

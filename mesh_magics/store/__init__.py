"""Files on disk: the run history (SQLite) and the registry of live meshes (JSON files).

Import rule (``tests/test_layers.py``): the standard library, ``jupyter_core`` (default
directories), ``psutil``, and the package's ``config``, ``errors`` and ``_version``;
pandas only inside the export functions that need it. No ``distributed``, no dask
collections, nothing of the core or the Jupyter front ends: the kernels write these
files and the Jupyter server reads them, each without the other's machinery. Settings
come from ``mesh.history.*`` / ``mesh.registry.*`` through :mod:`mesh_magics.config`,
read when used, so ``dask.config.set`` applies at once.

* :mod:`.history` — the history schema (``runs``, ``PRAGMA user_version``), writes and queries;
* :mod:`.registry` — one file per kernel's mesh, for the side panel;
* :mod:`.audit` — the append-only audit trail (who ran what where), its own SQLite file;
* :mod:`.stats` — aggregates of a history (runs by status, durations) for the metrics page.
"""

__all__: list[str] = []

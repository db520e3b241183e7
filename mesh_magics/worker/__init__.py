"""What runs inside Dask's processes: the cell task on the workers, their preload, the
scheduler plugin, and what those share with the kernel (run keys, worker records).

Import rule (``tests/test_layers.py``): the standard library and ``distributed`` (with
``dask``, ``tornado`` and ``cloudpickle``, which distributed runs on) only, plus
``mesh_magics._version``. This is the code a remote worker or scheduler imports, so it
must not pull in the kernel side (IPython, widgets, pandas, the core).

* :mod:`.cell` — :func:`~.cell.run_cell` (the body of a ``%%mesh`` task), session
  namespaces, :func:`~.cell.interrupt`;
* :mod:`.tokens` — Dask tokens of a session namespace's values (the result cache);
* :mod:`.capture` — per-thread capture of ``sys.stdout``/``sys.stderr`` and log records,
  shipped as numbered Dask events;
* :mod:`.keys` — the Dask keys of a run's cell tasks (``("mesh-run-<id>", attempt, worker)``);
* :mod:`.metrics` — the one mapping from a worker's scheduler record to :class:`~.metrics.WorkerInfo`;
* :mod:`.plugin` — the scheduler plugin that publishes run progress and node state;
* :mod:`.preload` — the embedded mesh's worker preload (ignore the kernel's SIGINT).
"""

__all__: list[str] = []

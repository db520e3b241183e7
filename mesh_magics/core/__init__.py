"""The kernel-side core: meshes and runs, in plain Python.

Import rule (``tests/test_layers.py``): no IPython, ipykernel, ipywidgets, anywidget,
traitlets, tornado or jupyter_server, and none of the layers above it
(:mod:`mesh_magics.ipython`, :mod:`mesh_magics.dashboard`, :mod:`mesh_magics.server`,
:mod:`mesh_magics.session`). It uses :mod:`mesh_magics.worker` (what it sends to the
workers), :mod:`mesh_magics.store` (history, registry), ``config`` and ``errors``.

A run's way through it: :class:`~.spec.RunSpec` (the options, checked once) →
:class:`~.dispatch.Dispatcher` (placement by :mod:`.targets`, submission, retries by
:mod:`.retry`, cancels) → :class:`~.run.MeshRun` (the handle: its queue and pump, its
observers: :mod:`.telemetry`, the history's :mod:`.recorder`, views such as the audit
trail's :mod:`.audit`) →
:mod:`.outcome` (how it ended) and :mod:`.value` (its value). The :class:`~.mesh.Mesh`
composes the dispatcher with its :mod:`.connection`, :mod:`.workers` and the registry.
"""

__all__: list[str] = []

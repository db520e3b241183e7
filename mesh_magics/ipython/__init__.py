"""The IPython shell over the core: the ``%mesh`` / ``%%mesh`` magics and the cell renderer.

Only translation lives here: options into :class:`~mesh_magics.core.spec.RunSpec`
arguments, parameter names in errors into flags
(:meth:`~mesh_magics.errors.MeshError.respell`), a run's output into display messages
of the cell that started it (:mod:`.render`), and values between the notebook and the
core. Import rule (``tests/test_layers.py``): anything below it; nothing imports it but
the package's ``load_ipython_extension``.
"""

__all__: list[str] = []

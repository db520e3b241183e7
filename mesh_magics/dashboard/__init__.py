"""The live dashboard: progress per task group, a node map, logs and a summary.

The data come from the scheduler plugin (:mod:`mesh_magics.worker.plugin`) through each
run's telemetry (:mod:`mesh_magics.core.telemetry`); this package draws them:

* :mod:`.controller` — one run's in-cell dashboard, a view of the run's telemetry
  (:mod:`mesh_magics.core.telemetry`);
* :mod:`.widget` — the anywidget view and its text fallbacks;
* :mod:`.standalone` — ``%mesh dashboard``;
* :mod:`.alerts` — the live whale-alert table of ``%mesh follow`` and its text fallbacks.

Import rule (``tests/test_layers.py``): the core and the widget libraries (anywidget,
traitlets); no IPython magics, no tornado handlers. Importing this package imports none
of its modules.
"""

__all__: list[str] = []

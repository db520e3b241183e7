"""The live dashboard: progress per task group, a node map, logs and a summary.

``model`` holds the state (plain Python), ``controller`` drives it from a run's
pump, ``widget`` renders it (anywidget + text fallbacks), ``_plugin`` is the
scheduler plugin that pushes progress and node state, and ``standalone`` is
``%mesh dashboard``. Importing this package imports none of them.
"""

__all__: list[str] = []

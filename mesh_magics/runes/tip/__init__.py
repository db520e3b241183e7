"""Following the tip: the Runes ledger kept current as a node's blocks arrive, with whale alerts.

=================  ==============================================================
module             what it holds
=================  ==============================================================
:mod:`.follow`     :func:`follow` and :class:`Follow`: poll, index, reorgs, stop
:mod:`.sources`    a data directory or a REST node behind one interface
:mod:`.window`     the ledger states and rows of the blocks a reorg can rewrite
:mod:`.alerts`     :class:`AlertRules`, the ``alerts`` table, its text and display rows
=================  ==============================================================

``runes.follow(source, network, state=..., alerts=...)`` is the public entry
(:mod:`mesh_magics.runes` exports it); the notebook side (the alert table widget,
``%mesh follow``) lives in :mod:`mesh_magics.dashboard.alerts` and
:mod:`mesh_magics.ipython.follow` and only calls this package.

Import rule (``tests/test_layers.py``): numpy, pandas, pyarrow, dask and distributed;
:mod:`mesh_magics.errors`, the Runes ledger and base packages, and the chain package
(its sources, readers and BTC whale queries). No IPython, widgets, the store or the core
of the mesh.
"""

from __future__ import annotations

from .alerts import ALERT_COLUMNS, AlertRules
from .follow import Batch, Follow, follow

__all__ = ["ALERT_COLUMNS", "AlertRules", "Batch", "Follow", "follow"]

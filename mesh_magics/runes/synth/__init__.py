"""A deterministic synthetic Runes ledger: :func:`synthetic` gives lazy ``(transfers, runes)``.

=================  ==============================================================
module             what it holds
=================  ==============================================================
:mod:`.ledger`     :func:`synthetic`, the partitions of ``transfers``, ``runes``
:mod:`.plan`       the plan, its catalog of runes and addresses, ids and txids
=================  ==============================================================

The package is named ``synth`` rather than ``synthetic`` so that no module
shadows the function: ``mesh_magics.runes.synthetic`` is always the function.

Import rule: numpy, pandas and dask (cudf and dask_cudf only inside
functions, for ``backend="cudf"``); :mod:`mesh_magics.errors`,
:mod:`mesh_magics.runes.protocol` (spaced names) and
:mod:`mesh_magics.runes.tables` (the columns it generates). Never the
decoders, the loaders or the whale suite: they are tested with its data.
"""

from __future__ import annotations

from .ledger import synthetic

__all__ = ["synthetic"]

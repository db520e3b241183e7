"""Bitcoin's own data, read in parallel on the mesh (issue #15; being built).

* :mod:`.format` — the serialization (transactions, headers, blocks), script types and
  addresses, in plain Python;
* :mod:`.schema` — the four chain tables every reader produces (``blocks``, ``txs``,
  ``outputs``, ``inputs``);
* :mod:`.blocklist` — those tables from blocks in memory (:func:`~.blocklist.from_blocks`).

Import rule (``tests/test_layers.py``): no IPython, widgets or server packages; of the
package only ``errors`` and ``config``.
"""

__all__: list[str] = []

"""Bitcoin's own data, read in parallel on the mesh (issue #15; being built).

* :mod:`.format` — the serialization: transactions, headers, blocks.
"""

__all__: list[str] = []

"""Bitcoin's formats, read in plain Python: transactions, headers and blocks (:mod:`.tx`).

Import rule (``tests/test_layers.py``): the standard library and ``mesh_magics.errors``.
"""

__all__: list[str] = []

"""Bitcoin's formats: the reference readers in plain Python, and the compiled columnar walker.

Reference (one object at a time, clear over fast; the oracle the fast path is tested
against): :mod:`.tx` (transactions, headers, blocks), :mod:`.address` (script types,
addresses, networks), :mod:`.undo` (Core's undo records, VARINT, compressed amounts and
scripts, the REST ``spenttxouts`` body), :mod:`.framing` (blk/rev records, the XOR
key), :mod:`.secp` (secp256k1 for P2PK undo and taproot fixtures), :mod:`.build`
(serialization, for fixtures and benchmarks).

Columnar (many blocks at once, numba when installed, :mod:`.jit`): :mod:`.walk` (every
field of a buffer of blocks), :mod:`.hashing` (txids, merkle roots, checksums),
:mod:`.scripts` (script types and addresses in bulk), :mod:`.undocols` (the spent coins
of many undo records).

Import rule (``tests/test_layers.py``): the standard library, numpy, numba and
``mesh_magics.errors``.
"""

__all__: list[str] = []

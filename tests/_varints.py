"""Raw varints for the runestone decoders' property tests (shared by the fast-scan and ledger tests)."""

from __future__ import annotations

from hypothesis import strategies as st

#: raw varints of 17 to 21 bytes, any bits: u128s, ord's Overflow (19th byte > 3) and Overlong (> 19)
wide_varints = st.builds(
    lambda groups, last: bytes(0x80 | g for g in groups) + bytes([last]),
    st.lists(st.integers(0, 127), min_size=16, max_size=20),
    st.one_of(st.integers(0, 4), st.integers(0, 127)),
)

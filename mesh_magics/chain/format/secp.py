"""secp256k1 in plain Python: what reading undo data and building regtest fixtures need.

* :func:`decompress` — the y of an x (an undo record stores an uncompressed P2PK key as
  its x and the parity of y: Core's script compression, ``nSize`` 4 and 5);
* :func:`tweak_xonly` / :func:`taproot_output` — BIP 341's output key ``Q = P + t·G`` with
  ``t = tagged_hash("TapTweak", P || merkle_root)``, for script-path spends that need no
  signature (a leaf like ``<data> OP_DROP OP_TRUE`` under the NUMS key :data:`NUMS_X`);
* :func:`pubkey` / :func:`sign_ecdsa` — keys and DER signatures for legacy spends in
  fixtures (P2PK, P2PKH). Not constant-time and not for real keys.

Affine arithmetic with modular inverses by ``pow``: slow (about a millisecond per scalar
multiplication), fine for tests and fixtures.
"""

from __future__ import annotations

import hashlib

from ...errors import ChainError

__all__ = [
    "NUMS_X",
    "N",
    "P",
    "decompress",
    "pubkey",
    "sign_ecdsa",
    "tagged_hash",
    "taproot_output",
    "tapleaf_hash",
    "tweak_xonly",
]

P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
G = (
    0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
    0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8,
)
#: BIP 341's provably unspendable internal key ("H"): x of the NUMS point, no known discrete log
NUMS_X = bytes.fromhex("50929b74c1a04954b78b4b6035e97a5e078a5a0f28ec96d547bfee9ace803ac0")

_Point = tuple[int, int] | None


def decompress(x: int, odd: bool) -> int:
    """The y with ``y² = x³ + 7`` and the given parity; a :class:`ChainError` if x is not on the curve."""
    rhs = (pow(x, 3, P) + 7) % P
    y = pow(rhs, (P + 1) // 4, P)
    if x >= P or y * y % P != rhs:
        raise ChainError(f"x = {x:064x} is not the x of a secp256k1 point")
    return y if (y & 1) == odd else P - y


def _add(a: _Point, b: _Point) -> _Point:
    if a is None:
        return b
    if b is None:
        return a
    if a[0] == b[0] and (a[1] + b[1]) % P == 0:
        return None
    if a == b:
        lam = 3 * a[0] * a[0] * pow(2 * a[1], P - 2, P) % P
    else:
        lam = (b[1] - a[1]) * pow(b[0] - a[0], P - 2, P) % P
    x = (lam * lam - a[0] - b[0]) % P
    return x, (lam * (a[0] - x) - a[1]) % P


def _mul(k: int, point: _Point = G) -> _Point:
    out: _Point = None
    while k:
        if k & 1:
            out = _add(out, point)
        point = _add(point, point)
        k >>= 1
    return out


def tagged_hash(tag: str, data: bytes) -> bytes:
    t = hashlib.sha256(tag.encode()).digest()
    return hashlib.sha256(t + t + data).digest()


def tapleaf_hash(script: bytes, version: int = 0xC0) -> bytes:
    """BIP 341's leaf hash of a tapscript (leaf version 0xc0)."""
    n = len(script)
    size = bytes((n,)) if n < 0xFD else b"\xfd" + n.to_bytes(2, "little")
    return tagged_hash("TapLeaf", bytes((version,)) + size + script)


def tweak_xonly(internal_x: bytes, merkle_root: bytes) -> tuple[bytes, int]:
    """The x-only output key ``Q = lift_x(P) + t·G`` and the parity of its y (BIP 341)."""
    t = int.from_bytes(tagged_hash("TapTweak", internal_x + merkle_root), "big")
    if t >= N:
        raise ChainError("taproot tweak out of range")
    x = int.from_bytes(internal_x, "big")
    q = _add((x, decompress(x, False)), _mul(t))
    if q is None:
        raise ChainError("taproot tweak gave the point at infinity")
    return q[0].to_bytes(32, "big"), q[1] & 1


def taproot_output(leaf: bytes, internal_x: bytes = NUMS_X) -> tuple[bytes, bytes]:
    """(scriptPubKey, control block) to spend a one-leaf tree with ``leaf`` by the script path.

    The witness of such a spend is ``[*stack items, leaf, control block]``.
    """
    qx, parity = tweak_xonly(internal_x, tapleaf_hash(leaf))
    return b"\x51\x20" + qx, bytes((0xC0 | parity,)) + internal_x


def pubkey(secret: int, compressed: bool = True) -> bytes:
    """The public key of ``secret`` (33 bytes compressed, 65 uncompressed)."""
    point = _mul(secret % N)
    assert point is not None
    x, y = point
    if compressed:
        return bytes((2 | (y & 1),)) + x.to_bytes(32, "big")
    return b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")


def _der_int(v: int) -> bytes:
    b = v.to_bytes((v.bit_length() + 8) // 8, "big")  # a leading zero keeps it positive
    return b"\x02" + bytes((len(b),)) + b


def sign_ecdsa(secret: int, digest: bytes) -> bytes:
    """A low-S DER signature of a 32-byte digest; k derived from the key and digest (deterministic)."""
    z = int.from_bytes(digest, "big")
    k = int.from_bytes(hashlib.sha256(secret.to_bytes(32, "big") + digest).digest(), "big") % N or 1
    point = _mul(k)
    assert point is not None
    r = point[0] % N
    s = pow(k, N - 2, N) * (z + r * secret) % N
    s = min(s, N - s)
    body = _der_int(r) + _der_int(s)
    return b"\x30" + bytes((len(body),)) + body

"""Output scripts: their standard type, and their address in a network's encoding.

Standard types (Core's ``Solver`` names): ``p2pk``, ``p2pkh``, ``p2sh``, ``p2wpkh``,
``p2wsh``, ``p2tr``, ``witness_unknown`` (segwit v1+ other than a 32-byte v1 program, v2..16),
``anchor`` (``OP_1 <0x4e73>``), ``multisig``, ``nulldata`` (``OP_RETURN ...``) and
``nonstandard``. Addresses: base58check for P2PKH/P2SH, bech32 (BIP 173) for segwit v0,
bech32m (BIP 350) for v1 and above; None for scripts without one (P2PK, multisig,
nulldata, nonstandard).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ...errors import ChainError

__all__ = [
    "NETWORKS",
    "Network",
    "address",
    "address_script",
    "base58check",
    "network",
    "script_type",
    "segwit_address",
]


@dataclass(frozen=True)
class Network:
    name: str
    magic: bytes  # the 4 bytes before each record of blk/rev files
    p2pkh: int  # base58 version bytes
    p2sh: int
    hrp: str  # bech32 human-readable part


NETWORKS = {
    n.name: n
    for n in (
        Network("mainnet", bytes.fromhex("f9beb4d9"), 0x00, 0x05, "bc"),
        Network("testnet3", bytes.fromhex("0b110907"), 0x6F, 0xC4, "tb"),
        Network("testnet4", bytes.fromhex("1c163f28"), 0x6F, 0xC4, "tb"),
        Network("signet", bytes.fromhex("0a03cf40"), 0x6F, 0xC4, "tb"),
        Network("regtest", bytes.fromhex("fabfb5da"), 0x6F, 0xC4, "bcrt"),
    )
}
_ALIASES = {"bitcoin": "mainnet", "main": "mainnet", "testnet": "testnet3", "test": "testnet3"}


def network(name: str | Network) -> Network:
    """The :class:`Network` called ``name`` (mainnet, testnet3, testnet4, signet, regtest)."""
    if isinstance(name, Network):
        return name
    key = _ALIASES.get(str(name).lower(), str(name).lower())
    if key not in NETWORKS:
        raise ChainError(f"unknown network {name!r}; expected one of {', '.join(NETWORKS)}")
    return NETWORKS[key]


# -- script types -------------------------------------------------------------------------
OP_0, OP_1, OP_16, OP_RETURN = 0x00, 0x51, 0x60, 0x6A
OP_DUP, OP_HASH160, OP_EQUALVERIFY, OP_CHECKSIG, OP_EQUAL = 0x76, 0xA9, 0x88, 0xAC, 0x87
OP_CHECKMULTISIG = 0xAE


def _witness_program(script: bytes) -> tuple[int, bytes] | None:
    n = len(script)
    if not 4 <= n <= 42:
        return None
    op = script[0]
    if op != OP_0 and not OP_1 <= op <= OP_16:
        return None
    if script[1] + 2 != n or not 2 <= script[1] <= 40:
        return None
    return (0 if op == OP_0 else op - OP_1 + 1), script[2:]


def script_type(script: bytes) -> str:
    """The standard type of an output script (see the module doc)."""
    n = len(script)
    if (
        n == 25
        and script[:3] == bytes((OP_DUP, OP_HASH160, 20))
        and script[23:] == bytes((OP_EQUALVERIFY, OP_CHECKSIG))
    ):
        return "p2pkh"
    if n == 23 and script[:2] == bytes((OP_HASH160, 20)) and script[22] == OP_EQUAL:
        return "p2sh"
    wp = _witness_program(script)
    if wp is not None:
        version, program = wp
        if version == 0:
            return {20: "p2wpkh", 32: "p2wsh"}.get(len(program), "nonstandard")
        if version == 1 and len(program) == 32:
            return "p2tr"
        if version == 1 and program == b"\x4e\x73":
            return "anchor"
        return "witness_unknown"
    if n and script[0] == OP_RETURN:
        return "nulldata"
    if (n == 35 and script[0] == 33 and script[34] == OP_CHECKSIG) or (
        n == 67 and script[0] == 65 and script[66] == OP_CHECKSIG
    ):
        return "p2pk"
    if n >= 37 and script[-1] == OP_CHECKMULTISIG and OP_1 <= script[0] <= OP_16:
        return "multisig"
    return "nonstandard"


# -- encodings ----------------------------------------------------------------------------
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58check(version: int, payload: bytes) -> str:
    data = bytes((version,)) + payload
    data += hashlib.sha256(hashlib.sha256(data).digest()).digest()[:4]
    n = int.from_bytes(data, "big")
    out = []
    while n:
        n, r = divmod(n, 58)
        out.append(_B58[r])
    pad = len(data) - len(data.lstrip(b"\0"))
    return "1" * pad + "".join(reversed(out))


_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _polymod(values: list[int]) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= _GEN[i] if (top >> i) & 1 else 0
    return chk


def _convert(data: bytes) -> list[int]:
    acc = bits = 0
    out = []
    for b in data:
        acc = (acc << 8) | b
        bits += 8
        while bits >= 5:
            bits -= 5
            out.append((acc >> bits) & 31)
    if bits:
        out.append((acc << (5 - bits)) & 31)
    return out


def segwit_address(hrp: str, version: int, program: bytes) -> str:
    """A segwit address: bech32 for version 0, bech32m for 1 and above."""
    data = [version] + _convert(program)
    const = 1 if version == 0 else 0x2BC830A3
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    mod = _polymod(expanded + data + [0] * 6) ^ const
    checksum = [(mod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_BECH32[d] for d in data + checksum)


def address(script: bytes, net: Network | str = "mainnet") -> str | None:
    """The address of an output script in ``net``'s encoding, None when it has none."""
    kind = script_type(script)
    n = network(net)
    if kind == "p2pkh":
        return base58check(n.p2pkh, script[3:23])
    if kind == "p2sh":
        return base58check(n.p2sh, script[2:22])
    if kind in ("p2wpkh", "p2wsh", "p2tr", "witness_unknown", "anchor"):
        wp = _witness_program(script)
        assert wp is not None
        return segwit_address(n.hrp, wp[0], wp[1])
    return None


def _bech32_decode(text: str) -> tuple[str, int, bytes, int] | None:
    """(hrp, witness version, program, checksum constant) of a bech32/bech32m string, or None."""
    if text.lower() != text and text.upper() != text:
        return None
    text = text.lower()
    pos = text.rfind("1")
    if pos < 1 or pos + 7 > len(text) or any(c not in _BECH32 for c in text[pos + 1 :]):
        return None
    hrp, data = text[:pos], [_BECH32.index(c) for c in text[pos + 1 :]]
    const = _polymod([ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + data)
    if not data[:-6]:
        return None
    acc = bits = 0
    program = bytearray()
    for v in data[1:-6]:
        acc = (acc << 5) | v
        bits += 5
        if bits >= 8:
            bits -= 8
            program.append((acc >> bits) & 0xFF)
    if bits >= 5 or (acc & ((1 << bits) - 1)):
        return None
    return hrp, data[0], bytes(program), const


def address_script(text: str, net: Network | str = "mainnet") -> bytes | None:
    """The output script an address stands for in ``net`` (the inverse of :func:`address`), None if it is not one."""
    n = network(net)
    decoded = _bech32_decode(text)
    if decoded is not None:
        hrp, version, program, const = decoded
        if hrp != n.hrp or version > 16 or not 2 <= len(program) <= 40:
            return None
        if const != (1 if version == 0 else 0x2BC830A3) or (version == 0 and len(program) not in (20, 32)):
            return None
        return bytes((0 if version == 0 else 0x50 + version, len(program))) + program
    if not text or any(c not in _B58 for c in text):
        return None
    num = 0
    for c in text:
        num = num * 58 + _B58.index(c)
    body = num.to_bytes((num.bit_length() + 7) // 8, "big")
    data = bytes(len(text) - len(text.lstrip("1"))) + body
    if len(data) != 25 or hashlib.sha256(hashlib.sha256(data[:21]).digest()).digest()[:4] != data[21:]:
        return None
    if data[0] == n.p2pkh:
        return b"\x76\xa9\x14" + data[1:21] + b"\x88\xac"
    if data[0] == n.p2sh:
        return b"\xa9\x14" + data[1:21] + b"\x87"
    return None

"""Decode a transaction's runestone from its output scripts, exactly as ord does.

ord (the reference indexer) is the normative specification; this module
follows its decoder rule for rule:

1. the **first** output whose script starts with the opcodes ``OP_RETURN OP_13``
   (bytes ``6a 5d``) decides; later ones are never looked at;
2. the data pushes after the magic are concatenated into one payload; any other
   opcode gives the cenotaph flaw ``Opcode``, a truncated push ``InvalidScript``;
3. the payload is a sequence of LEB128 u128 varints (``Varint`` on any error);
4. integers are ``(tag, value)`` pairs until tag 0 (Body), then edicts in
   chunks of 4, delta-encoded by rune id;
5. known fields are taken, the rest checked: unconsumed even tags, leftover flag
   bits and a supply above u128::MAX make a cenotaph. ord keeps the first flaw.

:func:`decode_outputs` returns the JSON shape of the shared test vectors;
:func:`decipher` returns typed tuples (:class:`Runestone`, :class:`Cenotaph` or
``None``) for code that wants Python ints.

Decoding does not look at the block height: the indexer ignores runestones
before the activation block (840,000 on mainnet). It is pure Python and cheap
for the common case: an output list without an ``OP_RETURN OP_13`` script costs
one prefix test per script.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple, Union

from ...errors import RunesError
from . import script as _script
from . import varint as _varint
from .names import MAX_SPACERS, U32_MAX, U64_MAX, U128_MAX, rune_name

__all__ = [
    "FLAWS",
    "FLAW_SERDE",
    "Cenotaph",
    "Edict",
    "Etching",
    "Runestone",
    "Terms",
    "decipher",
    "decode_many",
    "decode_outputs",
    "runestone_output",
    "to_json",
]

Script = Union[str, bytes, bytearray, None]

# flaw names (ord's enum names, as the shared vectors spell them)
EDICT_OUTPUT = "EdictOutput"
EDICT_RUNE_ID = "EdictRuneId"
INVALID_SCRIPT = _script.INVALID_SCRIPT
OPCODE = _script.OPCODE
SUPPLY_OVERFLOW = "SupplyOverflow"
TRAILING_INTEGERS = "TrailingIntegers"
TRUNCATED_FIELD = "TruncatedField"
UNRECOGNIZED_EVEN_TAG = "UnrecognizedEvenTag"
UNRECOGNIZED_FLAG = "UnrecognizedFlag"
VARINT = "Varint"

#: every cenotaph flaw, in ord's declaration order
FLAWS = (
    EDICT_OUTPUT, EDICT_RUNE_ID, INVALID_SCRIPT, OPCODE, SUPPLY_OVERFLOW,
    TRAILING_INTEGERS, TRUNCATED_FIELD, UNRECOGNIZED_EVEN_TAG, UNRECOGNIZED_FLAG, VARINT,
)  # fmt: skip
#: flaw name -> ord's serde (kebab-case) spelling, e.g. ``"TrailingIntegers"`` -> ``"trailing-integers"``
FLAW_SERDE = {f: "".join("-" + c.lower() if c.isupper() else c for c in f).lstrip("-") for f in FLAWS}

# tags (even: must be understood; odd: may be ignored)
_BODY, _DIVISIBILITY, _FLAGS, _SPACERS, _RUNE, _SYMBOL, _PREMINE = 0, 1, 2, 3, 4, 5, 6
_CAP, _AMOUNT, _HEIGHT_START, _HEIGHT_END, _OFFSET_START, _OFFSET_END = 8, 10, 12, 14, 16, 18
_MINT, _POINTER = 20, 22
# flag bits
_ETCHING, _TERMS, _TURBO = 1, 2, 4
_MAX_DIVISIBILITY = 38

_HEX_MAGIC = ("6a5d", "6A5D", "6a5D", "6A5d")
_BYTES_MAGIC = b"\x6a\x5d"


class Edict(NamedTuple):
    """Move ``amount`` units of rune ``block:tx`` to ``output`` (absolute id, after delta decoding)."""

    block: int
    tx: int
    amount: int
    output: int


class Terms(NamedTuple):
    """Open-mint terms of an etching; ``None`` means absent."""

    amount: int | None
    cap: int | None
    height: tuple[int | None, int | None]
    offset: tuple[int | None, int | None]


class Etching(NamedTuple):
    """A rune etched by a runestone; ``None`` fields were absent or rejected."""

    divisibility: int | None
    premine: int | None
    rune: int | None
    spacers: int | None
    symbol: str | None
    terms: Terms | None
    turbo: bool


class Runestone(NamedTuple):
    """A valid runestone."""

    edicts: tuple[Edict, ...]
    etching: Etching | None
    mint: tuple[int, int] | None
    pointer: int | None


class Cenotaph(NamedTuple):
    """A malformed runestone: it burns its inputs. Carries only the first flaw."""

    flaw: str
    etching: int | None  # the rune number, if an Etching with a Rune field was parsed
    mint: tuple[int, int] | None


Artifact = Union[Runestone, Cenotaph]


def runestone_output(scripts: Iterable[Script]) -> int | None:
    """Index of the first output starting with ``OP_RETURN OP_13``, or ``None``.

    ``OP_RETURN`` is a one-byte opcode, so "the first two instructions are
    OP_RETURN and OP_13" is the same as "the script starts with ``6a 5d``".
    """
    i = 0
    for s in scripts:
        if s:
            if isinstance(s, str):
                if s.startswith(_HEX_MAGIC):
                    return i
            elif s[:2] == _BYTES_MAGIC:
                return i
        i += 1
    return None


def decipher(scripts: Sequence[Script]) -> Artifact | None:
    """Decode the outputs of one transaction into a :class:`Runestone`, a :class:`Cenotaph` or ``None``.

    ``scripts``: every output's ``scriptPubKey`` in order, as hex ``str`` or
    bytes; ``""``/``b""`` (or ``None``) is an empty script. The number of
    outputs matters (edict output and pointer range). Hex is only validated for
    the output that decides; malformed hex there raises :class:`RunesError`.
    """
    if not hasattr(scripts, "__len__"):
        scripts = list(scripts)
    index = runestone_output(scripts)
    if index is None:
        return None
    raw = scripts[index]
    if isinstance(raw, str):
        try:
            script = bytes.fromhex(raw)
        except ValueError:
            raise RunesError(
                f"output {index} script is not valid hex: {raw[:40]!r}; pass scripts as hex strings or bytes"
            ) from None
    else:
        assert raw is not None  # runestone_output() picks a non-empty script
        script = bytes(raw)
    payload = _script.runestone_payload(script)
    if isinstance(payload, str):
        return Cenotaph(payload, None, None)
    ints = _varint.decode_all(payload)
    if ints is None:
        return Cenotaph(VARINT, None, None)
    return _from_integers(ints, len(scripts))


def _take(fields: dict[int, list[int]], tag: int, check: Any = None) -> Any:
    """Take the first value of ``tag`` if present and ``check`` accepts it (ord's ``Tag::take``).

    A rejected value stays in ``fields`` (so an even tag later makes a cenotaph).
    """
    values = fields.get(tag)
    if values is None:
        return None
    value = values[0] if check is None else check(values[0])
    if value is None:
        return None
    del values[0]
    if not values:
        del fields[tag]
    return value


def _u64(v: int) -> int | None:
    return v if v <= U64_MAX else None


def _divisibility(v: int) -> int | None:
    return v if v <= _MAX_DIVISIBILITY else None


def _spacers(v: int) -> int | None:
    return v if v <= MAX_SPACERS else None


def _symbol(v: int) -> str | None:
    # a Rust char: a Unicode scalar value (<= U+10FFFF and not a surrogate)
    return chr(v) if v <= 0x10FFFF and not 0xD800 <= v <= 0xDFFF else None


def _from_integers(ints: list[int], n_outputs: int) -> Artifact:
    fields: dict[int, list[int]] = {}
    edicts: list[Edict] = []
    flaw: str | None = None
    n = len(ints)
    i = 0
    while i < n:
        tag = ints[i]
        if tag == _BODY:
            block = tx = 0
            j = i + 1
            while j < n:
                if j + 4 > n:
                    flaw = TRAILING_INTEGERS
                    break
                block_delta, tx_delta, amount, output = ints[j : j + 4]
                if block_delta > U64_MAX or tx_delta > U32_MAX:
                    flaw = EDICT_RUNE_ID
                    break
                if block_delta:
                    block += block_delta
                    tx = tx_delta
                else:
                    tx += tx_delta
                if block > U64_MAX or tx > U32_MAX or (block == 0 and tx > 0):
                    flaw = EDICT_RUNE_ID
                    break
                if output > n_outputs or output > U32_MAX:
                    flaw = EDICT_OUTPUT
                    break
                edicts.append(Edict(block, tx, amount, output))
                j += 4
            break
        if i + 1 == n:
            flaw = TRUNCATED_FIELD
            break
        values = fields.get(tag)
        if values is None:
            fields[tag] = [ints[i + 1]]
        else:
            values.append(ints[i + 1])
        i += 2

    flags = _take(fields, _FLAGS) or 0
    etching = None
    if flags & _ETCHING:
        flags &= ~_ETCHING
        divisibility = _take(fields, _DIVISIBILITY, _divisibility)
        premine = _take(fields, _PREMINE)
        rune = _take(fields, _RUNE)
        spacers = _take(fields, _SPACERS, _spacers)
        symbol = _take(fields, _SYMBOL, _symbol)
        terms = None
        if flags & _TERMS:
            flags &= ~_TERMS
            cap = _take(fields, _CAP)
            height = (_take(fields, _HEIGHT_START, _u64), _take(fields, _HEIGHT_END, _u64))
            amount = _take(fields, _AMOUNT)
            offset = (_take(fields, _OFFSET_START, _u64), _take(fields, _OFFSET_END, _u64))
            terms = Terms(amount, cap, height, offset)
        turbo = bool(flags & _TURBO)
        flags &= ~_TURBO
        etching = Etching(divisibility, premine, rune, spacers, symbol, terms, turbo)

    mint = None
    values = fields.get(_MINT)
    if values is not None and len(values) >= 2:
        block, tx = values[0], values[1]
        if block <= U64_MAX and tx <= U32_MAX and not (block == 0 and tx > 0):
            mint = (block, tx)
            del values[:2]
            if not values:
                del fields[_MINT]

    pointer = _take(fields, _POINTER, lambda p: p if p < n_outputs and p <= U32_MAX else None)

    if flaw is None and etching is not None:
        terms = etching.terms
        cap = (terms.cap or 0) if terms else 0
        amount = (terms.amount or 0) if terms else 0
        if (etching.premine or 0) + cap * amount > U128_MAX:
            flaw = SUPPLY_OVERFLOW
    if flaw is None and flags:
        flaw = UNRECOGNIZED_FLAG
    if flaw is None and any(tag % 2 == 0 for tag in fields):
        flaw = UNRECOGNIZED_EVEN_TAG
    if flaw is not None:
        return Cenotaph(flaw, etching.rune if etching is not None else None, mint)
    return Runestone(tuple(edicts), etching, mint, pointer)


def _id(rune_id: tuple[int, int] | None) -> str | None:
    return None if rune_id is None else f"{rune_id[0]}:{rune_id[1]}"


def _str(v: int | None) -> str | None:
    return None if v is None else str(v)


def to_json(artifact: Artifact | None) -> dict[str, Any]:
    """The JSON shape of the shared vectors for a :func:`decipher` result (u128s as decimal strings)."""
    if artifact is None:
        return {"kind": "none"}
    if isinstance(artifact, Cenotaph):
        return {
            "kind": "cenotaph",
            "flaws": [artifact.flaw],
            "etching": None if artifact.etching is None else rune_name(artifact.etching),
            "mint": _id(artifact.mint),
        }
    etching = artifact.etching
    etching_json = None
    if etching is not None:
        terms = etching.terms
        etching_json = {
            "divisibility": etching.divisibility,
            "premine": _str(etching.premine),
            "rune": None if etching.rune is None else rune_name(etching.rune),
            "rune_n": _str(etching.rune),
            "spacers": etching.spacers,
            "symbol": etching.symbol,
            "terms": None
            if terms is None
            else {
                "amount": _str(terms.amount),
                "cap": _str(terms.cap),
                "height": list(terms.height),
                "offset": list(terms.offset),
            },
            "turbo": etching.turbo,
        }
    return {
        "kind": "runestone",
        "edicts": [
            {"id": f"{e.block}:{e.tx}", "amount": str(e.amount), "output": e.output} for e in artifact.edicts
        ],
        "etching": etching_json,
        "mint": _id(artifact.mint),
        "pointer": artifact.pointer,
    }


def decode_outputs(scripts: Sequence[Script]) -> dict[str, Any]:
    """Decode one transaction's output scripts into the vectors' JSON shape.

    Returns ``{"kind": "none"}``, ``{"kind": "runestone", "edicts", "etching",
    "mint", "pointer"}`` or ``{"kind": "cenotaph", "flaws": [FLAW], "etching",
    "mint"}``; u128 values are decimal strings. See :func:`decipher` for the
    accepted script types.

    >>> decode_outputs(["6a5d050001010200"])["edicts"]
    [{'id': '1:1', 'amount': '2', 'output': 0}]
    >>> decode_outputs(["0014" + "00" * 20])
    {'kind': 'none'}
    """
    if not hasattr(scripts, "__len__"):
        scripts = list(scripts)
    if runestone_output(scripts) is None:  # fast path: no candidate output
        return {"kind": "none"}
    return to_json(decipher(scripts))


def decode_many(transactions: Iterable[Sequence[Script]]) -> list[dict[str, Any]]:
    """:func:`decode_outputs` for each transaction's output list."""
    return [decode_outputs(scripts) for scripts in transactions]

"""Rune names, spaced rune names and rune ids, as the Runes protocol defines them.

A rune name is a u128 written in bijective base 26 with ``A = 0``::

    A = 0, B = 1, ..., Z = 25, AA = 26, AB = 27, ..., BCGDENLQRQWDSLRUGSNLBTMFIJAV = 2**128 - 1

A *spaced* name adds a bitfield: bit ``i`` puts a spacer ``•`` (U+2022) between
letter ``i`` and letter ``i + 1``. Parsing accepts ``•`` and ``.`` as spacers,
formatting always writes ``•``. A rune id ``BLOCK:TX`` names a rune by its
etching block (u64) and the transaction's index in that block (u32).

Every parse or range error raises :class:`~mesh_magics.errors.RuneNameError`
(a ``ValueError``) whose message names the problem and how to fix it.

>>> rune_name(2055900680524219742)
'UNCOMMONGOODS'
>>> parse_spaced_rune("UNCOMMON•GOODS")
(2055900680524219742, 128)
>>> format_spaced_rune("UNCOMMONGOODS", 128)
'UNCOMMON•GOODS'
>>> parse_rune_id("840000:3")
(840000, 3)
"""

from __future__ import annotations

import re

from ...errors import RuneNameError

__all__ = [
    "MAX_SPACERS",
    "RESERVED_RUNE",
    "SPACER",
    "U128_MAX",
    "format_rune_id",
    "format_spaced_rune",
    "minimum_rune_at_height",
    "parse_rune_id",
    "parse_spaced_rune",
    "rune_name",
    "rune_number",
]

U128_MAX = 2**128 - 1
U64_MAX = 2**64 - 1
U32_MAX = 2**32 - 1

#: the spacer written between letters of a spaced name (U+2022 BULLET)
SPACER = "\u2022"
#: the largest spacers value an etching may carry (one bit per gap of a 28-letter name)
MAX_SPACERS = 0x07FF_FFFF
#: the first reserved rune number, ``AAAAAAAAAAAAAAAAAAAAAAAAAAA`` (27 letters)
RESERVED_RUNE = 6402364363415443603228541259936211926

# u128::MAX has 28 letters; every longer name (and 28-letter names above it) is out of range.
_MAX_NAME = "BCGDENLQRQWDSLRUGSNLBTMFIJAV"
_MAX_LETTERS = len(_MAX_NAME)
_A = ord("A")
_RUNE_ID = re.compile(r"([0-9]+):([0-9]+)")
# STEPS[k]: the first name of k + 1 letters ("A" * (k + 1)), k = 0..27
_STEPS = [0]
for _ in range(27):
    _STEPS.append((_STEPS[-1] + 1) * 26)
_HALVING_INTERVAL = 210_000
_UNLOCK_INTERVAL = _HALVING_INTERVAL // 12  # one letter shorter every 17,500 blocks


def _check_u128(n: object, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise RuneNameError(f"{what} must be an int, got {type(n).__name__} {n!r}")
    if not 0 <= n <= U128_MAX:
        raise RuneNameError(
            f"{what} {n} is out of range: rune numbers are unsigned 128-bit, 0 <= n <= {U128_MAX}"
        )
    return n


def rune_name(n: int) -> str:
    """The name of rune number ``n`` (``0 <= n <= 2**128 - 1``).

    >>> rune_name(0), rune_name(26), rune_name(2**128 - 1)
    ('A', 'AA', 'BCGDENLQRQWDSLRUGSNLBTMFIJAV')
    """
    n = _check_u128(n, "rune number")
    if n == U128_MAX:  # n + 1 overflows u128 in ord, which spells this one out
        return _MAX_NAME
    letters: list[str] = []
    n += 1
    while n > 0:
        n, r = divmod(n - 1, 26)
        letters.append(chr(_A + r))
    return "".join(reversed(letters))


def rune_number(name: str) -> int:
    """The rune number of an unspaced name of letters ``A``-``Z``.

    Raises :class:`RuneNameError` for an empty name, any other character
    (spaced names go through :func:`parse_spaced_rune`) and names above
    ``BCGDENLQRQWDSLRUGSNLBTMFIJAV`` (u128::MAX).

    >>> rune_number("A"), rune_number("AA"), rune_number("UNCOMMONGOODS")
    (0, 26, 2055900680524219742)
    """
    if not isinstance(name, str):
        raise RuneNameError(f"a rune name must be a str, got {type(name).__name__} {name!r}")
    if not name:
        raise RuneNameError("empty rune name: give at least one letter A-Z")
    x = 0
    for i, c in enumerate(name):
        if i > 0:
            x = (x + 1) * 26
        else:
            x *= 26
        if x > U128_MAX:
            raise _range_error(name)
        if not "A" <= c <= "Z":
            raise _character_error(name, i, c, spaced=False)
        x += ord(c) - _A
        if x > U128_MAX:
            raise _range_error(name)
    return x


def _range_error(name: str) -> RuneNameError:
    return RuneNameError(
        f"rune name {name!r} is out of range: the largest name is {_MAX_NAME} "
        f"({_MAX_LETTERS} letters, u128::MAX); use a shorter name"
    )


def _character_error(text: str, i: int, c: str, *, spaced: bool) -> RuneNameError:
    if c in (SPACER, ".") and not spaced:
        hint = "this looks like a spaced name: use parse_spaced_rune()"
    elif "a" <= c <= "z":
        hint = f"rune names are uppercase: did you mean {text.upper()!r}?"
    else:
        allowed = "A-Z, '.' or '•'" if spaced else "A-Z"
        hint = f"only {allowed} are allowed"
    return RuneNameError(f"invalid character {c!r} at position {i} in rune name {text!r}: {hint}")


def parse_spaced_rune(text: str) -> tuple[int, int]:
    """Parse a spaced name such as ``DOG•GO•TO•THE•MOON`` into ``(rune number, spacers)``.

    Both ``•`` (U+2022) and ``.`` are accepted as spacers. Errors: a spacer
    before the first letter (leading), two spacers in one gap (double), a
    spacer after the last letter (trailing), any other character, and names
    out of the u128 range.

    >>> parse_spaced_rune("A.B")
    (27, 1)
    """
    if not isinstance(text, str):
        raise RuneNameError(f"a spaced rune name must be a str, got {type(text).__name__} {text!r}")
    letters: list[str] = []
    spacers = 0
    for i, c in enumerate(text):
        if "A" <= c <= "Z":
            letters.append(c)
        elif c == SPACER or c == ".":
            if not letters:
                raise RuneNameError(
                    f"leading spacer in rune name {text!r}: a name must start with a letter; "
                    f"remove the {c!r} at position {i}"
                )
            flag = 1 << (len(letters) - 1)
            if spacers & flag:
                raise RuneNameError(
                    f"double spacer in rune name {text!r} at position {i}: "
                    "put at most one spacer between two letters"
                )
            spacers |= flag
        else:
            raise _character_error(text, i, c, spaced=True)
    if not letters:
        raise RuneNameError("empty rune name: give at least one letter A-Z")
    if spacers.bit_length() >= len(letters):
        raise RuneNameError(
            f"trailing spacer in rune name {text!r}: a name must end with a letter; remove the final spacer"
        )
    return rune_number("".join(letters)), spacers


def format_spaced_rune(n_or_name: int | str, spacers: int = 0) -> str:
    """The display form of a rune (number or unspaced name) with a spacers bitfield.

    Spacer bits at or past the last letter are ignored, as in ord: ``A`` with
    spacers 1 is ``A``.

    >>> format_spaced_rune(27, 1), format_spaced_rune("AAAA", 0b10)
    ('A•B', 'AA•AA')
    """
    if isinstance(n_or_name, str):
        rune_number(n_or_name)  # validates
        name = n_or_name
    else:
        name = rune_name(n_or_name)
    if isinstance(spacers, bool) or not isinstance(spacers, int):
        raise RuneNameError(f"spacers must be an int bitfield, got {type(spacers).__name__}")
    if not 0 <= spacers <= U32_MAX:
        raise RuneNameError(
            f"spacers {spacers} is out of range: it is a u32 bitfield (0 <= spacers <= {U32_MAX}), "
            f"and an etching may only set the low 27 bits (<= {MAX_SPACERS})"
        )
    if not spacers:
        return name
    last = len(name) - 1
    out: list[str] = []
    for i, c in enumerate(name):
        out.append(c)
        if i < last and spacers >> i & 1:
            out.append(SPACER)
    return "".join(out)


def parse_rune_id(text: str) -> tuple[int, int]:
    """Parse ``"BLOCK:TX"`` into ``(block, tx)``: block a u64, tx a u32.

    ``0:0`` is accepted (in an edict it means "the rune etched in this
    transaction"); ``0:TX`` with ``TX > 0`` can never name a rune and is
    rejected.

    >>> parse_rune_id("840000:3")
    (840000, 3)
    """
    if not isinstance(text, str):
        raise RuneNameError(f"a rune id must be a str 'BLOCK:TX', got {type(text).__name__} {text!r}")
    m = _RUNE_ID.fullmatch(text)
    if m is None:
        if ":" not in text:
            problem = "missing ':' separator"
        else:
            problem = "BLOCK and TX must be plain decimal digits"
        raise RuneNameError(f"invalid rune id {text!r}: {problem}; write it as BLOCK:TX, e.g. '840000:3'")
    return _check_rune_id(int(m.group(1)), int(m.group(2)), text)


def format_rune_id(block: int, tx: int) -> str:
    """``"BLOCK:TX"`` for a rune id, after checking the u64 / u32 ranges.

    >>> format_rune_id(840000, 3)
    '840000:3'
    """
    for what, v in (("block", block), ("tx", tx)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise RuneNameError(f"rune id {what} must be an int, got {type(v).__name__} {v!r}")
    block, tx = _check_rune_id(block, tx, f"{block}:{tx}")
    return f"{block}:{tx}"


def _check_rune_id(block: int, tx: int, text: str) -> tuple[int, int]:
    if not 0 <= block <= U64_MAX:
        raise RuneNameError(
            f"invalid rune id {text!r}: block {block} is out of range (0 <= block <= {U64_MAX})"
        )
    if not 0 <= tx <= U32_MAX:
        raise RuneNameError(f"invalid rune id {text!r}: tx {tx} is out of range (0 <= tx <= {U32_MAX})")
    if block == 0 and tx > 0:
        raise RuneNameError(
            f"invalid rune id {text!r}: block 0 only allows tx 0 ('0:0', the rune etched in the "
            "same transaction); use the etching block height"
        )
    return block, tx


def minimum_rune_at_height(height: int, first_rune_height: int = 840_000) -> int:
    """The smallest rune number an etching may name in block ``height``.

    Names of 13+ letters are open before ``first_rune_height`` (840,000 on
    mainnet); from there one shorter length unlocks every 17,500 blocks,
    interpolating linearly, until every name down to ``A`` is open 210,000
    blocks later. Reserved names (>= :data:`RESERVED_RUNE`) are never open.

    >>> rune_name(minimum_rune_at_height(840_000))
    'ZZYZXBRKWXVA'
    >>> minimum_rune_at_height(1_049_999)
    0
    """
    offset = height + 1
    if offset < first_rune_height:
        return _STEPS[12]
    progress = offset - first_rune_height
    if progress >= _HALVING_INTERVAL:
        return 0
    length = 12 - progress // _UNLOCK_INTERVAL
    start, end = _STEPS[length], _STEPS[length - 1]
    return start - (start - end) * (progress % _UNLOCK_INTERVAL) // _UNLOCK_INTERVAL

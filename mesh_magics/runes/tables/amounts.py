"""The one parser of raw rune amounts: exact integers in ``0..u128::MAX``.

The canonical tables (:func:`~.coerce.coerce_amount`, hence
:func:`~.coerce.coerce_transfers` / :func:`~.coerce.coerce_runes`) and the
loaders (:mod:`mesh_magics.runes.io`) read every raw amount that is not already
in an integer column through :func:`parse_amount`, so a value is accepted or
refused, with the same value, whichever way it comes in. It accepts

- Python and numpy integers (not booleans);
- integral :class:`~decimal.Decimal` values (JSON numbers parsed exactly);
- text of ASCII decimal digits ``0-9`` only, surrounding whitespace ignored,
  leading zeros allowed. No sign, ``_``, exponent or decimal point, and no
  other Unicode digits: ``"１２"`` (full width) and ``"²"`` pass
  :meth:`str.isdigit`, and ``int()`` even reads the first, but neither is an
  amount;

within ``0..u128::MAX``, and refuses everything else: nulls, floats (they
cannot carry u128 amounts exactly), other text, other types. A refused value
raises :class:`AmountError`, whose :attr:`~AmountError.kind` says why; the
tables name the column and row in a :class:`~mesh_magics.errors.SchemaError`,
the loaders set the row aside as a bad row.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from ...errors import SchemaError
from .schema import U128_MAX

__all__ = ["AMOUNT_ERROR_KINDS", "AmountError", "parse_amount"]

#: every :attr:`AmountError.kind`
AMOUNT_ERROR_KINDS = ("missing", "not-integer", "float", "negative", "too-large")

#: decimal digits of u128::MAX (340282366920938463463374607431768211455)
_U128_DIGITS = len(str(U128_MAX))


class AmountError(SchemaError):
    """A value that is not a raw amount; ``kind`` is one of :data:`AMOUNT_ERROR_KINDS`."""

    def __init__(self, kind: str, message: str) -> None:
        assert kind in AMOUNT_ERROR_KINDS, kind
        super().__init__(message)
        self.kind = kind


def _is_null(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def parse_amount(value: Any, what: str = "amount") -> int:
    """``value`` as an exact raw amount (a Python int in ``0..u128::MAX``).

    ``what`` names the value in the message of the :class:`AmountError`
    raised when it is not one (see the module docstring for what is).
    """
    if _is_null(value):
        raise AmountError("missing", f"{what} is missing")
    if isinstance(value, (bool, np.bool_)):
        raise AmountError("not-integer", f"{what} {value!r} is a boolean, not an integer")
    if isinstance(value, (int, np.integer)):
        n = int(value)
    elif isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit()):
            raise AmountError("not-integer", f"{what} {value!r} is not a non-negative decimal integer")
        digits = text.lstrip("0")
        if len(digits) > _U128_DIGITS:  # never int() of huge text: it is slow, or refused
            raise AmountError(
                "too-large", f"{what} {text[:20]}... ({len(digits)} digits) is outside 0..u128::MAX"
            )
        n = int(digits or "0")
    elif isinstance(value, Decimal):
        if not value.is_finite() or value != value.to_integral_value():
            raise AmountError("not-integer", f"{what} {value} is not an integer")
        if value.adjusted() >= _U128_DIGITS:
            raise AmountError("too-large", f"{what} {value} is outside 0..u128::MAX")
        n = int(value)
    elif isinstance(value, (float, np.floating)):
        raise AmountError(
            "float",
            f"{what} {value!r} is a float, which cannot hold u128 amounts exactly; "
            "export amounts as integers or decimal strings",
        )
    else:
        raise AmountError("not-integer", f"{what} {value!r} ({type(value).__name__}) is not an integer")
    if n < 0:
        raise AmountError("negative", f"{what} {n} is outside 0..u128::MAX")
    if n > U128_MAX:
        raise AmountError("too-large", f"{what} {n} is outside 0..u128::MAX")
    return n

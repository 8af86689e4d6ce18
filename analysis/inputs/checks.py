"""Validation helpers: the one place numeric invariants of the inputs are checked.

Each raises :class:`~analysis.inputs.errors.InputError` naming the field, the value, why it is
wrong and what would be valid.
"""

from __future__ import annotations

import math

from analysis.inputs.errors import InputError

__all__ = ["check_fraction", "check_positive", "is_number"]


def is_number(x: object) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def check_positive(field_name: str, value: object, *, integer: bool = False,
                   allow_zero: bool = False) -> None:
    """Raise InputError unless ``value`` is a finite number > 0 (or >= 0), integral if asked."""
    kind = "a whole number" if integer else "a number"
    bound = ">= 0" if allow_zero else "> 0"
    if not is_number(value) or (integer and float(value) != int(value)):
        raise InputError(field_name, value, f"must be {kind}", f"{kind} {bound}")
    if value < 0 or (value == 0 and not allow_zero):
        raise InputError(field_name, value, f"must be {bound}", f"{kind} {bound}")


def check_fraction(field_name: str, value: object, *, allow_zero: bool = False) -> None:
    """Raise InputError unless 0 < value <= 1 (or 0 <= value <= 1)."""
    lo = "0 <=" if allow_zero else "0 <"
    if not is_number(value) or value > 1 or value < 0 or (value == 0 and not allow_zero):
        raise InputError(field_name, value, "must be a fraction (60% is 0.6)",
                         f"a number with {lo} x <= 1")

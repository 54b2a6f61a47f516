"""Exceptions and the one input-checking helper used everywhere.

Bad input is refused early, before any expensive work, with a message that names the
offending value and the allowed range.
"""

from __future__ import annotations

import math


class NafillInputError(ValueError):
    """A user-supplied value is outside what nafill accepts."""


class NafillRunError(RuntimeError):
    """A run cannot continue (all candidates failed, inconsistent resume, ...)."""


def check_range(
    name: str,
    value: float,
    lo: float | None = None,
    hi: float | None = None,
    unit: str = "",
    lo_inclusive: bool = True,
    hi_inclusive: bool = True,
) -> float:
    """Return ``value`` if ``lo <= value <= hi`` (bounds optional), else raise.

    The message names the argument, the value given and the allowed range, e.g.
    ``spacing_nm = 0.2 nm is outside the allowed range [0.3, 5] nm``.
    """
    u = f" {unit}" if unit else ""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise NafillInputError(f"{name} = {value!r} is not a number") from None
    if not math.isfinite(v):
        raise NafillInputError(f"{name} = {value!r} is not a finite number")
    lo_ok = lo is None or (v >= lo if lo_inclusive else v > lo)
    hi_ok = hi is None or (v <= hi if hi_inclusive else v < hi)
    if lo_ok and hi_ok:
        return v
    lb = "[" if lo_inclusive else "("
    rb = "]" if hi_inclusive else ")"
    lo_s = "-inf" if lo is None else f"{lo:g}"
    hi_s = "inf" if hi is None else f"{hi:g}"
    raise NafillInputError(
        f"{name} = {value:g}{u} is outside the allowed range {lb}{lo_s}, {hi_s}{rb}{u}"
    )


def check_int(name: str, value: int, lo: int | None = None, hi: int | None = None) -> int:
    """Return ``value`` as int if it is an integer within ``[lo, hi]``, else raise."""
    if isinstance(value, bool) or int(value) != value:
        raise NafillInputError(f"{name} = {value!r} must be an integer")
    check_range(name, int(value), lo, hi)
    return int(value)


def is_number(text: str) -> bool:
    """True when ``text`` parses as a float (command-line and name parsing)."""
    try:
        float(text)
        return True
    except (TypeError, ValueError):
        return False

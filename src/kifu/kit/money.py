"""Exact decimals: parse strictly, print canonically. Never ``float``."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from kifu.kit.errors import InvalidInput
from kifu.kit.numbers import EXACT, size_problem

__all__ = ["EXACT", "dec_str", "parse_decimal", "pnl_percent", "round_places", "size_problem"]


def parse_decimal(value: object, field: str) -> Decimal:
    """A finite ``Decimal`` from a string or int (floats are refused: they are not exact),
    within the size bounds of ``kit.numbers``."""
    if isinstance(value, bool | float):
        raise InvalidInput("send numbers as decimal strings", field=field)
    if isinstance(value, int):
        value = str(value)  # bounded like text (2^63 and beyond as well)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("must be a decimal number", field=field)
    text = value.strip()
    if problem := size_problem(text):
        raise InvalidInput(problem, field=field)
    try:
        d = Decimal(text)
    except InvalidOperation as exc:
        raise InvalidInput(f"{value!r} is not a number", field=field) from exc
    if not d.is_finite():
        raise InvalidInput("must be finite", field=field)
    if problem := size_problem(value=d):
        raise InvalidInput(problem, field=field)
    return d + 0 if d == 0 else d  # 0E+1000000000 → 0


def dec_str(value: Decimal | int | None) -> str | None:
    """Plain notation without exponent or trailing zeros: ``Decimal('1.50E+3')`` → ``'1500'``,
    zero → ``'0'``. The one canonical decimal text: dedupe keys and pack hashes depend on it."""
    if value is None:
        return None
    d = Decimal(value)
    if d == 0:
        return "0"
    return format(d.normalize(EXACT), "f")


def round_places(value: Decimal | None, places: int) -> Decimal | None:
    """``value`` rounded to ``places`` decimals, half away from zero, as a PostgreSQL
    ``NUMERIC(p, places)`` column stores it (the reference kept averages in ``NUMERIC(30,10)``)."""
    if value is None:
        return None
    return Decimal(value).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP, EXACT)


def pnl_percent(reference: Decimal, outcome: Decimal) -> Decimal:
    """(outcome − reference) / reference × 100, computed exactly and rounded half away from zero
    to 8 decimals (as the reference's big.Rat ``FloatString(8)``): bubble and alert outcomes."""
    if reference <= 0:
        raise ValueError("reference price must be positive")
    rn, rd = reference.as_integer_ratio()  # exact integers: reference = rn / rd, rn > 0
    on, od = outcome.as_integer_ratio()
    scaled = (on * rd - rn * od) * 10**10  # the exact value × 10^8 is scaled / (od × rn)
    whole, rest = divmod(abs(scaled), od * rn)
    if rest * 2 >= od * rn:
        whole += 1
    value = Decimal(whole).scaleb(-8)
    return -value if scaled < 0 and whole else value

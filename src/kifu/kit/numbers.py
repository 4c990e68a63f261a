"""Decimal arithmetic that never rounds, and the size bounds every accepted number passes.

No project imports: ``kit.fields`` and ``kit.money`` both build on it.
"""

from __future__ import annotations

from decimal import (
    MAX_EMAX,
    MAX_PREC,
    MIN_EMIN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)

# Arithmetic that never rounds: as many digits as the operands need (the default context keeps 28
# significant digits, fewer than a NUMERIC(30, 10) column holds). Use EXACT.add, .subtract,
# .minus; comparisons and max()/min() never round.
EXACT = Context(
    prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[InvalidOperation, DivisionByZero, Overflow]
)


# Bounds checked before a number is expanded: ``1e1000000000`` is 14 characters of text but a
# billion digits once printed plainly (dec_str) or sent to PostgreSQL; thousands of digits make
# every later step slow. Every decimal kifu accepts (JSON, query, CSV cell) passes ``size_problem``.
MAX_NUMBER_CHARS = 100
MAX_WHOLE_DIGITS = 40  # below 10^40
MAX_SCALE = 40  # at most 40 digits after the point (trailing zeros aside)


def size_problem(text: str | None = None, value: Decimal | None = None) -> str | None:
    """Why a number is too large to accept (its text, or its value once parsed), else None."""
    if text is not None and len(text) > MAX_NUMBER_CHARS:
        return f"at most {MAX_NUMBER_CHARS} characters"
    if value is not None and value.is_finite() and value:
        if value.adjusted() >= MAX_WHOLE_DIGITS:
            return f"must be below 10^{MAX_WHOLE_DIGITS}"
        _sign, digits, exponent = value.as_tuple()
        assert isinstance(exponent, int)
        if exponent < -MAX_SCALE:
            # Trailing zeros do not count ("1.000…0"); the digits are few, so this is cheap.
            trimmed = len(digits) - len(bytes(digits).rstrip(b"\x00"))
            if exponent + trimmed < -MAX_SCALE:
                return f"at most {MAX_SCALE} decimal places"
    return None

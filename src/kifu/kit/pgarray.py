"""PostgreSQL array literals, for statements that take thousands of values at once.

A statement such as ``unnest(%s::uuid[], %s::numeric[])`` is given a Python list, which psycopg
dumps value by value: the five columns of a round of 2,000 outcomes took 9 ms of Python
(``bench/outcomes.py``). The same values as one literal (``{a,b,c}``, cast by the statement) take
3 ms, and the statement reads them as it would the list. The outcome jobs' rounds and the candle
cache's columns, windows and targets are sent this way.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal


def _element(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, uuid.UUID) or type(value) is int:  # not bool, not an IntEnum's name
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a finite number: {value!r}")
        return str(value)  # '1E+2' is read as 100 by numeric
    if isinstance(value, datetime):
        # an instant only: a naive time would be read in the session's time zone
        if value.tzinfo is None:
            raise ValueError(f"naive datetime: {value!r}")
        return value.isoformat()  # digits, '-', ':', '.', 'T', '+': nothing to quote
    if isinstance(value, str):
        if "\0" in value:
            raise ValueError("a text holds a NUL character")
        # Always quoted: then no text (empty, NULL, with a comma, brace or space) is misread.
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(f"no array element for {type(value).__name__}")


def literal(values: Iterable[object]) -> str:
    """The array literal of ``values``: UUIDs, ints, finite Decimals, aware datetimes, texts (any
    but NUL, which PostgreSQL's text cannot hold) and None (NULL). Cast it in the statement
    (``%s::uuid[]``): it is sent as text."""
    return "{" + ",".join(map(_element, values)) + "}"

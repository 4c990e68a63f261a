"""Answers that PostgreSQL writes as JSON text, for the read endpoints a screen loads often.

Building a page of rows in Python costs more than the query (a dict per row, an RFC 3339 and a
decimal text per value, then pydantic validates and serialises the whole page again). For the
hot list endpoints the store asks PostgreSQL for the finished JSON instead (``json_array``:
``json_agg`` of rows whose columns are these expressions, named as the model's fields), the
service wraps it in its envelope (``document``) and the route answers the bytes (``RawJSON``):
one round trip and almost no Python per row. The route keeps its declared ``response_model``,
so the OpenAPI still documents the answer; ``tests/contract/test_raw_json.py`` checks that
every such answer is exactly an instance of its declared model, and that these expressions
print what ``kit.timeutil.rfc3339`` and ``kit.money.dec_str`` print.

The text differs from pydantic's only in insignificant whitespace (``json_agg`` puts a new line
between the objects of an array).
"""

from __future__ import annotations

import json

from fastapi.responses import Response


class RawJSON(Response):
    """A JSON document already serialised (by PostgreSQL), answered as it is."""

    media_type = "application/json"


def rfc3339(column: str) -> str:
    """SQL text of ``kit.timeutil.rfc3339`` on a ``timestamptz`` expression: UTC, ``Z``,
    microseconds only when there are any; NULL stays NULL (JSON null)."""
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (
        f"(to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS')"
        f" || CASE WHEN date_trunc('second', {utc}) = {utc} THEN ''"
        f" ELSE to_char({utc}, '.US') END || 'Z')"
    )


def dec(column: str) -> str:
    """SQL text of ``kit.money.dec_str`` on a ``numeric`` expression: plain notation, no
    trailing zeros, zero as ``0``; NULL stays NULL."""
    return f"trim_scale({column})::text"


def plain(column: str) -> str:
    """A ``numeric`` as stored, scale kept (``format(value, "f")`` in Python)."""
    return f"({column})::text"


def text_array(column: str) -> str:
    """A ``text[]`` that is never null (JSON ``[]``)."""
    return f"coalesce({column}, '{{}}'::text[])"


def json_array(select: str) -> str:
    """SQL text of a scalar subquery: the rows of ``select`` as a JSON array of objects, one
    key per output column (their names are the keys), in ``select``'s order, ``[]`` when there
    are none. ``select`` ends with its own ``ORDER BY``: nothing above it joins or groups, so
    ``json_agg`` reads the rows in that order. Pick the page in a subquery of ``select`` and
    compute the text columns above it, so they are computed for the page's rows only; order
    the outer level by qualified names (``p.created_at``): a bare name there would be the
    output column, the text."""
    return f"(SELECT coalesce(json_agg(p), '[]'::json)::text FROM ({select}) p)"


class Raw(str):
    """JSON text that ``document`` puts in as it is."""


def document(**fields: object) -> bytes:
    """A JSON object of ``fields`` in order: ``Raw`` values (JSON from PostgreSQL) as they
    are, anything else through ``json.dumps``."""
    parts = [
        f"{json.dumps(k)}:{v if isinstance(v, Raw) else json.dumps(v)}" for k, v in fields.items()
    ]
    return ("{" + ",".join(parts) + "}").encode()

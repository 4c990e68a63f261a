"""Answers that PostgreSQL writes as JSON text, for the read endpoints a screen loads often.

Building a page of rows in Python costs more than the query (a dict per row, an RFC 3339 and a
decimal text per value, then pydantic validates and serialises the whole page again). For the
hot list endpoints the store asks PostgreSQL for the finished JSON instead (``json_array``: the
rows of a query whose columns are these expressions, named as the model's fields, as an array of
the model's objects), the service wraps it in its envelope (``document``) and the route answers
the bytes (``RawJSON``): one round trip and almost no Python per row. The route keeps its
declared ``response_model``, so the OpenAPI still documents the answer;
``tests/contract/test_raw_json.py`` checks that every such answer is exactly an instance of its
declared model (the fields a ``kit.fields.OmitNull`` model leaves out when null are left out
here too), and that these expressions print what ``kit.timeutil.rfc3339`` /
``rfc3339_seconds`` and ``kit.money.dec_str`` print.

The text differs from pydantic's only in insignificant whitespace, if ever.
"""

from __future__ import annotations

import json

from fastapi.responses import Response
from pydantic import BaseModel


class RawJSON(Response):
    """A JSON document already serialised (by PostgreSQL), answered as it is."""

    media_type = "application/json"


def rfc3339(column: str) -> str:
    """SQL text of ``kit.timeutil.rfc3339`` on a ``timestamptz`` expression: UTC, ``Z``,
    microseconds only when there are any; NULL stays NULL (JSON null)."""
    # one to_char with the fraction, dropped when it is zero: 20% less than testing the fraction
    # first and formatting twice (600 times a page of 200 bubbles)
    utc = f"({column} AT TIME ZONE 'UTC')"
    return f"(replace(to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), '.000000', '') || 'Z')"


def rfc3339_seconds(column: str) -> str:
    """SQL text of ``kit.timeutil.rfc3339_seconds``: whole seconds (the fraction dropped, not
    rounded: ``to_char``'s ``SS`` is the second the instant is in); NULL stays NULL."""
    utc = f"({column} AT TIME ZONE 'UTC')"
    return f"(to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || 'Z')"


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


def json_array(select: str, model: type[BaseModel]) -> str:
    """SQL text of a scalar subquery: the rows of ``select`` as a JSON array of ``model``
    objects, ``[]`` when there are none. Each object has one key per field of ``model``, in the
    model's order, its value the output column of that name (``to_json`` of it, as ``json_agg``
    would print it); a field named in the model's ``omit_when_null`` (``kit.fields.OmitNull``)
    is left out when its column is NULL, every other NULL is ``null``. Output columns that are
    not fields are not printed; a field without a column is an SQL error, not a missing key.

    ``select`` ends with its own ``ORDER BY``: nothing above it joins or groups, so the
    aggregate reads the rows in that order. Pick the page in a subquery of ``select`` and
    compute the text columns above it, so they are computed for the page's rows only; order
    the outer level by qualified names (``p.created_at``): a bare name there would be the
    output column, the text."""
    omit = getattr(model, "omit_when_null", frozenset())
    members = []
    for name in model.model_fields:
        key = json.dumps(name) + ":"  # a Python identifier: nothing to escape for SQL
        value = f'to_json(p."{name}")::text'
        # concat_ws skips a NULL member: the key of an omittable field goes with its value
        members.append(
            f"'{key}' || {value}" if name in omit else f"'{key}' || coalesce({value}, 'null')"
        )
    item = "'{' || concat_ws(',', " + ", ".join(members) + ") || '}'"
    return f"(SELECT coalesce('[' || string_agg({item}, ',') || ']', '[]') FROM ({select}) p)"


def object_from_jsonb(column: str, model: type[BaseModel]) -> str:
    """SQL text of a ``json`` object of ``model``'s fields, in the model's order, each the
    member of that name of the ``jsonb`` expression ``column`` (``null`` when it has none): what
    ``model.model_validate(value).model_dump(mode="json")`` prints for a stored value whose members
    are already the fields' JSON (a canonical config, say); members that are not fields are
    dropped, as pydantic drops them. Nested models are not expanded."""
    members = ", ".join(f"'{name}', ({column})->'{name}'" for name in model.model_fields)
    return f"json_build_object({members})"


class Raw(str):
    """JSON text that ``document`` puts in as it is."""


def document(**fields: object) -> bytes:
    """A JSON object of ``fields`` in order: ``Raw`` values (JSON from PostgreSQL) as they
    are, anything else through ``json.dumps``."""
    parts = [
        f"{json.dumps(k)}:{v if isinstance(v, Raw) else json.dumps(v)}" for k, v in fields.items()
    ]
    return ("{" + ",".join(parts) + "}").encode()

"""Ids in requests: a path or body id is a UUID, else a 400 naming the field."""

from __future__ import annotations

import uuid

from kifu.kit.errors import InvalidInput


def parse_id(raw: object, field: str = "id") -> uuid.UUID:
    """The UUID ``raw`` spells (surrounding blanks ignored), else ``InvalidInput`` (400
    ``INVALID_REQUEST``, "<field>: not a valid id")."""
    if isinstance(raw, str):
        try:
            return uuid.UUID(raw.strip())
        except ValueError:
            pass
    raise InvalidInput("not a valid id", field=field)

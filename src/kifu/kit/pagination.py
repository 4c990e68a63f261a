"""Page/limit pagination (the reference's style P1) and keyset cursors.

``page`` ≥ 1 (default 1); ``limit`` default 50, values over 200 clamped to 200; a non-number or 0
is 400 ``INVALID_REQUEST`` naming the parameter. Every list endpoint is bounded by ``MAX_LIMIT``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query

from kifu.kit.errors import InvalidInput

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def parse_positive_int(raw: str | None, name: str, default: int) -> int:
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) == 0:
        raise InvalidInput("must be a positive whole number", field=name)
    return int(raw)


@dataclass(frozen=True)
class Page:
    page: int
    limit: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit

    def envelope(self, items: list[Any], total: int) -> dict[str, Any]:
        return {"page": self.page, "limit": self.limit, "total": total, "items": items}


async def page_params(
    page: Annotated[str | None, Query(description="Page number, from 1")] = None,
    limit: Annotated[str | None, Query(description="Items per page, at most 200")] = None,
) -> Page:
    return Page(
        page=parse_positive_int(page, "page", 1),
        limit=min(parse_positive_int(limit, "limit", DEFAULT_LIMIT), MAX_LIMIT),
    )


PageParams = Annotated[Page, Depends(page_params)]


def encode_cursor(*parts: str) -> str:
    raw = "|".join(parts).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str, count: int) -> list[str]:
    """The ``count`` parts of a cursor made by ``encode_cursor``; ``InvalidInput`` if it is
    not one."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        parts = base64.urlsafe_b64decode(padded.encode()).decode().split("|")
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("not a valid cursor", field="cursor") from exc
    if len(parts) != count:
        raise InvalidInput("not a valid cursor", field="cursor")
    return parts

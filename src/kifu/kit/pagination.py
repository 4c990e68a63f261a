"""Page/limit pagination (the reference's style P1) and keyset cursors.

``page`` ≥ 1 (default 1), at most ``MAX_PAGE``; ``limit`` default 50, values over 200 clamped to
200; anything but ASCII digits (``²``, ``-1``, ``1e3``), 0, more than ``MAX_DIGITS`` digits or a
page past ``MAX_PAGE`` is 400 ``INVALID_REQUEST`` naming the parameter. Every list endpoint is
bounded by ``MAX_LIMIT``; offsets by ``MAX_OFFSET``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query

from kifu.kit.errors import InvalidInput

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_PAGE = 1_000_000
MAX_OFFSET = 100_000_000
MAX_DIGITS = 9  # a limit of 10^9 is clamped; longer digit strings are refused before int()


def _digits(raw: str, name: str, what: str) -> int:
    # str.isdigit() accepts "²" and other Unicode digits that int() refuses; only ASCII counts.
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_DIGITS:
        raise InvalidInput(what, field=name)
    return int(text)


def parse_positive_int(
    raw: str | None, name: str, default: int, *, at_most: int | None = None
) -> int:
    """A positive whole number of ASCII digits; ``at_most`` refuses larger values (400)."""
    if raw is None or raw == "":
        return default
    what = "must be a positive whole number" + (f" up to {at_most}" if at_most else "")
    value = _digits(raw, name, what)
    if value == 0 or (at_most is not None and value > at_most):
        raise InvalidInput(what, field=name)
    return value


def parse_offset(raw: str | None, name: str = "offset") -> int:
    """A whole number ≥ 0 of ASCII digits, at most ``MAX_OFFSET`` (400 otherwise)."""
    if raw is None or raw == "":
        return 0
    what = f"must be a whole number up to {MAX_OFFSET}"
    value = _digits(raw, name, what)
    if value > MAX_OFFSET:
        raise InvalidInput(what, field=name)
    return value


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
    page: Annotated[str | None, Query(description=f"Page number, from 1 to {MAX_PAGE}")] = None,
    limit: Annotated[str | None, Query(description="Items per page, at most 200")] = None,
) -> Page:
    return Page(
        page=parse_positive_int(page, "page", 1, at_most=MAX_PAGE),
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

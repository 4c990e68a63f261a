"""Aware UTC datetimes only: parse with an explicit zone, print RFC 3339 in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from kifu.kit.errors import BadRequest


def utc_now() -> datetime:
    return datetime.now(UTC)


def parse_instant(value: str, field: str) -> datetime:
    """An RFC 3339 time with a zone (``Z`` or ``±hh:mm``), as UTC. Naive times are refused."""
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise BadRequest("INVALID_REQUEST", f"{field}: {value!r} is not an RFC 3339 time") from exc
    if parsed.tzinfo is None:
        raise BadRequest("INVALID_REQUEST", f"{field}: {value!r} has no time zone")
    return parsed.astimezone(UTC)


def rfc3339(value: datetime | None) -> str | None:
    """``2026-01-02T03:04:05Z`` (microseconds kept when present)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")

"""Aware UTC datetimes only: parse with an explicit zone, print RFC 3339 in UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kifu.kit.errors import InvalidInput

# The chart timeframes kifu knows (the client's), as candle lengths in seconds.
TIMEFRAME_SECONDS: dict[str, int] = {"1m": 60, "15m": 900, "1h": 3600, "4h": 14400, "1d": 86400}


def candle_open(at: datetime, seconds: int) -> datetime:
    """The open time of the ``seconds``-long candle holding ``at``, on the UTC epoch grid (4h
    candles open at 0, 4, …, 20h; 1d at midnight UTC)."""
    ts = int(at.timestamp())
    return datetime.fromtimestamp(ts - ts % seconds, UTC)


# An IANA zone name: path segments of letters, digits, ``_``, ``-`` and ``+`` (``Etc/GMT+9``).
# Checked before ZoneInfo sees the text: it would otherwise try any string as a file name
# (a 10k-character name is an OSError, a NUL a ValueError, ``..`` a path outside the database).
_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9][A-Za-z0-9_+\-]*){0,3}")
MAX_ZONE_NAME = 64


def find_zone(name: str) -> ZoneInfo | None:
    """The IANA zone called ``name``, or None for any text that is not one, whatever it holds."""
    if not isinstance(name, str) or len(name) > MAX_ZONE_NAME or not _ZONE_NAME.fullmatch(name):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def utc_now() -> datetime:
    return datetime.now(UTC)


def parse_instant(value: str, field: str) -> datetime:
    """An RFC 3339 time with a zone (``Z`` or ``±hh:mm``), as UTC. Naive times are refused."""
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(f"{value!r} is not an RFC 3339 time", field=field) from exc
    if parsed.tzinfo is None:
        raise InvalidInput(f"{value!r} has no time zone", field=field)
    try:
        return parsed.astimezone(UTC)
    except OverflowError as exc:
        raise InvalidInput(f"{value[:40]!r} is out of range", field=field) from exc


def rfc3339_seconds(value: datetime | None) -> str | None:
    """``2026-01-02T03:04:05Z``, whole seconds (the fraction dropped, as Go's RFC 3339 layout
    printed it): for the times the reference sent without a fraction (notes, pack ranges)."""
    if value is None:
        return None
    return rfc3339(value.replace(microsecond=0))


def rfc3339(value: datetime | None) -> str | None:
    """``2026-01-02T03:04:05Z`` (microseconds kept when present)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")

"""Pure journal rules: bubble validation and normalisation, candle floors, outcome arithmetic."""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from kifu.kit.errors import DomainError
from kifu.kit.timeutil import TIMEFRAME_SECONDS, candle_open

SYMBOL_RE = re.compile(r"^[A-Z0-9]{3,12}$")
TAG_RE = re.compile(r"^[a-z0-9_-]+$")
TIMEFRAMES = TIMEFRAME_SECONDS
PERIODS: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "4h": timedelta(hours=4),
    "1d": timedelta(days=1),
}
MAX_TAGS = 5
MAX_TAG_LEN = 20
# Column sizes of bubbles.asset_class / venue_name (the reference truncated to 32/64 chars, which
# overflowed these columns and failed with a database error).
ASSET_CLASS_LEN = 20
VENUE_NAME_LEN = 50
PNL_PLACES = Decimal("0.00000001")


class RuleError(DomainError):
    """A journal value that breaks a rule: ``code`` says which, ``field`` names the value."""

    def __init__(self, code: str, field: str, message: str) -> None:
        super().__init__(message, code=code, field=field)


def normalize_symbol(raw: object, field: str = "symbol") -> str:
    if not isinstance(raw, str) or not SYMBOL_RE.fullmatch(raw.strip().upper()):
        raise RuleError("INVALID_SYMBOL", field, "must be 3-12 letters or digits (e.g. BTCUSDT)")
    return raw.strip().upper()


def normalize_timeframe(raw: object, field: str = "timeframe") -> str:
    value = raw.strip().lower() if isinstance(raw, str) else raw
    if value not in TIMEFRAMES:
        raise RuleError("INVALID_TIMEFRAME", field, f"must be one of {', '.join(TIMEFRAMES)}")
    return value  # type: ignore[return-value]


def normalize_tags(raw: Iterable[object] | None, field: str = "tags") -> list[str]:
    """≤5 tags, each trimmed and lowercased, ≤20 chars of a-z 0-9 _ -, empties dropped, deduped."""
    if raw is None:
        return []
    items = list(raw)
    if len(items) > MAX_TAGS:
        raise RuleError("INVALID_TAGS", field, f"tags cannot exceed {MAX_TAGS}")
    tags: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise RuleError("INVALID_TAGS", field, "every tag must be a string")
        tag = item.strip().lower()
        if not tag:
            continue
        if len(tag) > MAX_TAG_LEN:
            raise RuleError("INVALID_TAGS", field, f"tag {tag!r} is longer than {MAX_TAG_LEN}")
        if not TAG_RE.fullmatch(tag):
            raise RuleError("INVALID_TAGS", field, f"tag {tag!r} may only use a-z, 0-9, _ and -")
        if tag not in tags:
            tags.append(tag)
    return tags


def split_tags(raw: str | None, field: str = "tags") -> list[str]:
    """A comma-separated query value as normalised tags."""
    if raw is None or not raw.strip():
        return []
    return normalize_tags(raw.split(","), field)


def normalize_label(raw: object, max_len: int, field: str) -> str | None:
    """asset_class / venue_name: trimmed, lowercased, cut to the column size, empty → None."""
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise RuleError("INVALID_REQUEST", field, "must be a string")
    value = raw.strip()[:max_len].strip().lower()
    return value or None


# Where an auto bubble came from: the first words of its memo (the reference's own texts).
AUTO_ORIGINS = {
    "csv": "CSV import",  # legacy CSV importer
    "sync": "자동 기록",  # exchange sync ("auto record")
    "convert": "Trade sync",  # POST /trades/convert-bubbles
    "events": "Event sync",  # POST /portfolio/backfill-bubbles
}


# The one memo rule of auto bubbles; ``side`` in capitals. ``auto_memo`` fills it in Python,
# ``auto_memo_parts`` hands its pieces to the store's set-based insert (the same text in SQL).
AUTO_MEMO = "{origin}: {symbol} {side} @ {price}"


def auto_memo(origin: str, symbol: str, side: str, price: str) -> str:
    """The one memo rule of auto bubbles: ``<origin>: <SYMBOL> <SIDE> @ <price>``."""
    return AUTO_MEMO.format(
        origin=AUTO_ORIGINS[origin], symbol=symbol, side=side.upper(), price=price
    )


def auto_memo_parts(origin: str) -> list[tuple[str, str | None]]:
    """``AUTO_MEMO`` of ``origin`` as (literal text, field or None) pieces in order, the origin
    already filled in; the fields are ``symbol``, ``side`` (to be put in capitals) and ``price``."""
    parts: list[tuple[str, str | None]] = []
    for text, name, _, _ in string.Formatter().parse(AUTO_MEMO):
        if name == "origin":
            parts.append((text + AUTO_ORIGINS[origin], None))
        else:
            parts.append((text, name))
    return parts


def floor_to_timeframe(at: datetime, timeframe: str) -> datetime:
    """Start of the UTC candle of ``timeframe`` holding ``at`` (4h candles start at 0,4,…,20h)."""
    return candle_open(at, TIMEFRAMES.get(timeframe, 60))


def outcome_target(candle_time: datetime, period: str) -> datetime:
    """The minute whose 1m close is the outcome: floor_to_minute(candle_time + period)."""
    return floor_to_timeframe(candle_time + PERIODS[period], "1m")


def avg4(values: list[Decimal]) -> Decimal:
    """Mean rounded half-up to 4 decimals (0 for no values)."""
    if not values:
        return Decimal("0.0000")
    return (sum(values, Decimal(0)) / len(values)).quantize(Decimal("0.0001"), ROUND_HALF_UP)


def fmt8(value: Decimal | None) -> str | None:
    """At most 8 decimals, trailing zeros trimmed, never exponent notation ("0" for zero)."""
    if value is None:
        return None
    q = value.quantize(PNL_PLACES, ROUND_HALF_UP)
    text = format(q, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text

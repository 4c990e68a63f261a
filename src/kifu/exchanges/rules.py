"""Pure rules of exchange connections: masking, backoff, bubble candles."""

from __future__ import annotations

from datetime import datetime, timedelta

from kifu.kit.timeutil import TIMEFRAME_SECONDS, candle_open

MAX_BACKOFF = timedelta(hours=6)
DEFAULT_TIMEFRAME = "1h"


def last4(api_key: str) -> str:
    return api_key[-4:]


def mask(last: str) -> str:
    """What clients see of a key: ``****`` and its last four characters."""
    return "****" + last


def next_attempt(
    now: datetime,
    failures: int,
    interval: timedelta,
    retry_after: float | None = None,
) -> datetime | None:
    """When a credential whose last ``failures`` syncs in a row failed may be tried again:
    the poll interval doubled per failure after the first, at most 6 hours, and never before
    the end of a ban or rate-limit wait the exchange asked for. ``None``: no backoff."""
    if failures <= 0:
        return None
    delay = min(interval * 2 ** min(failures - 1, 20), MAX_BACKOFF)
    if retry_after is not None:
        delay = max(delay, timedelta(seconds=retry_after))
    return now + delay


def candle_time(at: datetime, timeframe: str) -> datetime:
    """``at`` floored to its candle in UTC (unknown timeframes floor to the hour)."""
    return candle_open(at, TIMEFRAME_SECONDS[bubble_timeframe(timeframe)])


def bubble_timeframe(timeframe: str | None) -> str:
    return timeframe if timeframe in TIMEFRAME_SECONDS else DEFAULT_TIMEFRAME

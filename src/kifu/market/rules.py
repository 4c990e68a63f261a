"""Pure market-data rules: which venue prices a symbol, candle arithmetic, Retry-After parsing."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import parsedate_to_datetime

from kifu.kit import venues
from kifu.kit.timeutil import TIMEFRAME_SECONDS, candle_open

# Candle intervals kifu charts and stores, in seconds.
INTERVALS = TIMEFRAME_SECONDS

# The market-data sources (``kifu.kit.venues``): each venue's ``market_data`` is one of these.
BINANCE_FUTURES = venues.BINANCE_FUTURES
BINANCE_SPOT = venues.BINANCE_SPOT
UPBIT = venues.UPBIT

# Quotes of Binance USDⓈ-M futures, and quotes only Binance spot lists (reference §4.5).
FUTURES_QUOTES = ("USDT", "USDC", "BUSD")
SPOT_ONLY_QUOTES = ("FDUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "TRY", "BRL")
# Quote markets Upbit runs (KRW-BTC, BTC-ETH, USDT-BTC).
UPBIT_QUOTES = ("KRW", "BTC", "USDT")

KLINE_SYMBOL = re.compile(r"^[A-Z0-9-]{3,20}$")
UPBIT_MARKET = re.compile(r"^[A-Z]{3,5}-[A-Z0-9]{1,12}$")
BINANCE_SYMBOL = re.compile(r"^[A-Z0-9]{2,20}$")
# The venues a klines request may name (``exchange=``): those with a market-data source.
EXCHANGES = venues.MARKET_CODES

# Most candles one request may ask for, per venue.
MAX_BATCH = {BINANCE_FUTURES: 1500, BINANCE_SPOT: 1000, UPBIT: 200}
# No fetched window holds more candles than this (a batch, plus the 5-minute lookback that earlier
# versions added to a full batch of 1m candles): lookups of the windows around a time need not
# look further back.
LONGEST_WINDOW = max(MAX_BATCH.values()) + 5


@dataclass(frozen=True)
class Source:
    """Where a symbol's prices come from: the venue and the venue's own symbol."""

    venue: str
    symbol: str
    # Futures symbols that the futures venue turns out not to list are priced from spot.
    spot_fallback: bool = False


@dataclass(frozen=True)
class Candle:
    open_time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


class Unsupported(ValueError):
    """The symbol has no price source (a stock, an unknown quote, a malformed name)."""


def _upbit_market(symbol: str, *, explicit: bool) -> str | None:
    if UPBIT_MARKET.fullmatch(symbol):
        return symbol
    if "/" in symbol:
        base, _, quote = symbol.partition("/")
        if quote in (UPBIT_QUOTES if explicit else ("KRW",)) and base.isalnum() and base:
            return f"{quote}-{base}"
        return None
    quotes = UPBIT_QUOTES if explicit else ("KRW",)
    for quote in quotes:
        base = symbol[: -len(quote)]
        if symbol.endswith(quote) and len(base) >= 2 and base.isalnum():
            return f"{quote}-{base}"
    return None


def _binance(symbol: str, *, spot_only: bool) -> Source | None:
    if not BINANCE_SYMBOL.fullmatch(symbol) or symbol.endswith("KRW"):
        return None
    if not spot_only:
        for quote in FUTURES_QUOTES:
            if symbol.endswith(quote) and len(symbol) > len(quote):
                return Source(BINANCE_FUTURES, symbol, spot_fallback=True)
    for quote in (*SPOT_ONLY_QUOTES, *FUTURES_QUOTES):
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return Source(BINANCE_SPOT, symbol)
    return None


def resolve(symbol: str, exchange: str | None = None) -> Source:
    """The price source of ``symbol``; ``exchange`` (binance/binance_spot/upbit) pins the venue.

    Never guesses another market: anything that is not a Binance or Upbit pair is ``Unsupported``.
    """
    s = symbol.strip().upper()
    source = venues.market_source((exchange or "").strip().lower())
    if source == UPBIT:
        market = _upbit_market(s, explicit=True)
        if market is None:
            raise Unsupported(f"{s} is not an Upbit market (use KRW-XXX)")
        return Source(UPBIT, market)
    if source in (BINANCE_FUTURES, BINANCE_SPOT):
        found = _binance(s, spot_only=source == BINANCE_SPOT)
        if found is None:
            raise Unsupported(f"{s} is not a Binance pair")
        return found
    market = _upbit_market(s, explicit=False)
    if market is not None:
        return Source(UPBIT, market)
    found = _binance(s, spot_only=False)
    if found is None:
        raise Unsupported(f"no price source for {s}: only Binance and Upbit crypto pairs")
    return found


def last_closed_open_time(now: datetime, seconds: int) -> datetime:
    """Open time of the newest candle that has closed at ``now``."""
    return candle_open(now, seconds) - timedelta(seconds=seconds)


Span = tuple[datetime, datetime]  # candle open times [first, last], both included


def _union(spans: Iterable[Span], step: timedelta) -> list[list[datetime]]:
    """Sorted disjoint spans holding the same candles (touching spans are joined)."""
    out: list[list[datetime]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1] + step:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return out


def missing_spans(needed: Iterable[Span], covered: Iterable[Span], step: timedelta) -> list[Span]:
    """The candles of ``needed`` that no span of ``covered`` holds, as sorted disjoint spans
    (open times on a grid of ``step``)."""
    have = _union(covered, step)
    gaps: list[Span] = []
    i = 0
    for a, b in _union(needed, step):
        while a <= b:
            while i < len(have) and have[i][1] < a:
                i += 1
            if i == len(have) or have[i][0] > b:
                gaps.append((a, b))
                break
            if have[i][0] > a:
                gaps.append((a, have[i][0] - step))
            a = have[i][1] + step
    return gaps


def plan_requests(gaps: Iterable[Span], step: timedelta, most: int) -> list[Span]:
    """The fewest requests of at most ``most`` candles that fetch every gap: each starts at the
    first candle still missing and ends at the last missing one it can reach (so a request may
    fetch again the few cached candles between two gaps, never a run of them at either end)."""
    reach = step * (most - 1)
    out: list[list[datetime]] = []
    for a, b in gaps:
        while a <= b:
            if not out or a > out[-1][0] + reach:
                out.append([a, a])
            out[-1][1] = min(b, out[-1][0] + reach)
            a = out[-1][1] + step
    return [(a, b) for a, b in out]


def uncached_parts(
    requests: Iterable[Span], covered: Sequence[Span], step: timedelta
) -> list[list[Span]]:
    """For each request, the parts of it that no span of ``covered`` holds: the candles of its
    answer not cached yet (a request may span cached candles between two gaps)."""
    return [missing_spans([r], covered, step) for r in requests]


def retry_after_seconds(value: str | None, now: datetime, default: int = 60) -> int:
    """``Retry-After`` as seconds: a number, or an HTTP date; ``default`` when absent or bad."""
    if not value or not value.strip():
        return default
    text = value.strip()
    if text.isascii() and text.isdigit() and len(text) <= 9:
        return max(int(text), 1)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return default
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(int((when - now).total_seconds()), 1)

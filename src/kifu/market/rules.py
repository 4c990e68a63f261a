"""Pure market-data rules: which venue prices a symbol, candle arithmetic, Retry-After parsing."""

from __future__ import annotations

import re
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

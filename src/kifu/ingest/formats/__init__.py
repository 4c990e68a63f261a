"""Export formats, one module each, recognised by their header (most specific first)."""

from __future__ import annotations

from kifu.ingest.formats.base import Format
from kifu.ingest.formats.binance_futures import BinanceFutures
from kifu.ingest.formats.binance_spot import BinanceSpot
from kifu.ingest.formats.generic import Generic
from kifu.ingest.formats.upbit import Upbit

FORMATS: tuple[Format, ...] = (BinanceFutures(), BinanceSpot(), Upbit(), Generic())


def detect(header: list[str]) -> Format:
    """The first format whose header matches; the generic format matches anything."""
    for fmt in FORMATS:
        if fmt.matches(header):
            return fmt
    return FORMATS[-1]

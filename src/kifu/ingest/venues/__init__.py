"""Exchange API clients, one module per venue behind the ``Venue`` interface (``base.py``)."""

from __future__ import annotations

from kifu.ingest.venues.base import Credentials, Venue, VenueUrls


def open_venue(exchange: str, creds: Credentials, urls: VenueUrls) -> Venue:
    """The client for ``exchange`` (one of ``EXCHANGES``)."""
    from kifu.ingest.venues.binance_futures import BinanceFutures
    from kifu.ingest.venues.binance_spot import BinanceSpot
    from kifu.ingest.venues.upbit import Upbit

    cls = {"binance_futures": BinanceFutures, "binance_spot": BinanceSpot, "upbit": Upbit}[exchange]
    return cls(creds, urls)


EXCHANGES = ("binance_futures", "binance_spot", "upbit")

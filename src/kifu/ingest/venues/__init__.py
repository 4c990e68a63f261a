"""Exchange API clients, one module per venue behind the ``Venue`` interface (``base.py``)."""

from __future__ import annotations

from kifu.ingest.venues.base import Credentials, Venue, VenueUrls


def clients() -> dict[str, type[Venue]]:
    """The client class of each venue kifu syncs, by venue code (``kifu.kit.venues``)."""
    from kifu.ingest.venues.binance_futures import BinanceFutures
    from kifu.ingest.venues.binance_spot import BinanceSpot
    from kifu.ingest.venues.upbit import Upbit

    return {cls.exchange: cls for cls in (BinanceFutures, BinanceSpot, Upbit)}


def open_venue(exchange: str, creds: Credentials, urls: VenueUrls) -> Venue:
    """The client for ``exchange`` (one of ``kifu.kit.venues.EXCHANGE_CODES``)."""
    return clients()[exchange](creds, urls)

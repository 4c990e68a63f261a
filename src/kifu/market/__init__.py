"""Market data: candles and prices from Binance and Upbit, cached in PostgreSQL.

Use ``open_market(settings)`` to get a ``MarketData`` for a unit of work (a request, a job run).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from kifu.config import Settings
from kifu.kit import http1
from kifu.market.client import (
    MarketData,
    MarketError,
    MarketUrls,
    MemoryCache,
    RateLimited,
    SymbolUnsupported,
    UpstreamFailed,
)

__all__ = [
    "MarketData",
    "MarketError",
    "MarketUrls",
    "MemoryCache",
    "RateLimited",
    "SymbolUnsupported",
    "UpstreamFailed",
    "http_client",
    "open_market",
]


def http_client() -> httpx.AsyncClient:
    """The HTTP client market data asks the venues with (``kifu.kit.http1``: a lean HTTP/1.1
    transport unless a proxy is configured)."""
    return http1.client(headers={"Accept": "application/json"})


@asynccontextmanager
async def open_market(
    settings: Settings, memory: MemoryCache | None = None
) -> AsyncIterator[MarketData]:
    """A ``MarketData`` with its own HTTP client, closed on exit."""
    async with http_client() as http:
        yield MarketData(MarketUrls.from_settings(settings), http, memory)

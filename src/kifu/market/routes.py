"""GET /api/v1/market/klines (public): chart candles from Binance or Upbit."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from kifu.kit.db import Conn
from kifu.kit.openapi import errors
from kifu.market import MemoryCache, open_market
from kifu.market.schemas import DEFAULT_LIMIT, Kline, KlinesQuery

router = APIRouter(prefix="/api/v1/market", tags=["market"])


def _memory(request: Request) -> MemoryCache:
    state = request.app.state
    if not hasattr(state, "market_memory"):
        state.market_memory = MemoryCache()
    return state.market_memory


def _plain(value: Any) -> str:
    return format(value, "f")


@router.get(
    "/klines",
    response_model=list[Kline],
    responses=errors((502, "EXCHANGE_REQUEST_FAILED")),
)
async def klines(
    request: Request, conn: Conn, q: Annotated[KlinesQuery, Query()]
) -> list[dict[str, Any]]:
    """Candles oldest first: ``[{time (open time, epoch seconds), open, high, low, close,
    volume}]``. Closed candles come from kifu's cache when it has them."""
    interval, limit = q.interval or "1h", q.limit or DEFAULT_LIMIT
    # market errors are domain errors: kit/errors maps them (INVALID_SYMBOL 400, 502 + Retry-After)
    async with open_market(request.app.state.settings, _memory(request)) as market:
        candles = await market.klines(conn, q.symbol, interval, limit, q.end_time, q.exchange)
    return [
        {
            "time": int(c.open_time.timestamp()),
            "open": _plain(c.open),
            "high": _plain(c.high),
            "low": _plain(c.low),
            "close": _plain(c.close),
            "volume": _plain(c.volume),
        }
        for c in candles
    ]

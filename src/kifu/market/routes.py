"""GET /api/v1/market/klines (public): chart candles from Binance or Upbit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from kifu.kit.db import Conn
from kifu.kit.errors import BadRequest
from kifu.market import MemoryCache, open_market
from kifu.market.rules import EXCHANGES, INTERVALS, KLINE_SYMBOL

router = APIRouter(prefix="/api/v1/market", tags=["market"])

DEFAULT_LIMIT = 500
MAX_LIMIT = 1500


def _memory(request: Request) -> MemoryCache:
    state = request.app.state
    if not hasattr(state, "market_memory"):
        state.market_memory = MemoryCache()
    return state.market_memory


def _plain(value: Any) -> str:
    return format(value, "f")


@router.get("/klines")
async def klines(
    request: Request,
    conn: Conn,
    symbol: Annotated[str | None, Query(description="BTCUSDT, ETHBTC, KRW-BTC, BTCKRW")] = None,
    interval: Annotated[str | None, Query(description="1m, 15m, 1h, 4h or 1d")] = None,
    limit: Annotated[str | None, Query(description="candles, default 500, at most 1500")] = None,
    end_time: Annotated[
        str | None, Query(alias="endTime", description="epoch milliseconds")
    ] = None,
    exchange: Annotated[str | None, Query(description="binance (default) or upbit")] = None,
) -> list[dict[str, Any]]:
    """Candles oldest first: ``[{time (open time, epoch seconds), open, high, low, close,
    volume}]``. Closed candles come from kifu's cache when it has them."""
    sym = (symbol or "").strip().upper()
    if not KLINE_SYMBOL.match(sym):
        raise BadRequest("INVALID_SYMBOL", "symbol: required, 3-20 of A-Z, 0-9 and '-'")
    iv = (interval or "1h").strip()
    if iv not in INTERVALS:
        raise BadRequest("INVALID_TIMEFRAME", f"interval: must be one of {', '.join(INTERVALS)}")
    count = DEFAULT_LIMIT
    if limit is not None and limit != "":
        if not limit.isdigit() or int(limit) == 0:
            raise BadRequest("INVALID_REQUEST", "limit: must be a positive whole number")
        count = min(int(limit), MAX_LIMIT)
    end: datetime | None = None
    if end_time:
        if not end_time.isdigit() or len(end_time) > 15:
            raise BadRequest("INVALID_REQUEST", "endTime: must be epoch milliseconds")
        end = datetime.fromtimestamp(int(end_time) / 1000, UTC)
    ex = (exchange or "").strip().lower() or None
    if ex is not None and ex not in EXCHANGES:
        raise BadRequest("INVALID_EXCHANGE", f"exchange: must be one of {', '.join(EXCHANGES)}")
    async with open_market(request.app.state.settings, _memory(request)) as market:
        candles = await market.klines(conn, sym, iv, count, end, ex)
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

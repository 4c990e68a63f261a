"""Query and response models of ``GET /market/klines``."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from kifu.kit.fields import (
    DecimalText,
    QueryModel,
    Refused,
    choice,
    coded,
    pattern_text,
    positive_int,
)
from kifu.market.rules import EXCHANGES, INTERVALS, KLINE_SYMBOL

DEFAULT_LIMIT = 500
MAX_LIMIT = 1500
_MILLIS = re.compile(r"[0-9]{1,15}")


def _epoch_millis(raw: Any) -> datetime | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str) or not _MILLIS.fullmatch(raw):
        raise Refused("must be epoch milliseconds")
    return datetime.fromtimestamp(int(raw) / 1000, UTC)


KlineSymbol = pattern_text(
    "INVALID_SYMBOL",
    KLINE_SYMBOL,
    "required, 3-20 of A-Z, 0-9 and '-'",
    case="upper",
    description="BTCUSDT, ETHBTC, KRW-BTC, BTCKRW",
)
Interval = choice(
    "INVALID_TIMEFRAME",
    tuple(INTERVALS),
    case=None,
    blank_is_none=True,
    description="1m, 15m, 1h (default), 4h or 1d",
)
EpochMillis = coded(
    "INVALID_REQUEST",
    _epoch_millis,
    base=datetime,
    nullable=True,
    description="epoch milliseconds: the newest candle to answer",
    json_schema={"format": None, "pattern": r"^[0-9]{1,15}$"},
)
MarketExchange = choice(
    "INVALID_EXCHANGE", EXCHANGES, blank_is_none=True, description="binance (default) or upbit"
)


class KlinesQuery(QueryModel):
    symbol: KlineSymbol
    interval: Interval | None = None
    limit: positive_int(at_most=MAX_LIMIT, description="default 500, at most 1500") | None = None
    end_time: EpochMillis | None = Field(default=None, alias="endTime")
    exchange: MarketExchange | None = None


class Kline(BaseModel):
    time: int = Field(description="open time, epoch seconds")
    open: DecimalText
    high: DecimalText
    low: DecimalText
    close: DecimalText
    volume: DecimalText

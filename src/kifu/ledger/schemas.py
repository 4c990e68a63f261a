"""Query and response models of the ledger's read API: trades and their summary, the portfolio
timeline and positions, instruments, backfill and rebuild."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, Field

from kifu.kit import venues
from kifu.kit.fields import (
    DecimalText,
    OmitNull,
    Timestamp,
    choice,
    positive_int,
    query_time,
)

# -- query types -----------------------------------------------------------------------------------

# trades.exchange holds the venue code of every fill (every source writes its trades row)
EXCHANGES = tuple(v.code for v in venues.VENUES)

Exchange = choice(
    "INVALID_EXCHANGE", EXCHANGES, blank_is_none=True, description="binance_futures, …"
)
Side = choice(
    "INVALID_REQUEST",
    ("BUY", "SELL"),
    case="upper",
    blank_is_none=True,
    reason="must be BUY or SELL",
)
PositionStatus = choice(
    "INVALID_REQUEST", ("open", "closed", "all"), reason="must be open, closed or all"
)
AssetClass = choice(
    "INVALID_REQUEST", ("crypto", "stock"), blank_is_none=True, reason="must be crypto or stock"
)
From = query_time(description="inclusive: RFC 3339 with a zone, or YYYY-MM-DD (UTC)")
To = query_time(end=True, description="inclusive: a full time, or a whole YYYY-MM-DD (UTC)")
Limit200 = positive_int(at_most=200, description="default 50, at most 200")
BackfillPage = positive_int(at_most=5000, description="rows read per page, default 1000")


# -- responses -------------------------------------------------------------------------------------


class Trade(OmitNull):
    # left out when null, as the reference did (kit.fields.OmitNull)
    omit_when_null = frozenset(
        {"bubble_id", "position_side", "open_close", "reduce_only", "realized_pnl"}
    )

    id: uuid.UUID
    bubble_id: uuid.UUID | None
    exchange: str
    symbol: str
    side: str
    position_side: str | None
    open_close: str | None
    reduce_only: bool | None
    quantity: DecimalText
    price: DecimalText
    realized_pnl: DecimalText | None
    trade_time: Timestamp
    binance_trade_id: int = Field(description="the exchange's id; negative for CSV imports")


class TradePage(BaseModel):
    page: int
    limit: int
    total: int
    items: list[Trade]


class TradeTotals(BaseModel):
    total_trades: int
    trade_count: int = Field(description="same as total_trades (both names are read)")
    buy_count: int
    sell_count: int
    total_volume: DecimalText | None = Field(
        description="Σ quantity × price in the one quote currency of these trades; null when"
        " they have several (KRW is never added to USDT), `0` when there are none"
    )
    total_volume_by_currency: dict[str, DecimalText] = Field(
        description="Σ quantity × price per quote currency (`?` for a symbol that cannot be read)"
    )
    realized_pnl_total: DecimalText = Field(
        description="Σ realized PnL, every quote currency added together (as the reference did)"
    )
    realized_pnl_by_currency: dict[str, DecimalText] = Field(
        description="Σ realized PnL per quote currency (`?` for a symbol that cannot be read)"
    )
    average_pnl: DecimalText = Field(description="mean over trades with a realized PnL")
    wins: int
    losses: int
    breakeven: int


# The group's key comes first, as the service writes it (fields of the last base come first).
class _Side(BaseModel):
    side: str


class _Symbol(BaseModel):
    symbol: str


class _Exchange(BaseModel):
    exchange: str


class SideTotals(TradeTotals, _Side):
    pass


class SymbolTotals(TradeTotals, _Symbol):
    pass


class ExchangeTotals(TradeTotals, _Exchange):
    pass


class TradeSummary(BaseModel):
    exchange: str = Field(description='the exchange filter, or `""` (as the reference sent it)')
    totals: TradeTotals
    by_side: list[SideTotals]
    by_symbol: list[SymbolTotals] = Field(description="the 20 most traded symbols")
    by_exchange: list[ExchangeTotals]


class TimelineEvent(OmitNull):
    # left out when null, as the reference did (kit.fields.OmitNull)
    omit_when_null = frozenset(
        {"account_label", "side", "qty", "price", "fee", "fee_asset", "external_id", "metadata"}
    )

    id: uuid.UUID
    executed_at: Timestamp
    asset_class: str
    venue_type: str
    venue: str | None
    venue_name: str | None
    account_label: str | None
    instrument: str | None
    event_type: str
    side: str | None
    qty: DecimalText | None
    price: DecimalText | None
    fee: DecimalText | None
    fee_asset: str | None
    source: str
    external_id: str | None
    metadata: dict[str, Any] | None


class Timeline(BaseModel):
    items: list[TimelineEvent]
    next_cursor: str | None = Field(description="set when the page is full; pass as `cursor`")


class Position(BaseModel):
    key: str = Field(description="venue|instrument|asset_class|account, unique per row")
    instrument: str | None
    venue: str | None
    venue_name: str | None
    account_label: str | None
    asset_class: str | None
    venue_type: str | None
    status: str
    net_qty: DecimalText
    avg_entry: DecimalText
    avg_exit: DecimalText | None
    buy_qty: DecimalText
    sell_qty: DecimalText
    buy_notional: DecimalText
    sell_notional: DecimalText
    last_executed_at: Timestamp | None
    opened_at: Timestamp | None
    closed_at: Timestamp | None
    quote_asset: str | None
    realized_pnl: DecimalText
    fees: DecimalText
    realized_pnl_usdt: DecimalText
    realized_pnl_krw: DecimalText
    fees_usdt: DecimalText
    fees_krw: DecimalText
    unconverted_fees: dict[str, DecimalText] = Field(
        description="fees in assets other than the quote, by asset"
    )
    event_count: int


class Positions(BaseModel):
    positions: list[Position]
    count: int


class BackfillEvents(BaseModel):
    processed: int
    created: int
    skipped: int
    positions_refreshed: bool
    positions_refresh_error: str | None


class Rebuilt(BaseModel):
    positions: int = Field(description="positions written")


class InstrumentMapping(BaseModel):
    venue: str
    venue_symbol: str


class Instrument(BaseModel):
    id: uuid.UUID
    asset_class: str
    base_asset: str
    quote_asset: str
    symbol: str
    mappings: list[InstrumentMapping]


class InstrumentPage(BaseModel):
    page: int
    limit: int
    total: int
    items: list[Instrument]

"""One sync batch, across capabilities: the ledger stores the fills (and their trades rows), the
journal puts an auto bubble on each new trade, accounts adds the traded symbols to the watch-list,
and the cursors move, all in one transaction."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from psycopg import AsyncConnection

from kifu.accounts import service as accounts
from kifu.exchanges import store
from kifu.exchanges.rules import bubble_timeframe
from kifu.ingest.venues.base import Cursor, VenueFill, VenueIncome
from kifu.journal import auto
from kifu.kit import venues
from kifu.ledger import writer
from kifu.ledger.service import NormalFill

ACCOUNT_LABEL = "api-sync"

# A fill or income entry staged for the ledger's writer as the pages arrive (``writer.stage``),
# numbered in the order the sync fetched it (row numbers only order a write's rows).
Entry = writer.Staged

_JSON = json.JSONEncoder(separators=(",", ":"))


def fill_entries(fills: list[VenueFill], first_row: int) -> list[Entry]:
    return [writer.stage((n, *_fill_entry(f))) for n, f in enumerate(fills, first_row)]


def income_entries(incomes: list[VenueIncome], first_row: int) -> list[Entry]:
    return [writer.stage((n, *_income_entry(i))) for n, i in enumerate(incomes, first_row)]


def _fill_entry(f: VenueFill) -> tuple[NormalFill, writer.TradeFields]:
    trade_id = uuid.uuid4()
    nf = NormalFill(
        venue=f.exchange,
        venue_type="cex",
        asset_class="crypto",
        base=f.base,
        quote=f.quote,
        venue_symbol=f.venue_symbol[:40],
        event_type=venues.get(f.exchange).event_type,
        side=f.side,
        qty=f.qty,
        price=f.price,
        fee=f.fee,
        fee_asset=f.fee_asset,
        executed_at=f.executed_at,
        external_id=f.external_id,
        metadata=_JSON.encode({"trade_id": str(trade_id), "exchange": f.exchange, **f.meta}),
    )
    trade = writer.TradeFields(
        ref=trade_id,
        number=f.trade_id,
        symbol=f.symbol,
        realized_pnl=f.realized_pnl,
        position_side=f.position_side,
        open_close=f.open_close,
        reduce_only=f.reduce_only,
    )
    return nf, trade


def _income_entry(i: VenueIncome) -> tuple[NormalFill, None]:
    """The contract summary packs read: a ``fee`` event, fee = −income (positive = paid),
    fee_asset = asset, metadata with the income type and Binance's own figures; keyed by
    ``<incomeType>:<tranId>`` so a re-sync never doubles it."""
    meta = {
        "income_type": i.income_type,
        "symbol": i.symbol,
        "asset": i.asset,
        "income": i.income_text,
        "tran_id": i.tran_id,
    }
    nf = NormalFill(
        venue=i.exchange,
        venue_type="cex",
        asset_class="crypto",
        base=i.base,
        quote=i.quote,
        venue_symbol=i.symbol[:40],
        event_type="fee",
        side=None,
        qty=None,
        price=None,
        fee=-i.income,
        fee_asset=i.asset[:20] or None,
        executed_at=i.executed_at,
        external_id=f"{i.income_type}:{i.tran_id}",
        metadata=_JSON.encode(meta),
    )
    return nf, None


@dataclass
class BatchResult:
    fills: int = 0
    incomes: int = 0
    events_inserted: int = 0
    fee_events_inserted: int = 0
    trades_inserted: int = 0


async def write_batch(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    exchange: str,
    fills: list[Entry],
    incomes: list[Entry],
    new_cursors: dict[str, Cursor],
    tfs: dict[str, str],
) -> BatchResult:
    """One batch (``fill_entries`` and ``income_entries`` of the pages merged into it), all or
    nothing: events (deduped by the ledger, with their trades rows), an
    auto bubble on each new trade (on the user's chart timeframe of its symbol), traded symbols
    on the watch-list, and the cursors."""
    res = BatchResult(fills=len(fills), incomes=len(incomes))
    async with conn.transaction():
        if fills or incomes:
            async with writer.open_write(
                conn, user_id, source="api", account_label=ACCOUNT_LABEL
            ) as w:
                await w.add_staged(fills + incomes)
                written = await w.finish(
                    bubble_rows=auto.for_new_trade_rows(
                        conn,
                        user_id,
                        "sync",
                        timeframes={s: bubble_timeframe(tf) for s, tf in tfs.items()},
                        default_timeframe=bubble_timeframe(None),
                        tags=[],
                    ),
                    catch_up=False,
                )
            res.events_inserted = written.inserted
            res.fee_events_inserted = written.fees_inserted
            res.trades_inserted = written.trades_created
            await accounts.watch_traded_symbols(conn, user_id, written.new_symbols)
        await store.save_cursors(conn, user_id, exchange, new_cursors)
    return res

"""Bubble use cases: create/list/update/delete, outcomes view, similar and search, trade links."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection

from kifu.accounts import service as accounts
from kifu.journal import auto, rules, store
from kifu.journal.schemas import BubbleCreate, BubbleUpdate
from kifu.kit import jsonsql, locks
from kifu.kit.answers import Asked, Computed
from kifu.kit.errors import BadRequest, NotFound
from kifu.kit.ids import parse_id
from kifu.kit.money import parse_decimal
from kifu.kit.pagination import Page, parse_positive_int
from kifu.kit.timeutil import parse_instant, rfc3339
from kifu.ledger import queries as ledger_queries
from kifu.ledger import service as ledger

BUBBLE_NOT_FOUND = "BUBBLE_NOT_FOUND"
TRADE_NOT_FOUND = "TRADE_NOT_FOUND"
MAX_BUBBLE_TRADES = 1000
CONVERT_DEFAULT_BATCH = 500
CONVERT_MAX_BATCH = 2000


def plain(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def bubble_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "symbol": row["symbol"],
        "timeframe": row["timeframe"],
        "candle_time": rfc3339(row["candle_time"]),
        "price": plain(row["price"]),
        "bubble_type": row["bubble_type"],
        "asset_class": row["asset_class"],
        "venue_name": row["venue_name"],
        "memo": row["memo"],
        "tags": list(row["tags"] or []),
        "created_at": rfc3339(row["created_at"]),
        "updated_at": rfc3339(row["updated_at"]),
    }


def _instant(raw: object, field: str) -> datetime:
    if not isinstance(raw, str) or not raw.strip():
        raise BadRequest("INVALID_REQUEST", f"{field}: required, an RFC 3339 time with a zone")
    return parse_instant(raw, field)


def _price(raw: object, field: str = "price") -> Decimal:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise BadRequest("INVALID_REQUEST", f"{field}: required")
    value = parse_decimal(raw, field)
    if value <= 0:
        raise BadRequest("INVALID_REQUEST", f"{field}: must be greater than 0")
    return value


async def own_bubble(conn: AsyncConnection, user_id: uuid.UUID, raw_id: str) -> dict[str, Any]:
    """The caller's bubble, or 404 (another user's bubble is indistinguishable from none)."""
    row = await store.get_bubble(conn, user_id, parse_id(raw_id))
    if row is None:
        raise NotFound(BUBBLE_NOT_FOUND, "bubble not found")
    return row


async def create_bubble(
    conn: AsyncConnection, user_id: uuid.UUID, body: BubbleCreate
) -> dict[str, Any]:
    values = {
        "symbol": rules.normalize_symbol(body.symbol),
        "timeframe": rules.normalize_timeframe(body.timeframe),
        "candle_time": _instant(body.candle_time, "candle_time"),
        "price": _price(body.price),
        "bubble_type": "manual",
        "asset_class": rules.normalize_label(
            body.asset_class, rules.ASSET_CLASS_LEN, "asset_class"
        ),
        "venue_name": rules.normalize_label(body.venue_name, rules.VENUE_NAME_LEN, "venue_name"),
        "memo": body.memo,
        "tags": rules.normalize_tags(body.tags),
    }
    return bubble_json(await store.insert_bubble(conn, user_id, values))


def bubble_filter(
    symbol: str | None, tags: str | None, start: str | None, end: str | None
) -> store.BubbleFilter:
    return store.BubbleFilter(
        symbol=rules.normalize_symbol(symbol) if symbol else None,
        tags=rules.split_tags(tags) or None,
        start=parse_instant(start, "from") if start else None,
        end=parse_instant(end, "to") if end else None,
    )


def parse_sort(raw: str | None) -> bool:
    """True for ascending."""
    value = (raw or "desc").strip().lower()
    if value not in ("asc", "desc"):
        raise BadRequest("INVALID_REQUEST", "sort: must be asc or desc")
    return value == "asc"


async def bubble_page_json(
    conn: AsyncConnection, user_id: uuid.UUID, f: store.BubbleFilter, ascending: bool, page: Page
) -> bytes:
    """A page of the filtered bubbles as finished JSON (``schemas.BubblePage``), the items by
    PostgreSQL."""
    total, items = await store.bubble_page_json(
        conn, user_id, f, ascending, page.limit, page.offset
    )
    return jsonsql.document(page=page.page, limit=page.limit, total=total, items=jsonsql.Raw(items))


async def bubble_page_answer(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    kept: Asked,
    *,
    f: store.BubbleFilter,
    ascending: bool,
    page: Page,
    now: datetime,
) -> bytes:
    """``bubble_page_json`` kept (``kit.answers``) until the user's bubbles change (their
    journal change stamp, read first): the Chart pages through every bubble on each visit."""
    key = ("bubbles", f.symbol, tuple(f.tags or ()), f.start, f.end, ascending, page)

    async def compute() -> Computed:
        return await bubble_page_json(conn, user_id, f, ascending, page), None

    return await kept.serve(conn, user_id, key, store.change_stamp, now, compute)


async def update_bubble(
    conn: AsyncConnection, user_id: uuid.UUID, raw_id: str, body: BubbleUpdate
) -> None:
    bubble = await own_bubble(conn, user_id, raw_id)
    given = body.model_fields_set
    changes: dict[str, Any] = {}
    if "memo" in given:
        changes["memo"] = body.memo
    if "tags" in given:
        changes["tags"] = rules.normalize_tags(body.tags)
    if "asset_class" in given:
        changes["asset_class"] = rules.normalize_label(
            body.asset_class, rules.ASSET_CLASS_LEN, "asset_class"
        )
    if "venue_name" in given:
        changes["venue_name"] = rules.normalize_label(
            body.venue_name, rules.VENUE_NAME_LEN, "venue_name"
        )
    if not await store.update_bubble(conn, user_id, bubble["id"], changes):
        raise NotFound(BUBBLE_NOT_FOUND, "bubble not found")


async def delete_bubble(conn: AsyncConnection, user_id: uuid.UUID, raw_id: str) -> None:
    if not await store.delete_bubble(conn, user_id, parse_id(raw_id)):
        raise NotFound(BUBBLE_NOT_FOUND, "bubble not found")


# -- outcomes, similar, search --------------------------------------------------------------------


async def bubble_outcomes(conn: AsyncConnection, user_id: uuid.UUID, raw_id: str) -> dict:
    bubble = await own_bubble(conn, user_id, raw_id)
    found = await store.outcomes_of(conn, bubble["id"])
    items = []
    for period in rules.PERIODS:
        row = found.get(period)
        items.append(
            {
                "period": period,
                "reference_price": plain(row["reference_price"] if row else bubble["price"]),
                "outcome_price": plain(row["outcome_price"]) if row else None,
                "pnl_percent": rules.fmt8(row["pnl_percent"]) if row else None,
            }
        )
    return {"outcomes": items}


def parse_period(raw: str | None) -> str:
    value = (raw or "1h").strip().lower()
    if value not in rules.PERIODS:
        raise BadRequest("INVALID_REQUEST", "period: must be 1h, 4h or 1d")
    return value


def _similar_item(row: dict[str, Any], period: str) -> dict[str, Any]:
    item = {
        "id": str(row["id"]),
        "symbol": row["symbol"],
        "timeframe": row["timeframe"],
        "candle_time": rfc3339(row["candle_time"]),
        "price": plain(row["price"]),
        "bubble_type": row["bubble_type"],
        "memo": row["memo"],
        "tags": list(row["tags"] or []),
    }
    if row["pnl_percent"] is not None:
        item["outcome"] = {"period": period, "pnl_percent": rules.fmt8(row["pnl_percent"])}
    return item


def _summary(period: str, pnls: list[Decimal]) -> dict[str, Any]:
    avg = None
    if pnls:
        avg = rules.fmt8(sum(pnls, Decimal(0)) / len(pnls))
    return {
        "period": period,
        "wins": sum(1 for p in pnls if p > 0),
        "losses": sum(1 for p in pnls if p < 0),
        "avg_pnl": avg,
    }


async def similar(
    conn: AsyncConnection, user_id: uuid.UUID, raw_id: str, period: str, page: Page
) -> dict[str, Any]:
    bubble = await own_bubble(conn, user_id, raw_id)
    tags = list(bubble["tags"] or [])
    if not tags:
        return {"similar_count": 0, "summary": _summary(period, []), "bubbles": []}
    rows, total, pnls = await store.tagged_with_outcomes(
        conn, user_id, bubble["symbol"], tags, period, bubble["id"], page.limit, page.offset
    )
    return {
        "similar_count": total,
        "summary": _summary(period, pnls),
        "bubbles": [_similar_item(r, period) for r in rows],
    }


async def search(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    symbol: str | None,
    tags: list[str],
    period: str,
    page: Page,
) -> dict[str, Any]:
    if not tags:
        return page.envelope([], 0) | {"summary": _summary(period, [])}
    rows, total, pnls = await store.tagged_with_outcomes(
        conn, user_id, symbol, tags, period, None, page.limit, page.offset
    )
    return page.envelope([_similar_item(r, period) for r in rows], total) | {
        "summary": _summary(period, pnls)
    }


# -- trades ---------------------------------------------------------------------------------------


def trade_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "bubble_id": str(row["bubble_id"]) if row["bubble_id"] else None,
        "exchange": row["exchange"],
        "symbol": row["symbol"],
        "side": row["side"],
        "quantity": plain(row["quantity"]),
        "price": plain(row["price"]),
        "realized_pnl": plain(row["realized_pnl"]),
        "trade_time": rfc3339(row["trade_time"]),
        "binance_trade_id": row["binance_trade_id"],
    }


async def _own_trade(conn: AsyncConnection, user_id: uuid.UUID, raw: object) -> uuid.UUID:
    trade_id = parse_id(raw, "trade_id")
    if await ledger_queries.trade_owner(conn, trade_id) != user_id:
        raise NotFound(TRADE_NOT_FOUND, "trade not found")
    return trade_id


async def link(conn: AsyncConnection, user_id: uuid.UUID, raw_trade: object, raw_bubble: object):
    trade_id = await _own_trade(conn, user_id, raw_trade)
    bubble_id = parse_id(raw_bubble, "bubble_id")
    if await store.get_bubble(conn, user_id, bubble_id) is None:
        raise NotFound(BUBBLE_NOT_FOUND, "bubble not found")
    if not await ledger.link_trade_bubbles(conn, user_id, [(trade_id, bubble_id)]):
        raise NotFound(TRADE_NOT_FOUND, "trade not found")
    return {"success": True, "trade_id": str(trade_id), "bubble_id": str(bubble_id)}


async def unlink(conn: AsyncConnection, user_id: uuid.UUID, raw_trade: object) -> dict:
    trade_id = await _own_trade(conn, user_id, raw_trade)
    if not await ledger.link_trade_bubbles(conn, user_id, [(trade_id, None)]):
        raise NotFound(TRADE_NOT_FOUND, "trade not found")
    return {"success": True, "trade_id": str(trade_id)}


async def bubble_trades(conn: AsyncConnection, user_id: uuid.UUID, raw_id: str) -> dict:
    bubble = await own_bubble(conn, user_id, raw_id)
    rows = await ledger_queries.trades_of_bubble(conn, user_id, bubble["id"], MAX_BUBBLE_TRADES)
    return {"trades": [trade_json(r) for r in rows]}


def auto_bubble_from_trade(
    row: dict[str, Any], timeframes: dict[str, str], default_timeframe: str
) -> auto.AutoBubble | None:
    """The bubble convert-bubbles makes for one trade, on the chart timeframe of its symbol in
    the user's watch-list (``timeframes``); None when the trade cannot have one."""
    price = row["price"]
    symbol = (row["symbol"] or "").strip().upper()
    if price is None or price <= 0 or not symbol:
        return None
    timeframe = timeframes.get(row["symbol"])
    if timeframe not in rules.TIMEFRAMES:
        timeframe = default_timeframe
    side = (row["side"] or "").strip().upper()
    tag = side.lower()
    return auto.auto_bubble(
        "convert",
        trade_id=row["id"],
        symbol=symbol[:20],
        side=side,
        price=price,
        price_text=plain(price),
        at=row["trade_time"],
        timeframe=timeframe,
        tags=[tag] if tag and rules.TAG_RE.fullmatch(tag) and len(tag) <= rules.MAX_TAG_LEN else [],
        venue_name=(row["exchange"] or "").strip().lower() or None,
    )


def parse_batch(raw: str | None) -> int:
    if raw is None or raw == "":
        return CONVERT_DEFAULT_BATCH
    return min(parse_positive_int(raw, "limit", CONVERT_DEFAULT_BATCH), CONVERT_MAX_BATCH)


async def convert_bubbles(
    conn: AsyncConnection, user_id: uuid.UUID, batch: int, default_timeframe: str
) -> dict[str, int]:
    """One auto bubble per unlinked trade. Walks the trades once by (trade_time, id), so it
    always ends, even when some trade cannot get a bubble (counted as skipped)."""
    created = skipped = 0
    after: tuple[datetime, uuid.UUID] | None = None
    timeframes = await accounts.symbol_timeframes(conn, user_id)
    while True:
        async with conn.transaction():
            rows = await ledger_queries.unlinked_trades(conn, user_id, after, batch)
            if not rows:
                break
            after = (rows[-1]["trade_time"], rows[-1]["id"])
            bubbles = []
            for row in rows:
                made = auto_bubble_from_trade(row, timeframes, default_timeframe)
                if made is None:
                    skipped += 1
                else:
                    bubbles.append(made)
            created += await auto.create(conn, user_id, bubbles)
        if len(rows) < batch:
            break
    return {"created": created, "skipped": skipped}


async def backfill_bubbles(conn: AsyncConnection, user_id: uuid.UUID) -> dict[str, int]:
    return {"updated": await store.backfill_bubbles(conn, user_id)}


EVENT_BUBBLE_BATCH = 5000


async def backfill_event_bubbles(conn: AsyncConnection, user_id: uuid.UUID) -> dict[str, int]:
    """Auto bubbles for imported and synced ledger fills (``POST /portfolio/backfill-bubbles``):
    one per chart symbol, hour and price without one (so the call is idempotent); a per-user
    advisory lock keeps two concurrent calls from both inserting."""
    created = 0
    async with conn.transaction():
        await locks.xact_lock(conn, "kifu.event_bubbles", user_id)
        while rows := await store.event_bubble_candidates(conn, user_id, EVENT_BUBBLE_BATCH):
            created += await auto.create(
                conn,
                user_id,
                [
                    auto.auto_bubble(
                        "events",
                        trade_id=None,
                        symbol=r["symbol"],
                        side=r["side"] or "",
                        price=r["price"],
                        at=r["executed_at"],
                        timeframe="1h",
                        tags=None if r["side"] is None else [r["side"]],
                        asset_class=r["asset_class"],
                        venue_name=r["venue_name"],
                    )
                    for r in rows
                ],
            )
    return {"created": created}

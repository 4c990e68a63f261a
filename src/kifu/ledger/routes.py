"""HTTP for the ledger: trades, trade summary, portfolio timeline and positions, instruments."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query

from kifu.kit import venues
from kifu.kit.auth import CurrentUser
from kifu.kit.db import Conn
from kifu.kit.errors import BadRequest
from kifu.kit.pagination import PageParams, decode_cursor, encode_cursor, parse_positive_int
from kifu.ledger import queries, service

router = APIRouter(prefix="/api/v1")

EXCHANGES = venues.EXCHANGE_CODES  # the values of trades.exchange
Q = Annotated[str | None, Query()]


def parse_query_time(value: str | None, name: str, *, end: bool = False) -> datetime | None:
    """RFC 3339 (any fraction) or ``YYYY-MM-DD`` (UTC). A date-only ``to`` covers that whole
    day; a full time as ``to`` is inclusive."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if len(text) == 10:
        try:
            day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError as exc:
            raise BadRequest("INVALID_REQUEST", f"{name}: {value!r} is not a date") from exc
        return day + timedelta(days=1) if end else day
    try:
        at = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError as exc:
        raise BadRequest("INVALID_REQUEST", f"{name}: {value!r} is not an RFC 3339 time") from exc
    if at.tzinfo is None:
        raise BadRequest("INVALID_REQUEST", f"{name}: {value!r} has no time zone")
    at = at.astimezone(UTC)
    return at + timedelta(microseconds=1) if end else at


def _list(value: str | None) -> list[str] | None:
    if not value:
        return None
    items = [v.strip().lower() for v in value.split(",") if v.strip()]
    return items or None


def _trade_filter(
    exchange: str | None, symbol: str | None, side: str | None, start: str | None, end: str | None
) -> queries.TradeFilter:
    if exchange:
        exchange = exchange.strip().lower()
        if exchange not in EXCHANGES:
            raise BadRequest("INVALID_EXCHANGE", f"exchange: must be one of {', '.join(EXCHANGES)}")
    if side:
        side = side.strip().upper()
        if side not in ("BUY", "SELL"):
            raise BadRequest("INVALID_REQUEST", "side: must be BUY or SELL")
    return queries.TradeFilter(
        exchange=exchange or None,
        symbol=(symbol or "").strip().upper() or None,
        side=side or None,
        start=parse_query_time(start, "from"),
        end=parse_query_time(end, "to", end=True),
    )


@router.get("/trades", tags=["trades"])
async def list_trades(
    user_id: CurrentUser,
    conn: Conn,
    page: PageParams,
    exchange: Q = None,
    symbol: Q = None,
    side: Q = None,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: Q = None,
    sort: Q = None,
) -> dict[str, Any]:
    """The user's trades, newest first (``sort=asc`` for oldest first), page/limit paginated."""
    f = _trade_filter(exchange, symbol, side, from_, to)
    items, total = await queries.list_trades(
        conn, user_id, f, ascending=sort == "asc", limit=page.limit, offset=page.offset
    )
    return page.envelope(items, total)


@router.get("/trades/summary", tags=["trades"])
async def trade_summary(
    user_id: CurrentUser,
    conn: Conn,
    exchange: Q = None,
    symbol: Q = None,
    side: Q = None,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: Q = None,
) -> dict[str, Any]:
    """Counts, volume (Σ quantity × price) and realized PnL over the filtered trades."""
    f = _trade_filter(exchange, symbol, side, from_, to)
    return await queries.trade_summary(conn, user_id, f)


@router.get("/portfolio/timeline", tags=["portfolio"])
async def timeline(
    user_id: CurrentUser,
    conn: Conn,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: Q = None,
    asset_class: Q = None,
    venue: Q = None,
    source: Q = None,
    event_type: Q = None,
    limit: Q = None,
    cursor: Q = None,
) -> dict[str, Any]:
    """Trade events newest first with a keyset cursor (``next_cursor`` when a page is full)."""
    n = min(parse_positive_int(limit, "limit", 50), 200)
    after = None
    if cursor:
        at_text, id_text = decode_cursor(cursor, 2)
        try:
            after = (
                datetime.fromisoformat(at_text.replace("Z", "+00:00")),
                uuid.UUID(id_text),
            )
        except ValueError as exc:
            raise BadRequest("INVALID_REQUEST", "cursor: not a valid cursor") from exc
        if after[0].tzinfo is None:
            raise BadRequest("INVALID_REQUEST", "cursor: not a valid cursor")
    f = queries.EventFilter(
        start=parse_query_time(from_, "from"),
        end=parse_query_time(to, "to", end=True),
        asset_classes=_list(asset_class),
        venues=_list(venue),
        sources=_list(source),
        event_types=_list(event_type),
    )
    items = await queries.timeline(conn, user_id, f, after=after, limit=n)
    next_cursor = None
    if len(items) == n:
        last = items[-1]
        next_cursor = encode_cursor(last["_at"].astimezone(UTC).isoformat(), last["id"])
    for item in items:
        del item["_at"]
    return {"items": items, "next_cursor": next_cursor}


@router.get("/portfolio/positions", tags=["portfolio"])
async def positions(
    user_id: CurrentUser,
    conn: Conn,
    status: Q = None,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: Q = None,
    asset_class: Q = None,
    venue: Q = None,
    limit: Q = None,
) -> dict[str, Any]:
    """FIFO positions per account and instrument, most recently traded first."""
    st = (status or "all").strip().lower()
    if st not in ("open", "closed", "all"):
        raise BadRequest("INVALID_REQUEST", "status: must be open, closed or all")
    items = await queries.positions(
        conn,
        user_id,
        status=st,
        start=parse_query_time(from_, "from"),
        end=parse_query_time(to, "to", end=True),
        asset_classes=_list(asset_class),
        venues=_list(venue),
        limit=min(parse_positive_int(limit, "limit", 50), 200),
    )
    return {"positions": items, "count": len(items)}


@router.post("/portfolio/backfill-events", tags=["portfolio"])
async def backfill_events(user_id: CurrentUser, conn: Conn, limit: Q = None) -> dict[str, Any]:
    """Create trade events from the legacy ``trades`` table (idempotent)."""
    page = min(parse_positive_int(limit, "limit", 1000), 5000)
    return await service.backfill_events(conn, user_id, page)


@router.post("/portfolio/rebuild-positions", tags=["portfolio"])
async def rebuild_positions(user_id: CurrentUser, conn: Conn) -> dict[str, Any]:
    """Full FIFO rebuild of the caller's positions (the import refreshes them itself)."""
    return {"positions": await service.rebuild_positions(conn, user_id)}


@router.get("/instruments", tags=["portfolio"])
async def instruments(
    user_id: CurrentUser, conn: Conn, page: PageParams, asset_class: Q = None
) -> dict[str, Any]:
    """Instruments the caller has trade events for, with each venue's own symbol."""
    ac = (asset_class or "").strip().lower() or None
    if ac and ac not in ("crypto", "stock"):
        raise BadRequest("INVALID_REQUEST", "asset_class: must be crypto or stock")
    items, total = await queries.instruments(
        conn, user_id, asset_class=ac, limit=page.limit, offset=page.offset
    )
    return page.envelope(items, total)

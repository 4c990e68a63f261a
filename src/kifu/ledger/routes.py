"""HTTP for the ledger: trades, trade summary, portfolio timeline and positions, instruments."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from kifu.kit import answers, jsonsql
from kifu.kit.answers import Computed
from kifu.kit.auth import CurrentUser
from kifu.kit.db import Conn
from kifu.kit.errors import BadRequest
from kifu.kit.jsonsql import RawJSON
from kifu.kit.pagination import PageParams, decode_cursor, encode_cursor
from kifu.kit.timeutil import utc_now
from kifu.ledger import queries, service
from kifu.ledger.schemas import (
    AssetClass,
    BackfillEvents,
    BackfillPage,
    Exchange,
    From,
    InstrumentPage,
    Limit200,
    Positions,
    PositionStatus,
    Rebuilt,
    Side,
    Timeline,
    To,
    TradePage,
    TradeSummary,
)

router = APIRouter(prefix="/api/v1")

Q = Annotated[str | None, Query()]
ExchangeQ = Annotated[Exchange | None, Query(description="binance_futures, binance_spot, upbit")]
SideQ = Annotated[Side | None, Query(description="BUY or SELL")]
FromQ = Annotated[From | None, Query(alias="from", description="RFC 3339 or YYYY-MM-DD")]
ToQ = Annotated[To | None, Query(description="RFC 3339 or YYYY-MM-DD, inclusive")]
ListQ = Annotated[str | None, Query(description="comma-separated values")]


def _list(value: str | None) -> list[str] | None:
    if not value:
        return None
    items = [v.strip().lower() for v in value.split(",") if v.strip()]
    return items or None


def _trade_filter(
    exchange: str | None,
    symbol: str | None,
    side: str | None,
    start: datetime | None,
    end: datetime | None,
) -> queries.TradeFilter:
    return queries.TradeFilter(
        exchange=exchange,
        symbol=(symbol or "").strip().upper() or None,
        side=side,
        start=start,
        end=end,
    )


async def _kept(
    request: Request,
    conn: Conn,
    user_id: uuid.UUID,
    key: tuple[Any, ...],
    compute: Callable[[], Awaitable[bytes]],
) -> RawJSON:
    """``compute()``'s answer, kept (``kit.answers``) under the user's ledger change stamp, read
    first: these reads fold the user's fills, trades, positions (caught up from the fills) and
    accounts, and the shared venues and instruments, all of which bump it. An answer read while
    changes wait to be caught up (``queries.behind``) is not kept. ``key``'s filters are
    dataclasses: their ``repr`` names every field."""
    now = utc_now()

    async def computed() -> Computed:
        body = await compute()
        return body, (now if await queries.behind(conn, user_id) else None)

    kept = answers.asked(request)
    return RawJSON(await kept.serve(conn, user_id, repr(key), queries.change_stamp, now, computed))


@router.get("/trades", response_model=TradePage, tags=["trades"])
async def list_trades(
    request: Request,
    user_id: CurrentUser,
    conn: Conn,
    page: PageParams,
    exchange: ExchangeQ = None,
    symbol: Q = None,
    side: SideQ = None,
    from_: FromQ = None,
    to: ToQ = None,
    sort: Annotated[str | None, Query(description="`asc` for oldest first")] = None,
) -> RawJSON:
    """The user's trades, newest first (``sort=asc`` for oldest first), page/limit paginated.
    Kept and served again until the caller's fills, trades or accounts change;
    ``Cache-Control: no-cache`` reads them anew."""
    f = _trade_filter(exchange, symbol, side, from_, to)
    ascending = sort == "asc"

    async def compute() -> bytes:
        total, items = await queries.trade_page_json(
            conn, user_id, f, ascending=ascending, limit=page.limit, offset=page.offset
        )
        return jsonsql.document(
            page=page.page, limit=page.limit, total=total, items=jsonsql.Raw(items)
        )

    return await _kept(request, conn, user_id, ("trades", f, ascending, page), compute)


@router.get("/trades/summary", response_model=TradeSummary, tags=["trades"])
async def trade_summary(
    request: Request,
    user_id: CurrentUser,
    conn: Conn,
    exchange: ExchangeQ = None,
    symbol: Q = None,
    side: SideQ = None,
    from_: FromQ = None,
    to: ToQ = None,
) -> RawJSON:
    """Counts, volume (Σ quantity × price) and realized PnL over the filtered trades. Kept and
    served again until the caller's fills, trades or accounts change; ``Cache-Control:
    no-cache`` reads them anew."""
    f = _trade_filter(exchange, symbol, side, from_, to)

    async def compute() -> bytes:
        return await queries.trade_summary_json(conn, user_id, f)

    return await _kept(request, conn, user_id, ("summary", f), compute)


@router.get("/portfolio/timeline", response_model=Timeline, tags=["portfolio"])
async def timeline(
    request: Request,
    user_id: CurrentUser,
    conn: Conn,
    from_: FromQ = None,
    to: ToQ = None,
    asset_class: ListQ = None,
    venue: ListQ = None,
    source: ListQ = None,
    event_type: ListQ = None,
    limit: Annotated[Limit200 | None, Query()] = None,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> RawJSON:
    """Trade events newest first with a keyset cursor (``next_cursor`` when a page is full).
    Kept and served again until the caller's fills, trades or accounts change;
    ``Cache-Control: no-cache`` reads them anew."""
    n = limit or 50
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
        start=from_,
        end=to,
        asset_classes=_list(asset_class),
        venues=_list(venue),
        sources=_list(source),
        event_types=_list(event_type),
    )

    async def compute() -> bytes:
        items, count, last = await queries.timeline_json(conn, user_id, f, after=after, limit=n)
        next_cursor = None
        if count == n and last is not None:
            next_cursor = encode_cursor(last[0].astimezone(UTC).isoformat(), str(last[1]))
        return jsonsql.document(items=jsonsql.Raw(items), next_cursor=next_cursor)

    return await _kept(request, conn, user_id, ("timeline", f, after, n), compute)


@router.get("/portfolio/positions", response_model=Positions, tags=["portfolio"])
async def positions(
    request: Request,
    user_id: CurrentUser,
    conn: Conn,
    status: Annotated[PositionStatus | None, Query(description="open, closed or all")] = None,
    from_: FromQ = None,
    to: ToQ = None,
    asset_class: ListQ = None,
    venue: ListQ = None,
    limit: Annotated[Limit200 | None, Query()] = None,
) -> RawJSON:
    """FIFO positions per account and instrument, most recently traded first. Kept and served
    again until the caller's fills, trades or accounts change; ``Cache-Control: no-cache``
    reads them anew."""
    args: dict[str, Any] = {
        "status": status or "all",
        "start": from_,
        "end": to,
        "asset_classes": _list(asset_class),
        "venues": _list(venue),
        "limit": limit or 50,
    }

    async def compute() -> bytes:
        items, count = await queries.positions_json(conn, user_id, **args)
        return jsonsql.document(positions=jsonsql.Raw(items), count=count)

    key = ("positions", *sorted(args.items()))
    return await _kept(request, conn, user_id, key, compute)


@router.post("/portfolio/backfill-events", response_model=BackfillEvents, tags=["portfolio"])
async def backfill_events(
    user_id: CurrentUser, conn: Conn, limit: Annotated[BackfillPage | None, Query()] = None
) -> dict[str, Any]:
    """Create trade events from the legacy ``trades`` table (idempotent)."""
    return await service.backfill_events(conn, user_id, limit or 1000)


@router.post("/portfolio/rebuild-positions", response_model=Rebuilt, tags=["portfolio"])
async def rebuild_positions(user_id: CurrentUser, conn: Conn) -> dict[str, Any]:
    """Full FIFO rebuild of the caller's positions (the import refreshes them itself)."""
    return {"positions": await service.rebuild_positions(conn, user_id)}


@router.get("/instruments", response_model=InstrumentPage, tags=["portfolio"])
async def instruments(
    user_id: CurrentUser,
    conn: Conn,
    page: PageParams,
    asset_class: Annotated[AssetClass | None, Query(description="crypto or stock")] = None,
) -> dict[str, Any]:
    """Instruments the caller has trade events for, with each venue's own symbol."""
    items, total = await queries.instruments(
        conn, user_id, asset_class=asset_class, limit=page.limit, offset=page.offset
    )
    return page.envelope(items, total)

"""HTTP for bubbles, their outcomes, similar/search, and trade links (thin: parse, call, shape)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from kifu.journal import export, notes, positions, rules, service
from kifu.journal.schemas import (
    BubbleCreate,
    BubbleUpdate,
    ManualPositionBody,
    NoteBody,
    TradeLink,
    TradeUnlink,
)
from kifu.kit.auth import CurrentUser
from kifu.kit.db import Conn
from kifu.kit.pagination import PageParams
from kifu.kit.timeutil import utc_now

router = APIRouter(prefix="/api/v1", tags=["bubbles"])

Q = Annotated[str | None, Query()]


@router.post("/bubbles")
async def create_bubble(body: BubbleCreate, user: CurrentUser, conn: Conn) -> dict[str, Any]:
    """Create a manual bubble (symbol, timeframe, candle_time, price; memo, tags, labels)."""
    return await service.create_bubble(conn, user, body)


@router.get("/bubbles")
async def list_bubbles(
    user: CurrentUser,
    conn: Conn,
    page: PageParams,
    symbol: Q = None,
    tags: Q = None,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: Q = None,
    sort: Q = None,
) -> dict[str, Any]:
    """The caller's bubbles by candle_time (``sort`` desc by default), ``{page, limit, total,
    items}``; ``tags`` matches any of the comma-separated tags."""
    f = service.bubble_filter(symbol, tags, from_, to)
    return await service.list_bubbles(conn, user, f, service.parse_sort(sort), page)


# Declared before /bubbles/{bubble_id} so the id route cannot capture it (reference bug §7.2 #1).
@router.get("/bubbles/search")
async def search_bubbles(
    user: CurrentUser,
    conn: Conn,
    page: PageParams,
    symbol: Q = None,
    tags: Q = None,
    period: Q = None,
) -> dict[str, Any]:
    """The caller's bubbles sharing any of ``tags`` (optionally of one ``symbol``), newest first,
    each with its outcome for ``period``."""
    sym = rules.normalize_symbol(symbol) if symbol else None
    return await service.search(
        conn, user, sym, rules.split_tags(tags), service.parse_period(period), page
    )


@router.get("/bubbles/{bubble_id}")
async def get_bubble(bubble_id: str, user: CurrentUser, conn: Conn) -> dict[str, Any]:
    return service.bubble_json(await service.own_bubble(conn, user, bubble_id))


@router.put("/bubbles/{bubble_id}")
async def update_bubble(
    bubble_id: str, body: BubbleUpdate, user: CurrentUser, conn: Conn
) -> dict[str, bool]:
    """Change memo, tags, asset_class or venue_name (absent fields stay as they are)."""
    await service.update_bubble(conn, user, bubble_id, body)
    return {"updated": True}


@router.delete("/bubbles/{bubble_id}")
async def delete_bubble(bubble_id: str, user: CurrentUser, conn: Conn) -> dict[str, bool]:
    await service.delete_bubble(conn, user, bubble_id)
    return {"deleted": True}


@router.get("/bubbles/{bubble_id}/outcomes")
async def bubble_outcomes(bubble_id: str, user: CurrentUser, conn: Conn) -> dict[str, Any]:
    """Always three entries (1h, 4h, 1d); prices and pnl null until computed."""
    return await service.bubble_outcomes(conn, user, bubble_id)


@router.get("/bubbles/{bubble_id}/similar")
async def similar_bubbles(
    bubble_id: str, user: CurrentUser, conn: Conn, page: PageParams, period: Q = None
) -> dict[str, Any]:
    """Other bubbles of the same symbol sharing a tag, with a win/loss summary for ``period``."""
    return await service.similar(conn, user, bubble_id, service.parse_period(period), page)


@router.get("/bubbles/{bubble_id}/trades")
async def bubble_trades(bubble_id: str, user: CurrentUser, conn: Conn) -> dict[str, Any]:
    return await service.bubble_trades(conn, user, bubble_id)


@router.post("/trades/link")
async def link_trade(body: TradeLink, user: CurrentUser, conn: Conn) -> dict[str, Any]:
    return await service.link(conn, user, body.trade_id, body.bubble_id)


@router.post("/trades/unlink")
async def unlink_trade(body: TradeUnlink, user: CurrentUser, conn: Conn) -> dict[str, Any]:
    return await service.unlink(conn, user, body.trade_id)


@router.post("/trades/convert-bubbles")
async def convert_bubbles(
    user: CurrentUser, conn: Conn, limit: Q = None, default_timeframe: Q = None
) -> dict[str, int]:
    """An auto bubble for every trade without one (batches of ``limit``, default 500, ≤2000)."""
    batch = service.parse_batch(limit)
    timeframe = rules.normalize_timeframe(default_timeframe or "1d", "default_timeframe")
    return await service.convert_bubbles(conn, user, batch, timeframe)


@router.post("/trades/backfill-bubbles")
async def backfill_bubbles(user: CurrentUser, conn: Conn) -> dict[str, int]:
    """Fill missing asset class, venue, memo and tags of bubbles linked to trades."""
    return await service.backfill_bubbles(conn, user)


@router.post("/portfolio/backfill-bubbles", tags=["portfolio"])
async def backfill_event_bubbles(user: CurrentUser, conn: Conn) -> dict[str, int]:
    """Create an auto bubble on the chart for every imported or synced fill that has none."""
    return await service.backfill_event_bubbles(conn, user)


@router.get("/bubbles/{bubble_id}/notes")
async def bubble_notes(bubble_id: str, user: CurrentUser, conn: Conn) -> dict[str, Any]:
    """The caller's notes on one of the caller's bubbles, newest first."""
    return await notes.of_bubble(conn, user, bubble_id)


# -- review notes ---------------------------------------------------------------------------------

AI_NOTES_KEEP = 200


@router.post("/notes", status_code=201, tags=["notes"])
async def create_note(body: NoteBody, user: CurrentUser, conn: Conn) -> dict[str, Any]:
    return await notes.create(conn, user, body, AI_NOTES_KEEP)


@router.get("/notes", tags=["notes"])
async def list_notes(user: CurrentUser, conn: Conn, page: Q = None, limit: Q = None) -> dict:
    """``{notes, total, page, limit, total_pages}``, newest first; limit default 20, ≤100."""
    return await notes.listing(conn, user, page, limit)


@router.get("/notes/{note_id}", tags=["notes"])
async def get_note(note_id: str, user: CurrentUser, conn: Conn) -> dict[str, Any]:
    return await notes.get(conn, user, note_id)


@router.put("/notes/{note_id}", tags=["notes"])
async def replace_note(note_id: str, body: NoteBody, user: CurrentUser, conn: Conn) -> dict:
    """Full replace: absent optional fields become null."""
    return await notes.replace(conn, user, note_id, body)


@router.delete("/notes/{note_id}", status_code=204, tags=["notes"])
async def delete_note(note_id: str, user: CurrentUser, conn: Conn) -> Response:
    await notes.delete(conn, user, note_id)
    return Response(status_code=204)


# -- manual positions -----------------------------------------------------------------------------


@router.get("/manual-positions", tags=["manual positions"])
async def list_positions(user: CurrentUser, conn: Conn, status: Q = None) -> dict[str, Any]:
    return await positions.listing(conn, user, status)


@router.post("/manual-positions", status_code=201, tags=["manual positions"])
async def create_position(body: ManualPositionBody, user: CurrentUser, conn: Conn) -> dict:
    return await positions.create(conn, user, body)


@router.put("/manual-positions/{position_id}", tags=["manual positions"])
async def update_position(
    position_id: str, body: ManualPositionBody, user: CurrentUser, conn: Conn
) -> dict[str, Any]:
    return await positions.update(conn, user, position_id, body)


@router.delete("/manual-positions/{position_id}", tags=["manual positions"])
async def delete_position(position_id: str, user: CurrentUser, conn: Conn) -> dict[str, bool]:
    await positions.delete(conn, user, position_id)
    return {"deleted": True}


# -- exports --------------------------------------------------------------------------------------


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


@router.get("/export/stats", tags=["export"])
async def export_stats(user: CurrentUser, conn: Conn, period: Q = None) -> Response:
    """CSV ``Category,Metric,Value``: overall, per period, per tag, per symbol."""
    body = await export.stats_csv(conn, user, period)
    name = f"kifu_stats_{utc_now():%Y-%m-%d}.csv"
    return Response(body, media_type="text/csv; charset=utf-8", headers=_attachment(name))


@router.get("/export/bubbles", tags=["export"])
async def export_bubbles(request: Request, user: CurrentUser) -> StreamingResponse:
    """Every bubble as CSV, newest candle first, streamed."""
    name = f"kifu_bubbles_{utc_now():%Y-%m-%d}.csv"
    return StreamingResponse(
        export.bubbles_csv(request.app.state.pool, user),
        media_type="text/csv; charset=utf-8",
        headers=_attachment(name),
    )

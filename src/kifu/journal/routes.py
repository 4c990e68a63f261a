"""HTTP for bubbles, their outcomes, similar/search, and trade links (thin: parse, call, shape)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from kifu.journal import export, notes, positions, rules, service
from kifu.journal.schemas import (
    Bubble,
    BubbleCreate,
    BubbleNotes,
    BubbleOutcomes,
    BubblePage,
    BubblesCreated,
    BubbleSearch,
    BubblesUpdated,
    BubbleSymbol,
    BubbleTrades,
    BubbleUpdate,
    Converted,
    Deleted,
    ExportPeriod,
    Linked,
    ManualPosition,
    ManualPositionBody,
    ManualPositionCreate,
    ManualPositions,
    Note,
    NoteBody,
    NotePage,
    Period,
    SimilarBubbles,
    Sort,
    Timeframe,
    TradeLink,
    TradeUnlink,
    Unlinked,
    Updated,
)
from kifu.kit import answers
from kifu.kit.auth import CurrentUser
from kifu.kit.csvout import attachment
from kifu.kit.db import Conn
from kifu.kit.fields import IdPath, choice, instant_text, positive_int
from kifu.kit.jsonsql import RawJSON
from kifu.kit.openapi import csv_download, errors
from kifu.kit.pagination import PageParams
from kifu.kit.timeutil import utc_now

router = APIRouter(prefix="/api/v1", tags=["bubbles"])

Tags = Annotated[str | None, Query(description="comma-separated tags; any of them matches")]
SymbolQ = Annotated[BubbleSymbol | None, Query()]
PeriodQ = Annotated[Period | None, Query(description="1h (default), 4h or 1d")]
TimeQ = Annotated[instant_text() | None, Query(description="RFC 3339 with a zone")]
PositionStatus = choice(
    "INVALID_REQUEST", ("open", "closed", "all"), reason="must be open, closed or all"
)
BUBBLE_404 = errors((404, service.BUBBLE_NOT_FOUND))
NOTE_404 = errors((404, notes.NOTE_NOT_FOUND))
POSITION_404 = errors((404, "NOT_FOUND"))


@router.post("/bubbles", response_model=Bubble)
async def create_bubble(body: BubbleCreate, user: CurrentUser, conn: Conn) -> dict[str, Any]:
    """Create a manual bubble (symbol, timeframe, candle_time, price; memo, tags, labels)."""
    return await service.create_bubble(conn, user, body)


@router.get("/bubbles", response_model=BubblePage)
async def list_bubbles(
    request: Request,
    user: CurrentUser,
    conn: Conn,
    page: PageParams,
    symbol: SymbolQ = None,
    tags: Tags = None,
    from_: Annotated[instant_text() | None, Query(alias="from")] = None,
    to: TimeQ = None,
    sort: Annotated[Sort | None, Query(description="desc (default) or asc")] = None,
) -> RawJSON:
    """The caller's bubbles by candle_time (``sort`` desc by default), ``{page, limit, total,
    items}``; ``tags`` matches any of the comma-separated tags. Kept and served again until the
    caller's bubbles or outcomes change; ``Cache-Control: no-cache`` reads them anew."""
    f = service.bubble_filter(symbol, tags, from_, to)
    body = await service.bubble_page_answer(
        conn,
        user,
        answers.asked(request),
        f=f,
        ascending=sort == "asc",
        page=page,
        now=utc_now(),
    )
    return RawJSON(body)


# Declared before /bubbles/{bubble_id} so the id route cannot capture it (reference bug §7.2 #1).
@router.get("/bubbles/search", response_model=BubbleSearch, response_model_exclude_unset=True)
async def search_bubbles(
    user: CurrentUser,
    conn: Conn,
    page: PageParams,
    symbol: SymbolQ = None,
    tags: Tags = None,
    period: PeriodQ = None,
) -> dict[str, Any]:
    """The caller's bubbles sharing any of ``tags`` (optionally of one ``symbol``), newest first,
    each with its outcome for ``period``."""
    return await service.search(conn, user, symbol, rules.split_tags(tags), period or "1h", page)


@router.get("/bubbles/{bubble_id}", response_model=Bubble, responses=BUBBLE_404)
async def get_bubble(bubble_id: IdPath, user: CurrentUser, conn: Conn) -> dict[str, Any]:
    return service.bubble_json(await service.own_bubble(conn, user, bubble_id))


@router.put("/bubbles/{bubble_id}", response_model=Updated, responses=BUBBLE_404)
async def update_bubble(
    bubble_id: IdPath, body: BubbleUpdate, user: CurrentUser, conn: Conn
) -> dict[str, bool]:
    """Change memo, tags, asset_class or venue_name (absent fields stay as they are)."""
    await service.update_bubble(conn, user, bubble_id, body)
    return {"updated": True}


@router.delete("/bubbles/{bubble_id}", response_model=Deleted, responses=BUBBLE_404)
async def delete_bubble(bubble_id: IdPath, user: CurrentUser, conn: Conn) -> dict[str, bool]:
    await service.delete_bubble(conn, user, bubble_id)
    return {"deleted": True}


@router.get("/bubbles/{bubble_id}/outcomes", response_model=BubbleOutcomes, responses=BUBBLE_404)
async def bubble_outcomes(bubble_id: IdPath, user: CurrentUser, conn: Conn) -> dict[str, Any]:
    """Always three entries (1h, 4h, 1d); prices and pnl null until computed."""
    return await service.bubble_outcomes(conn, user, bubble_id)


@router.get(
    "/bubbles/{bubble_id}/similar",
    response_model=SimilarBubbles,
    response_model_exclude_unset=True,
    responses=BUBBLE_404,
)
async def similar_bubbles(
    bubble_id: IdPath, user: CurrentUser, conn: Conn, page: PageParams, period: PeriodQ = None
) -> dict[str, Any]:
    """Other bubbles of the same symbol sharing a tag, with a win/loss summary for ``period``."""
    return await service.similar(conn, user, bubble_id, period or "1h", page)


@router.get("/bubbles/{bubble_id}/trades", response_model=BubbleTrades, responses=BUBBLE_404)
async def bubble_trades(bubble_id: IdPath, user: CurrentUser, conn: Conn) -> dict[str, Any]:
    return await service.bubble_trades(conn, user, bubble_id)


@router.post(
    "/trades/link",
    response_model=Linked,
    responses=errors((404, service.TRADE_NOT_FOUND, service.BUBBLE_NOT_FOUND)),
)
async def link_trade(body: TradeLink, user: CurrentUser, conn: Conn) -> dict[str, Any]:
    return await service.link(conn, user, body.trade_id, body.bubble_id)


@router.post(
    "/trades/unlink", response_model=Unlinked, responses=errors((404, service.TRADE_NOT_FOUND))
)
async def unlink_trade(body: TradeUnlink, user: CurrentUser, conn: Conn) -> dict[str, Any]:
    return await service.unlink(conn, user, body.trade_id)


@router.post("/trades/convert-bubbles", response_model=Converted)
async def convert_bubbles(
    user: CurrentUser,
    conn: Conn,
    limit: Annotated[
        positive_int(at_most=service.CONVERT_MAX_BATCH) | None,
        Query(description="batch size, default 500, at most 2000"),
    ] = None,
    default_timeframe: Annotated[
        Timeframe | None, Query(description="when the symbol has none saved; default 1d")
    ] = None,
) -> dict[str, int]:
    """An auto bubble for every trade without one (batches of ``limit``, default 500, ≤2000)."""
    batch = limit or service.CONVERT_DEFAULT_BATCH
    return await service.convert_bubbles(conn, user, batch, default_timeframe or "1d")


@router.post("/trades/backfill-bubbles", response_model=BubblesUpdated)
async def backfill_bubbles(user: CurrentUser, conn: Conn) -> dict[str, int]:
    """Fill missing asset class, venue, memo and tags of bubbles linked to trades."""
    return await service.backfill_bubbles(conn, user)


@router.post("/portfolio/backfill-bubbles", response_model=BubblesCreated, tags=["portfolio"])
async def backfill_event_bubbles(user: CurrentUser, conn: Conn) -> dict[str, int]:
    """Create an auto bubble on the chart for every imported or synced fill that has none."""
    return await service.backfill_event_bubbles(conn, user)


@router.get("/bubbles/{bubble_id}/notes", response_model=BubbleNotes, responses=BUBBLE_404)
async def bubble_notes(bubble_id: IdPath, user: CurrentUser, conn: Conn) -> dict[str, Any]:
    """The caller's notes on one of the caller's bubbles, newest first."""
    return await notes.of_bubble(conn, user, bubble_id)


# -- review notes ---------------------------------------------------------------------------------

AI_NOTES_KEEP = 200


@router.post(
    "/notes",
    status_code=201,
    response_model=Note,
    responses=errors((404, service.BUBBLE_NOT_FOUND)),
    tags=["notes"],
)
async def create_note(body: NoteBody, user: CurrentUser, conn: Conn) -> dict[str, Any]:
    return await notes.create(conn, user, body, AI_NOTES_KEEP)


@router.get("/notes", response_model=NotePage, tags=["notes"])
async def list_notes(
    request: Request,
    user: CurrentUser,
    conn: Conn,
    page: Annotated[positive_int() | None, Query(description="from 1")] = None,
    limit: Annotated[positive_int() | None, Query(description="default 20, at most 100")] = None,
) -> RawJSON:
    """``{notes, total, page, limit, total_pages}``, newest first; limit default 20, ≤100. Kept
    and served again until the caller's notes or bubbles change; ``Cache-Control: no-cache``
    reads them anew."""
    body = await notes.listing(
        conn,
        user,
        answers.asked(request),
        page_raw=str(page) if page else None,
        limit_raw=str(limit) if limit else None,
        now=utc_now(),
    )
    return RawJSON(body)


@router.get("/notes/{note_id}", response_model=Note, responses=NOTE_404, tags=["notes"])
async def get_note(note_id: IdPath, user: CurrentUser, conn: Conn) -> dict[str, Any]:
    return await notes.get(conn, user, note_id)


@router.put(
    "/notes/{note_id}",
    response_model=Note,
    responses=errors((404, notes.NOTE_NOT_FOUND, service.BUBBLE_NOT_FOUND)),
    tags=["notes"],
)
async def replace_note(note_id: IdPath, body: NoteBody, user: CurrentUser, conn: Conn) -> dict:
    """Full replace: absent optional fields become null."""
    return await notes.replace(conn, user, note_id, body)


@router.delete("/notes/{note_id}", status_code=204, responses=NOTE_404, tags=["notes"])
async def delete_note(note_id: IdPath, user: CurrentUser, conn: Conn) -> Response:
    await notes.delete(conn, user, note_id)
    return Response(status_code=204)


# -- manual positions -----------------------------------------------------------------------------


@router.get("/manual-positions", response_model=ManualPositions, tags=["manual positions"])
async def list_positions(
    request: Request,
    user: CurrentUser,
    conn: Conn,
    status: Annotated[PositionStatus | None, Query(description="open, closed or all")] = None,
) -> RawJSON:
    """The caller's positions, most recently changed first (at most 500). Kept and served
    again until the caller's journal changes."""
    return RawJSON(await positions.listing_answer(conn, user, answers.asked(request), status))


@router.post(
    "/manual-positions", status_code=201, response_model=ManualPosition, tags=["manual positions"]
)
async def create_position(body: ManualPositionCreate, user: CurrentUser, conn: Conn) -> dict:
    return await positions.create(conn, user, body)


@router.put(
    "/manual-positions/{position_id}",
    response_model=ManualPosition,
    responses=POSITION_404,
    tags=["manual positions"],
)
async def update_position(
    position_id: IdPath, body: ManualPositionBody, user: CurrentUser, conn: Conn
) -> dict[str, Any]:
    return await positions.update(conn, user, position_id, body)


@router.delete(
    "/manual-positions/{position_id}",
    response_model=Deleted,
    responses=POSITION_404,
    tags=["manual positions"],
)
async def delete_position(position_id: IdPath, user: CurrentUser, conn: Conn) -> dict[str, bool]:
    await positions.delete(conn, user, position_id)
    return {"deleted": True}


# -- exports --------------------------------------------------------------------------------------


@router.get(
    "/export/stats",
    response_class=Response,
    responses=csv_download("`kifu_stats_<date>.csv`: Category, Metric, Value"),
    tags=["export"],
)
async def export_stats(
    user: CurrentUser,
    conn: Conn,
    period: Annotated[ExportPeriod | None, Query(description="7d, 30d (default) or all")] = None,
) -> Response:
    """CSV ``Category,Metric,Value``: overall, per period, per tag, per symbol."""
    body = await export.stats_csv(conn, user, period)
    name = f"kifu_stats_{utc_now():%Y-%m-%d}.csv"
    return Response(body, media_type="text/csv; charset=utf-8", headers=attachment(name))


@router.get(
    "/export/bubbles",
    response_class=StreamingResponse,
    responses=csv_download("`kifu_bubbles_<date>.csv`, every bubble, newest candle first"),
    tags=["export"],
)
async def export_bubbles(request: Request, user: CurrentUser) -> StreamingResponse:
    """Every bubble as CSV, newest candle first, streamed."""
    name = f"kifu_bubbles_{utc_now():%Y-%m-%d}.csv"
    return StreamingResponse(
        export.bubbles_csv(request.app.state.pool, user),
        media_type="text/csv; charset=utf-8",
        headers=attachment(name),
    )

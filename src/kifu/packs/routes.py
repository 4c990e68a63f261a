"""Summary packs over HTTP (reference §2.15): generate, generate-latest, latest, one, list."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from kifu.kit.auth import CurrentUser
from kifu.kit.db import Conn
from kifu.kit.openapi import errors
from kifu.kit.pagination import PageParams
from kifu.packs import rules, service
from kifu.packs.schemas import (
    GenerateLatestRequest,
    GenerateLatestResponse,
    GenerateRequest,
    GenerateResponse,
    PackId,
    PackList,
    PackRange,
    SummaryPack,
    TimeZone,
)

router = APIRouter(prefix="/api/v1/packs", tags=["packs"])


def _default_tz(request: Request) -> str:
    return request.app.state.settings.default_tz


@router.post(
    "/generate",
    response_model=GenerateResponse,
    responses=errors((400, "RUN_NOT_COMPLETED"), (404, "RUN_NOT_FOUND")),
)
async def generate(
    body: GenerateRequest, request: Request, user_id: CurrentUser, conn: Conn
) -> dict[str, Any]:
    """Build a pack for one of the caller's completed runs (returns the existing pack when the
    content is unchanged)."""
    pack, created = await service.generate(
        conn, user_id, body.source_run_id, body.range, body.tz, _default_tz(request)
    )
    return {
        "pack_id": pack["pack_id"],
        "reconciliation_status": pack["reconciliation_status"],
        "content_hash": pack["content_hash"],
        "created": created,
    }


@router.post(
    "/generate-latest",
    response_model=GenerateLatestResponse,
    responses=errors((404, "NO_COMPLETED_RUN")),
)
async def generate_latest(
    body: GenerateLatestRequest, request: Request, user_id: CurrentUser, conn: Conn
) -> dict[str, Any]:
    """v1.1: build a pack for the caller's newest completed sync or import run."""
    pack, created, run = await service.generate_latest(
        conn, user_id, body.range, body.tz, _default_tz(request)
    )
    return {
        "pack_id": pack["pack_id"],
        "reconciliation_status": pack["reconciliation_status"],
        "content_hash": pack["content_hash"],
        "created": created,
        "source_run_id": run["run_id"],
        "anchor_ts": rules.ts_seconds(service.anchor_of(run)),
    }


@router.get(
    "/latest",
    response_model=SummaryPack,
    response_model_exclude_unset=True,
    responses=errors((404, "PACK_NOT_FOUND")),
)
async def latest(
    request: Request,
    user_id: CurrentUser,
    conn: Conn,
    range: Annotated[PackRange | None, Query(description="7d, 30d (default) or all")] = None,
    tz: Annotated[TimeZone | None, Query(description="only packs built for this time zone")] = None,
) -> dict[str, Any]:
    """The caller's newest pack for a range."""
    return await service.latest(conn, user_id, range, tz, _default_tz(request))


@router.get("", response_model=PackList, response_model_exclude_unset=True)
async def list_packs(user_id: CurrentUser, conn: Conn, page: PageParams) -> dict[str, Any]:
    """The caller's packs, newest first (page/limit, at most 200 per page)."""
    items, total = await service.list_packs(conn, user_id, page.limit, page.offset)
    return page.envelope(items, total)


@router.get(
    "/{pack_id}",
    response_model=SummaryPack,
    response_model_exclude_unset=True,
    responses=errors((404, "PACK_NOT_FOUND")),
)
async def get_pack(
    pack_id: Annotated[PackId, Path()], user_id: CurrentUser, conn: Conn
) -> dict[str, Any]:
    """One of the caller's packs, as it was stored."""
    return await service.get(conn, user_id, pack_id)

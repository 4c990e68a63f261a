"""HTTP for the AI capability (thin: parse, authorise, call, shape)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from kifu.ai import accuracy, keys, service
from kifu.ai.schemas import (
    AccuracyReport,
    BubbleAccuracy,
    Deleted,
    KeysResponse,
    KeysUpdate,
    OneShotRequest,
    OneShotResponse,
    OpinionRequest,
    OpinionsCreated,
    OpinionsList,
)
from kifu.config import Settings
from kifu.kit import answers
from kifu.kit.auth import CurrentUser
from kifu.kit.csvout import attachment
from kifu.kit.db import Conn
from kifu.kit.jsonsql import RawJSON
from kifu.kit.openapi import csv_download
from kifu.kit.timeutil import utc_now

router = APIRouter(prefix="/api/v1", tags=["ai"])

Q = Annotated[str | None, Query()]


def _settings(request: Request) -> Settings:
    return request.app.state.settings


@router.get("/users/me/ai-keys", response_model=KeysResponse, tags=["users"])
async def get_keys(user: CurrentUser, conn: Conn) -> dict[str, Any]:
    """Which providers have a personal key: ``masked`` is ``****`` and its last 4 characters."""
    return await keys.list_keys(conn, user)


@router.put("/users/me/ai-keys", response_model=KeysResponse, tags=["users"])
async def put_keys(
    body: KeysUpdate, request: Request, user: CurrentUser, conn: Conn
) -> dict[str, Any]:
    """Store personal keys ``{keys: [{provider, api_key}]}`` (encrypted; never shown again)."""
    return await keys.put_keys(conn, user, body, _settings(request))


@router.delete("/users/me/ai-keys/{provider}", response_model=Deleted, tags=["users"])
async def delete_key(provider: str, user: CurrentUser, conn: Conn) -> dict[str, bool]:
    await keys.delete_key(conn, user, provider)
    return {"deleted": True}


@router.post("/bubbles/{bubble_id}/ai-opinions", response_model=OpinionsCreated)
async def ask_opinions(
    bubble_id: str, body: OpinionRequest, request: Request, user: CurrentUser, conn: Conn
) -> dict[str, Any]:
    """Ask AI providers about a bubble (``{}`` = every enabled provider). Failures of single
    providers are listed in ``errors``; the answers are stored."""
    return await service.ask_opinions(conn, user, bubble_id, body, _settings(request))


@router.get("/bubbles/{bubble_id}/ai-opinions", response_model=OpinionsList)
async def list_opinions(bubble_id: str, user: CurrentUser, conn: Conn) -> dict[str, Any]:
    """The bubble's stored opinions, newest first."""
    return await service.list_opinions(conn, user, bubble_id)


@router.post("/ai/one-shot", response_model=OneShotResponse)
async def one_shot(
    body: OneShotRequest, request: Request, user: CurrentUser, conn: Conn
) -> dict[str, Any]:
    """Stateless advice (``prompt_type`` brief, detailed or technical) on a symbol and price with
    the caller's evidence text; not stored."""
    return await service.one_shot(conn, user, body, _settings(request))


@router.get("/review/accuracy", response_model=AccuracyReport, tags=["review"])
async def review_accuracy(
    request: Request,
    user: CurrentUser,
    conn: Conn,
    period: Q = None,
    outcome_period: Q = None,
    asset_class: Q = None,
    venue: Q = None,
) -> RawJSON:
    """How often each provider's opinions were right for ``outcome_period``, with verdict
    calibration and the no-AI baselines. Kept and served again until the caller's opinions,
    scores or bubbles change or a bubble leaves the period; ``Cache-Control: no-cache``
    computes it anew."""
    body = await accuracy.report_answer(
        conn, user, answers.asked(request), period, outcome_period, asset_class, venue, utc_now()
    )
    return RawJSON(body)


@router.get("/bubbles/{bubble_id}/accuracy", response_model=BubbleAccuracy)
async def bubble_accuracy(bubble_id: str, user: CurrentUser, conn: Conn) -> dict[str, Any]:
    """The scored opinions of one of the caller's bubbles, newest first."""
    return await accuracy.bubble_accuracy(conn, user, bubble_id)


@router.get(
    "/export/accuracy",
    response_class=Response,
    response_model=None,
    responses=csv_download("`kifu_ai_accuracy_<date>.csv`: one row per provider and model"),
    tags=["export"],
)
async def export_accuracy(
    user: CurrentUser, conn: Conn, period: Q = None, outcome_period: Q = None
) -> Response:
    body = await accuracy.export_csv(conn, user, period, outcome_period)
    name = f"kifu_ai_accuracy_{utc_now():%Y-%m-%d}.csv"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers=attachment(name),
    )

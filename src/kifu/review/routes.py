"""HTTP for review: statistics, calendar and trend (§2.9), the guided daily review (§2.14) and
the safety quick-check (§2.12). Thin: parse, call the service, shape the answer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from kifu.kit import answers
from kifu.kit.auth import CurrentUser
from kifu.kit.db import Conn
from kifu.kit.jsonsql import RawJSON
from kifu.kit.openapi import errors
from kifu.kit.timeutil import utc_now
from kifu.review import service
from kifu.review.schemas import (
    CalendarResponse,
    CompleteResponse,
    GuidedTodayResponse,
    OkResponse,
    SafetyReviewOut,
    SafetyReviewRequest,
    SafetyTodayResponse,
    StatsResponse,
    StreakOut,
    SubmitRequest,
    TrendResponse,
)

router = APIRouter(prefix="/api/v1")

Q = Annotated[str | None, Query()]
TZ = Annotated[
    str | None,
    Query(description="IANA time zone of the days (default KIFU_DEFAULT_TZ); unknown → 400"),
]


# The 400 and 404 codes each route's service raises (validation adds INVALID_REQUEST).
TZ_400 = (400, "INVALID_TIMEZONE")
DATE_400 = (400, "INVALID_TIMEZONE", "INVALID_DATE")


def _default_tz(request: Request) -> str:
    return request.app.state.settings.default_tz


@router.get(
    "/review/stats",
    response_model=StatsResponse,
    tags=["review"],
    responses=errors(TZ_400),
)
async def review_stats(
    request: Request,
    user: CurrentUser,
    conn: Conn,
    period: Annotated[str | None, Query(description="7d, 30d (default) or all")] = None,
    symbol: Q = None,
    tag: Q = None,
    asset_class: Q = None,
    venue: Q = None,
    timezone: TZ = None,
) -> RawJSON:
    """Outcome statistics of the caller's bubbles (1h outcomes overall, per tag and symbol; every
    period in ``by_period``) and, under ``trading``, the caller's own figures from the ledger
    per quote currency (formulas: ``kifu.review.rules``). Kept and served again until the
    caller's bubbles, outcomes or fills change or a bubble leaves the period;
    ``Cache-Control: no-cache`` computes it anew."""
    body = await service.stats(
        conn,
        user,
        answers.asked(request),
        period=period,
        symbol=symbol,
        tag=tag,
        asset_class=asset_class,
        venue=venue,
        timezone=timezone,
        default_tz=_default_tz(request),
        now=utc_now(),
    )
    return RawJSON(body)


@router.get(
    "/review/calendar",
    response_model=CalendarResponse,
    tags=["review"],
    responses=errors((400, "INVALID_TIMEZONE", "INVALID_DATE", "INVALID_RANGE")),
)
async def review_calendar(
    request: Request,
    user: CurrentUser,
    conn: Conn,
    from_: Annotated[str | None, Query(alias="from", description="YYYY-MM-DD")] = None,
    to: Annotated[str | None, Query(description="YYYY-MM-DD, at most a year after from")] = None,
    timezone: TZ = None,
) -> RawJSON:
    """Per local day with bubbles or fills: bubble counts and the 1h outcome sum, plus realized
    PnL, fees and funding per currency. Defaults: the month up to today. Kept and served again
    until the caller's bubbles, outcomes or fills change; ``Cache-Control: no-cache`` computes
    it anew."""
    return RawJSON(
        await service.calendar(
            conn,
            user,
            answers.asked(request),
            from_=from_,
            to=to,
            timezone=timezone,
            default_tz=_default_tz(request),
            now=utc_now(),
        )
    )


@router.get(
    "/review/trend",
    response_model=TrendResponse,
    tags=["review"],
    responses=errors(TZ_400),
)
async def review_trend(
    request: Request,
    user: CurrentUser,
    conn: Conn,
    period: Annotated[str | None, Query(description="7d, 30d (default) or all (365 days)")] = None,
    timezone: TZ = None,
) -> RawJSON:
    """One point per local day: the day's 1h outcome PnL of bubbles (by candle time), its
    running sum and win rate, and realized PnL per currency with its running sum. Kept and
    served again until the caller's bubbles, outcomes or fills change;
    ``Cache-Control: no-cache`` computes it anew."""
    body = await service.trend(
        conn,
        user,
        answers.asked(request),
        period=period,
        timezone=timezone,
        default_tz=_default_tz(request),
        now=utc_now(),
    )
    return RawJSON(body)


@router.get(
    "/guided-reviews/today",
    response_model=GuidedTodayResponse,
    tags=["guided review"],
    responses=errors(DATE_400, (404, "USER_NOT_FOUND")),
)
async def guided_today(
    request: Request,
    user: CurrentUser,
    conn: Conn,
    timezone: TZ = None,
    date: Annotated[str | None, Query(description="YYYY-MM-DD, default today")] = None,
) -> RawJSON:
    """The day's review and its items (created on first request). Kept and served again until
    the caller's fills or guided reviews change; ``Cache-Control: no-cache`` computes it
    anew."""
    body = await service.guided_today_answer(
        conn,
        user,
        answers.asked(request),
        timezone=timezone,
        day=date,
        default_tz=_default_tz(request),
        now=utc_now(),
    )
    return RawJSON(body)


@router.post(
    "/guided-reviews/items/{item_id}/submit",
    response_model=OkResponse,
    tags=["guided review"],
    responses=errors(
        (400, "INVALID_INTENT", "INVALID_EMOTION", "INVALID_PATTERN", "INVALID_MEMO"),
        (404, "NOT_FOUND"),
    ),
)
async def guided_submit(item_id: str, body: SubmitRequest, user: CurrentUser, conn: Conn) -> Any:
    """Answer one item: intent (required), emotions, pattern_match, memo (≤ 200 characters),
    from the documented vocabularies (the no-trade variants for the no-trade item)."""
    await service.submit(
        conn,
        user,
        item_id,
        intent=body.intent,
        emotions=body.emotions,
        pattern_match=body.pattern_match,
        memo=body.memo,
    )
    return {"ok": True}


@router.post(
    "/guided-reviews/{review_id}/complete",
    response_model=CompleteResponse,
    tags=["guided review"],
    responses=errors((404, "NOT_FOUND")),
)
async def guided_complete(review_id: str, user: CurrentUser, conn: Conn) -> Any:
    """Complete the review and update the streak."""
    return await service.complete(conn, user, review_id, utc_now())


@router.get("/guided-reviews/streak", response_model=StreakOut, tags=["guided review"])
async def guided_streak(request: Request, user: CurrentUser, conn: Conn) -> RawJSON:
    """The caller's streak (zeros before the first completed review). Kept and served again
    until a review is completed."""
    return RawJSON(await service.streak_answer(conn, user, answers.asked(request), utc_now()))


@router.get(
    "/safety/today",
    response_model=SafetyTodayResponse,
    tags=["safety"],
    responses=errors((400, "INVALID_TIMEZONE", "INVALID_DATE", "INVALID_ASSET_CLASS")),
)
async def safety_today(
    request: Request,
    user: CurrentUser,
    conn: Conn,
    timezone: TZ = None,
    date: Annotated[str | None, Query(description="YYYY-MM-DD, default today")] = None,
    asset_class: Annotated[str | None, Query(description="crypto or stock")] = None,
    venue: Q = None,
    only_pending: Q = None,
    limit: Annotated[str | None, Query(description="fills, default 20, at most 200")] = None,
) -> RawJSON:
    """The day's fills to label, split fills grouped (same venue, symbol and side within 90 s),
    newest first. Kept and served again until the caller's fills or labels change;
    ``Cache-Control: no-cache`` computes it anew."""
    now = utc_now()
    scope = service.safety_scope(
        timezone=timezone,
        day=date,
        default_tz=_default_tz(request),
        now=now,
        asset_class=asset_class,
        venue=venue,
        only_pending=only_pending,
        limit=limit,
    )
    body = await service.safety_today_answer(conn, user, answers.asked(request), scope, now)
    return RawJSON(body)


@router.post(
    "/safety/reviews",
    response_model=SafetyReviewOut,
    tags=["safety"],
    responses=errors((400, "INVALID_VERDICT", "INVALID_TARGET_TYPE"), (404, "NOT_FOUND")),
)
async def safety_review(body: SafetyReviewRequest, user: CurrentUser, conn: Conn) -> Any:
    """Label a fill ``intended``, ``mistake`` or ``unsure`` (re-posting updates it)."""
    return await service.upsert_safety_review(
        conn,
        user,
        target_type=body.target_type,
        target_id=body.target_id,
        verdict=body.verdict,
        note=body.note,
    )

"""HTTP for alerts: ``/api/v1/alert-rules*`` and ``/api/v1/alerts*`` (reference §2.11)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request

from kifu.alerts import service, store
from kifu.alerts.schemas import (
    CONFIG_MODELS,
    AlertDetail,
    AlertOut,
    AlertsResponse,
    BriefingOut,
    CheckState,
    DecisionOut,
    DecisionRequest,
    DeletedResponse,
    DismissResponse,
    OutcomeOut,
    OutcomesResponse,
    RuleCreate,
    RuleOut,
    RulesResponse,
    RuleUpdate,
    ToggleResponse,
)
from kifu.config import Settings
from kifu.kit import answers
from kifu.kit.auth import CurrentUser
from kifu.kit.db import Conn
from kifu.kit.jsonsql import RawJSON
from kifu.kit.money import dec_str
from kifu.kit.openapi import errors
from kifu.kit.pagination import parse_offset, parse_positive_int
from kifu.kit.timeutil import rfc3339
from kifu.market import MemoryCache

router = APIRouter(prefix="/api/v1", tags=["alerts"])

DEFAULT_LIMIT = 20
MAX_LIMIT = 200


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _memory(request: Request) -> MemoryCache:
    state = request.app.state
    if not hasattr(state, "market_memory"):
        state.market_memory = MemoryCache()
    return state.market_memory


def _ts(value: object) -> str:
    return rfc3339(value) or ""  # type: ignore[arg-type]


def _rule_out(r: store.RuleRow) -> RuleOut:
    return RuleOut(
        id=r.id,
        user_id=r.user_id,
        name=r.name,
        symbol=r.symbol,
        rule_type=r.rule_type,
        config=CONFIG_MODELS[r.rule_type].model_validate(r.config),  # type: ignore[arg-type]
        cooldown_minutes=r.cooldown_minutes,
        enabled=r.enabled,
        last_triggered_at=rfc3339(r.last_triggered_at),
        last_check_state=(
            CheckState.model_validate(r.last_check_state) if r.last_check_state else None
        ),
        created_at=_ts(r.created_at),
        updated_at=_ts(r.updated_at),
    )


def _alert_out(a: store.AlertRow) -> AlertOut:
    return AlertOut(
        id=a.id,
        user_id=a.user_id,
        rule_id=a.rule_id,
        symbol=a.symbol,
        trigger_price=dec_str(a.trigger_price) or "0",
        trigger_reason=a.trigger_reason,
        severity=a.severity,
        status=a.status,
        notified_at=rfc3339(a.notified_at),
        created_at=_ts(a.created_at),
    )


def _decision_out(d: store.DecisionRow) -> DecisionOut:
    return DecisionOut(
        id=d.id,
        alert_id=d.alert_id,
        user_id=d.user_id,
        action=d.action,
        memo=d.memo,
        confidence=d.confidence,
        executed_at=rfc3339(d.executed_at),
        created_at=_ts(d.created_at),
    )


def _outcome_out(o: store.OutcomeRow) -> OutcomeOut:
    return OutcomeOut(
        id=o.id,
        alert_id=o.alert_id,
        decision_id=o.decision_id,
        period=o.period,
        reference_price=dec_str(o.reference_price) or "0",
        outcome_price=dec_str(o.outcome_price) or "0",
        pnl_percent=dec_str(o.pnl_percent) or "0",
        calculated_at=_ts(o.calculated_at),
    )


# -- rules ---------------------------------------------------------------------------------------


@router.post(
    "/alert-rules",
    response_model=RuleOut,
    status_code=201,
    responses=errors((409, "ALERT_RULE_LIMIT")),
)
async def create_rule(
    body: RuleCreate, request: Request, conn: Conn, user_id: CurrentUser
) -> RuleOut:
    """Create a rule. ``config`` is checked for its ``rule_type`` (400 naming the field and the
    allowed values) and the symbol must be one a market kifu reads serves (400
    ``INVALID_SYMBOL``); a user keeps at most 200 rules (409 ``ALERT_RULE_LIMIT``)."""
    rule = await service.create_rule(
        conn,
        _settings(request),
        _memory(request),
        user_id,
        name=body.name,
        symbol=body.symbol,
        rule_type=body.rule_type,
        config=body.config,
        cooldown_minutes=body.cooldown_minutes,
        enabled=body.enabled,
    )
    return _rule_out(rule)


@router.get("/alert-rules", response_model=RulesResponse)
async def list_rules(request: Request, conn: Conn, user_id: CurrentUser) -> RawJSON:
    """The user's rules, newest first. Kept and served again until the caller's rules change
    (the monitor's checks included); ``Cache-Control: no-cache`` reads them anew."""
    return RawJSON(await service.rules_json(conn, user_id, answers.asked(request)))


@router.get("/alert-rules/{rule_id}", response_model=RuleOut)
async def get_rule(rule_id: uuid.UUID, conn: Conn, user_id: CurrentUser) -> RuleOut:
    return _rule_out(await service.get_rule(conn, user_id, rule_id))


@router.put("/alert-rules/{rule_id}", response_model=RuleOut)
async def update_rule(
    rule_id: uuid.UUID, body: RuleUpdate, request: Request, conn: Conn, user_id: CurrentUser
) -> RuleOut:
    """Change any of the rule's fields; type and config are validated together."""
    rule = await service.update_rule(
        conn,
        _settings(request),
        _memory(request),
        user_id,
        rule_id,
        body.model_dump(exclude_unset=True),
    )
    return _rule_out(rule)


@router.delete("/alert-rules/{rule_id}", response_model=DeletedResponse)
async def delete_rule(rule_id: uuid.UUID, conn: Conn, user_id: CurrentUser) -> DeletedResponse:
    """Delete a rule and its alerts."""
    await service.delete_rule(conn, user_id, rule_id)
    return DeletedResponse(deleted=True)


@router.patch("/alert-rules/{rule_id}/toggle", response_model=ToggleResponse)
async def toggle_rule(rule_id: uuid.UUID, conn: Conn, user_id: CurrentUser) -> ToggleResponse:
    """Flip ``enabled``."""
    return ToggleResponse(id=rule_id, enabled=await service.toggle_rule(conn, user_id, rule_id))


# -- alerts --------------------------------------------------------------------------------------


def _paging(limit: str | None, offset: str | None) -> tuple[int, int]:
    return min(parse_positive_int(limit, "limit", DEFAULT_LIMIT), MAX_LIMIT), parse_offset(offset)


@router.get("/alerts", response_model=AlertsResponse)
async def list_alerts(
    request: Request,
    conn: Conn,
    user_id: CurrentUser,
    status: Annotated[str | None, Query(description="pending, briefed, decided or expired")] = None,
    limit: Annotated[str | None, Query(description="default 20, at most 200")] = None,
    offset: Annotated[str | None, Query(description="default 0")] = None,
) -> RawJSON:
    """The user's alerts, newest first. Kept and served again until the caller's alerts
    change; ``Cache-Control: no-cache`` reads them anew."""
    lim, off = _paging(limit, offset)
    body = await service.alerts_page_json(
        conn,
        user_id,
        answers.asked(request),
        status=status or None,
        limit=lim,
        offset=off,
    )
    return RawJSON(body)


@router.get("/alerts/{alert_id}", response_model=AlertDetail)
async def get_alert(alert_id: uuid.UUID, conn: Conn, user_id: CurrentUser) -> AlertDetail:
    """An alert with its briefings, the decision (null until made) and its outcomes."""
    view = await service.alert_detail(conn, user_id, alert_id)
    return AlertDetail(
        alert=_alert_out(view.alert),
        briefings=[
            BriefingOut(
                id=b.id,
                alert_id=b.alert_id,
                provider=b.provider,
                model=b.model,
                prompt=b.prompt,
                response=b.response,
                tokens_used=b.tokens_used,
                created_at=_ts(b.created_at),
            )
            for b in view.briefings
        ],
        decision=_decision_out(view.decision) if view.decision else None,
        outcomes=[_outcome_out(o) for o in view.outcomes],
    )


@router.post("/alerts/{alert_id}/decision", response_model=DecisionOut, status_code=201)
async def decide(
    alert_id: uuid.UUID, body: DecisionRequest, conn: Conn, user_id: CurrentUser
) -> DecisionOut:
    """Record what the user did about the alert (once: a second decision is 409)."""
    made = await service.decide(conn, user_id, alert_id, body.action, body.memo, body.confidence)
    return _decision_out(made)


@router.patch("/alerts/{alert_id}/dismiss", response_model=DismissResponse)
async def dismiss(alert_id: uuid.UUID, conn: Conn, user_id: CurrentUser) -> DismissResponse:
    """Dismiss an open alert (it becomes ``expired``)."""
    await service.dismiss(conn, user_id, alert_id)
    return DismissResponse(dismissed=True)


@router.get("/alerts/{alert_id}/outcome", response_model=OutcomesResponse)
async def outcome(alert_id: uuid.UUID, conn: Conn, user_id: CurrentUser) -> OutcomesResponse:
    """The 1h/4h/1d outcomes of the decision, in period order."""
    rows = await service.outcomes(conn, user_id, alert_id)
    return OutcomesResponse(outcomes=[_outcome_out(o) for o in rows])

"""``POST /api/v1/admin/sim-report/run``: the demo simulation, for admins only (the reference
let any signed-in user run it and answered with the sandbox password, §7.2 #12)."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter, Request

from kifu.accounts.admin import AdminUser
from kifu.accounts.rules import is_well_formed_email, normalize_email
from kifu.demo import simulation
from kifu.demo.schemas import SimReportRequest, SimReportResponse
from kifu.kit.db import Conn
from kifu.kit.errors import BadRequest
from kifu.kit.openapi import errors

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


def result_json(r: simulation.SimResult) -> dict[str, Any]:
    return {
        "run_id": r.run_id,
        "seed": r.seed,
        "timezone": r.timezone,
        "start_date": r.start_date.isoformat(),
        "end_date": r.end_date.isoformat(),
        "days": r.days,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "totals": dataclasses.asdict(r.totals),
        "streak": r.streak,
        "effective_user": {
            "mode": "sandbox",
            "user_id": r.user_id,
            "email": r.email,
            "reset_performed": r.reset_performed,
        },
        "results": r.results,
        "warnings": r.warnings,
    }


@router.post(
    "/sim-report/run",
    response_model=SimReportResponse,
    responses=errors((403, "FORBIDDEN"), (409, "NOT_A_SANDBOX", "EMAIL_EXISTS")),
)
async def run_sim_report(
    body: SimReportRequest, request: Request, admin_id: AdminUser, conn: Conn
) -> dict[str, Any]:
    """Simulate ``days`` days of a trader's journal into a sandbox user (reset first by
    default): fills imported through the real CSV path, bubbles, simulated outcomes and AI
    opinions (provider ``simulated``) scored by the real accuracy job, guided reviews and the
    streak, safety labels, notes, a manual position, an alert rule and a summary pack.
    Admins only (403 ``FORBIDDEN`` otherwise). The password is never returned."""
    email = normalize_email(body.sandbox_email or f"sim.{admin_id.hex}@kifu.local")
    if not is_well_formed_email(email):
        raise BadRequest("INVALID_REQUEST", "sandbox_email: not a well-formed email address")
    req = simulation.SimRequest(
        days=body.days,
        end_date=body.start_date,
        timezone=body.timezone,
        no_trade_rate=body.no_trade_rate,
        seed=body.seed,
        include_notes=body.include_notes,
        include_alerts=body.include_alerts,
        email=email,
        password=body.sandbox_password,
        reset=body.sandbox_reset,
    )
    return result_json(await simulation.run(conn, request.app.state.settings, req))

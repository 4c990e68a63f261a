"""Request and response of ``POST /admin/sim-report/run`` (reference §2.18)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from kifu.accounts.schemas import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from kifu.demo.simulation import DEFAULT_DAYS, MAX_DAYS


class SimReportRequest(BaseModel):
    """Every field is optional. ``start_date`` is the END of the simulated range (the reference's
    name), yesterday in ``timezone`` by default so a seed gives the same journal all day (today
    is accepted: trips that would close after now are left out). Only ``target_mode``
    ``sandbox`` is accepted: simulated outcomes and opinions belong to a sandbox user only."""

    model_config = ConfigDict(extra="ignore")

    days: int = Field(default=DEFAULT_DAYS, ge=1, le=MAX_DAYS)
    start_date: date | None = None
    timezone: str = "UTC"
    no_trade_rate: float = Field(default=0.25, description="clamped to 0..0.95")
    seed: int | None = Field(default=None, ge=0, le=2**62)
    include_notes: bool = True
    include_alerts: bool = True
    include_ai_probe: bool = Field(default=False, description="ignored: no provider is called")
    target_mode: str = Field(default="sandbox", pattern="^sandbox$")
    sandbox_email: str | None = Field(
        default=None, description="default sim.<your id without dashes>@kifu.local"
    )
    sandbox_password: str | None = Field(
        default=None,
        min_length=MIN_PASSWORD_LENGTH,
        max_length=MAX_PASSWORD_LENGTH,
        description="the sandbox user's password; never echoed. Without it nobody can log in.",
    )
    sandbox_reset: bool = True


class Totals(BaseModel):
    trades_created: int
    bubbles_created: int
    outcomes_created: int
    ai_opinions_created: int
    accuracy_rows: int
    ai_notes_created: int
    trade_events_created: int
    trade_events_skipped: int
    stock_events_created: int
    review_days_touched: int
    review_days_complete: int
    items_total: int
    items_submitted: int
    no_trade_days: int
    notes_created: int
    manual_positions_created: int
    user_symbols_updated: int
    alert_rules_created: int
    safety_reviews_created: int
    summary_packs_created: int
    ai_probe_pass: int
    ai_probe_fail: int


class Streak(BaseModel):
    current: int
    longest: int
    last_review_day: str | None = None


class EffectiveUser(BaseModel):
    """Who the journal was written for. There is no ``password`` field: it is never returned."""

    mode: str
    user_id: uuid.UUID
    email: str
    reset_performed: bool


class Step(BaseModel):
    step: str
    ok: bool
    message: str | None = None


class DayResult(BaseModel):
    date: str
    no_trade_day: bool
    trades_created: int
    bubbles_created: int
    review_id: str | None = None
    review_status: str | None = None
    items: int
    submitted: int
    completed: bool
    symbols: list[str] = []
    steps: list[Step] = []
    error: str | None = None


class SimReportResponse(BaseModel):
    run_id: uuid.UUID
    seed: int
    timezone: str
    start_date: str
    end_date: str
    days: int
    started_at: datetime
    finished_at: datetime
    totals: Totals
    streak: Streak
    effective_user: EffectiveUser
    results: list[DayResult]
    warnings: list[str] = []

"""Request and response models of the review API (reference §2.9, §2.12, §2.14 field names).

Money is a decimal string; the reference's rates, percentages and counts are JSON numbers (the
client calls ``.toFixed`` on them); lists are arrays and maps are objects, never null. Keys the
reference does not have (breakeven counts, the ledger figures under ``trading``, ``realized_pnl``
and friends) are extra: the client ignores them.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from kifu.kit.fields import OmitNull

Money = str  # canonical decimal text (kifu.kit.money.dec_str)
ByCcy = dict[str, Money]


class Body(BaseModel):
    """Request bodies: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


# -- statistics ----------------------------------------------------------------------------------


class OutcomeGroup(BaseModel):
    count: int = Field(description="outcomes in the group")
    win_rate: float = Field(description="wins / outcomes × 100")
    avg_pnl: str = Field(description="mean pnl_percent, 4 places")
    wins: int
    losses: int
    breakeven: int


class Overall(BaseModel):
    win_rate: float
    avg_pnl: str
    total_pnl: str
    max_gain: str
    max_loss: str
    count: int
    wins: int
    losses: int
    breakeven: int


class CurrencyFigures(BaseModel):
    """The trader's own figures in one quote currency (formulas: ``kifu.review.rules``)."""

    realized_pnl: Money
    closed_trips: int
    wins: int
    losses: int
    breakeven: int
    win_rate: float
    gross_profit: Money
    gross_loss: Money
    avg_win: Money | None
    avg_loss: Money | None
    profit_factor: str | None
    expectancy: Money | None
    largest_win: Money | None
    largest_loss: Money | None
    max_drawdown: Money
    longest_win_streak: int
    longest_loss_streak: int
    by_weekday: ByCcy = Field(description="realized PnL by local weekday, '0' = Monday")
    by_hour: ByCcy = Field(description="realized PnL by local hour of day, '0'..'23'")


class Trading(BaseModel):
    from_: str | None = Field(
        validation_alias=AliasChoices("from", "from_"),
        serialization_alias="from",
        description="first local day",
    )
    to: str = Field(description="last local day")
    timezone: str
    realized_pnl: ByCcy
    fees: ByCcy
    funding: ByCcy
    fills: int
    by_currency: dict[str, CurrencyFigures]


class StatsResponse(BaseModel):
    period: str
    timezone: str
    total_bubbles: int
    bubbles_with_outcome: int
    overall: Overall
    by_period: dict[str, OutcomeGroup]
    by_tag: dict[str, OutcomeGroup]
    by_symbol: dict[str, OutcomeGroup]
    trading: Trading


class CalendarDay(BaseModel):
    bubble_count: int
    win_count: int
    loss_count: int
    breakeven_count: int
    outcome_count: int
    total_pnl: str = Field(description="Σ 1h outcome pnl_percent, 4 places")
    realized_pnl: ByCcy
    fees: ByCcy
    funding: ByCcy
    fills: int


class CalendarResponse(BaseModel):
    # "from" on the wire; "from_" is how the service names it
    from_: str = Field(validation_alias=AliasChoices("from", "from_"), serialization_alias="from")
    to: str
    timezone: str
    days: dict[str, CalendarDay]


class TrendPoint(BaseModel):
    date: str
    pnl: float
    cumulative_pnl: float
    win_rate: float
    bubble_count: int
    outcome_count: int
    realized_pnl: ByCcy
    cumulative_realized_pnl: ByCcy


class TrendResponse(BaseModel):
    period: str
    timezone: str
    data: list[TrendPoint]


# -- guided review --------------------------------------------------------------------------------


class GuidedReviewOut(OmitNull):
    # left out when null, as the reference did (kit.fields.OmitNull)
    omit_when_null = frozenset({"completed_at"})

    id: str
    user_id: str
    review_date: str
    status: str
    completed_at: str | None
    created_at: str


class GuidedItemOut(OmitNull):
    # left out when null, as the reference did (kit.fields.OmitNull)
    omit_when_null = frozenset(
        {"trade_id", "bundle_key", "side", "pnl", "intent", "pattern_match", "memo"}
    )

    id: str
    review_id: str
    trade_id: str | None
    bundle_key: str | None
    symbol: str
    side: str | None
    pnl: float | None
    trade_count: int
    intent: str | None
    emotions: list[str]
    pattern_match: str | None
    memo: str | None
    order_index: int
    created_at: str


class GuidedTodayResponse(BaseModel):
    review: GuidedReviewOut
    items: list[GuidedItemOut]


class SubmitRequest(Body):
    intent: Annotated[str, Field(max_length=50)] | None = None
    emotions: Annotated[list[Annotated[str, Field(max_length=50)]], Field(max_length=20)] | None = (
        None
    )
    pattern_match: Annotated[str, Field(max_length=50)] | None = None
    memo: Annotated[str, Field(max_length=5_000)] | None = None


class OkResponse(BaseModel):
    ok: bool


class StreakOut(OmitNull):
    # left out when null, as the reference did (kit.fields.OmitNull)
    omit_when_null = frozenset({"last_review_date"})

    user_id: str
    current_streak: int
    longest_streak: int
    last_review_date: str | None
    updated_at: str


class CompleteResponse(BaseModel):
    ok: bool
    streak: StreakOut


# -- safety quick-check ---------------------------------------------------------------------------


class MemberTarget(OmitNull):
    # left out when null, as the reference did (kit.fields.OmitNull)
    omit_when_null = frozenset({"verdict"})

    target_type: str
    target_id: str
    reviewed: bool
    verdict: str | None


class SafetyItemOut(OmitNull):
    # left out when null, as the reference did (kit.fields.OmitNull)
    omit_when_null = frozenset({"qty", "price", "verdict", "note", "reviewed_at"})

    target_type: str
    target_id: str
    executed_at: str
    asset_class: str
    venue: str
    venue_name: str
    symbol: str
    side: str
    qty: Money | None
    price: Money | None
    source: str
    reviewed: bool
    verdict: str | None
    note: str | None
    reviewed_at: str | None
    group_size: int
    member_targets: list[MemberTarget]


class SafetyTodayResponse(BaseModel):
    date: str
    timezone: str
    total: int
    reviewed: int
    pending: int
    items: list[SafetyItemOut]


class SafetyReviewRequest(Body):
    target_type: str = Field(max_length=50)
    target_id: str = Field(max_length=100)
    verdict: str = Field(max_length=50)
    note: Annotated[str, Field(max_length=5_000)] | None = None


class SafetyReviewOut(OmitNull):
    # left out when null, as the reference did (kit.fields.OmitNull)
    omit_when_null = frozenset({"note"})

    id: str
    target_type: str
    target_id: str
    verdict: str
    note: str | None
    created_at: str
    updated_at: str

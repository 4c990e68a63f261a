"""Request and response models of the alerts API (reference §2.11 field names).

Prices travel as decimal strings; lists (``rules``, ``alerts``, ``briefings``, ``outcomes``) are
always arrays.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kifu.kit.fields import DecimalText, OmitNull, Timestamp


class Body(BaseModel):
    """Request bodies. Unknown fields are ignored, as the reference did: the KIFU client sends
    whole rule objects back on PUT (id, timestamps, state)."""

    model_config = ConfigDict(extra="ignore")


class RuleCreate(Body):
    name: str = Field(min_length=1, max_length=100)
    symbol: str = Field(min_length=1, max_length=20, description="BTCUSDT, ETHBTC, KRW-BTC…")
    rule_type: str = Field(description="price_change, price_level, ma_cross or volatility_spike")
    config: dict[str, Any] = Field(
        description="price_change {direction: drop|rise|both, threshold_type: absolute|percent,"
        " threshold_value, reference: 1h|4h|24h}; price_level {price, direction:"
        " above|below|gte|lte}; ma_cross {ma_period, ma_timeframe, direction: above|below};"
        " volatility_spike {timeframe, multiplier}"
    )
    cooldown_minutes: int | None = Field(default=None, description="default 60, 1 to 10080")
    enabled: bool | None = None


class RuleUpdate(Body):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    symbol: str | None = Field(default=None, min_length=1, max_length=20)
    rule_type: str | None = None
    config: dict[str, Any] | None = None
    cooldown_minutes: int | None = None
    enabled: bool | None = None


class PriceChangeConfig(BaseModel):
    direction: str = Field(description="drop, rise or both")
    threshold_type: str = Field(description="absolute or percent")
    threshold_value: DecimalText = Field(description="positive decimal")
    reference: str = Field(description="1h, 4h or 24h")


class PriceLevelConfig(BaseModel):
    price: DecimalText = Field(description="positive decimal")
    direction: str = Field(description="above, below (crossings), gte or lte (levels)")


class MaCrossConfig(BaseModel):
    ma_period: int
    ma_timeframe: str = Field(description="1m, 15m, 1h, 4h or 1d")
    direction: str = Field(description="above or below")


class VolatilitySpikeConfig(BaseModel):
    timeframe: str = Field(description="1m, 15m, 1h, 4h or 1d")
    multiplier: DecimalText = Field(
        description="positive decimal k: fires at range >= mean + k·sigma"
    )


RuleConfig = PriceChangeConfig | PriceLevelConfig | MaCrossConfig | VolatilitySpikeConfig
CONFIG_MODELS: dict[str, type[BaseModel]] = {
    "price_change": PriceChangeConfig,
    "price_level": PriceLevelConfig,
    "ma_cross": MaCrossConfig,
    "volatility_spike": VolatilitySpikeConfig,
}


class CheckState(BaseModel):
    """What the monitor remembers between ticks (crossing rules)."""

    last_price: DecimalText | None = None
    was_above_level: bool | None = None
    was_above_ma: bool | None = None


class RuleOut(OmitNull):
    # left out when null, as the reference did (kit.fields.OmitNull)
    omit_when_null = frozenset({"last_triggered_at", "last_check_state"})

    id: uuid.UUID
    user_id: uuid.UUID
    name: str
    symbol: str
    rule_type: str
    config: RuleConfig
    cooldown_minutes: int
    enabled: bool
    last_triggered_at: Timestamp | None
    last_check_state: CheckState | None
    created_at: Timestamp
    updated_at: Timestamp


class RulesResponse(BaseModel):
    rules: list[RuleOut]


class ToggleResponse(BaseModel):
    id: uuid.UUID
    enabled: bool


class DeletedResponse(BaseModel):
    deleted: bool


class AlertOut(OmitNull):
    # left out when null, as the reference did (kit.fields.OmitNull)
    omit_when_null = frozenset({"notified_at"})

    id: uuid.UUID
    user_id: uuid.UUID
    rule_id: uuid.UUID
    symbol: str
    trigger_price: DecimalText
    trigger_reason: str
    severity: str
    status: str
    notified_at: Timestamp | None
    created_at: Timestamp


class AlertsResponse(BaseModel):
    alerts: list[AlertOut]
    total: int


class BriefingOut(OmitNull):
    # left out when null, as the reference did (kit.fields.OmitNull)
    omit_when_null = frozenset({"tokens_used"})

    id: uuid.UUID
    alert_id: uuid.UUID
    provider: str
    model: str
    prompt: str
    response: str
    tokens_used: int | None
    created_at: Timestamp


class DecisionRequest(Body):
    action: str = Field(description="buy, sell, hold, close, reduce, add or ignore")
    memo: str | None = Field(default=None, max_length=2000)
    confidence: str | None = Field(default=None, description="high, medium or low")


class DecisionOut(OmitNull):
    # left out when null, as the reference did (kit.fields.OmitNull)
    omit_when_null = frozenset({"memo", "confidence"})

    id: uuid.UUID
    alert_id: uuid.UUID
    user_id: uuid.UUID
    action: str
    memo: str | None
    confidence: str | None
    executed_at: Timestamp | None
    created_at: Timestamp


class OutcomeOut(BaseModel):
    id: uuid.UUID
    alert_id: uuid.UUID
    decision_id: uuid.UUID
    period: str
    reference_price: DecimalText
    outcome_price: DecimalText
    pnl_percent: DecimalText
    calculated_at: Timestamp


class AlertDetail(OmitNull):
    # left out when null, as the reference did (kit.fields.OmitNull)
    omit_when_null = frozenset({"decision"})

    alert: AlertOut
    briefings: list[BriefingOut]
    decision: DecisionOut | None
    outcomes: list[OutcomeOut]


class DismissResponse(BaseModel):
    dismissed: bool


class OutcomesResponse(BaseModel):
    outcomes: list[OutcomeOut]

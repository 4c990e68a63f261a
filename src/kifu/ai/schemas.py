"""Request and response models of the AI endpoints (reference §2.8, §2.9 field names; extra
keys are additions the KIFU client ignores). Request values are checked in the service so each
error carries the reference's code and names its field; lists are always arrays."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# -- requests ------------------------------------------------------------------------------------


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    provider: Any = None
    api_key: Any = None


class KeysUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    keys: list[KeyIn] | None = None


class OpinionRequest(BaseModel):
    """``{}`` asks every enabled provider."""

    model_config = ConfigDict(extra="ignore")
    providers: list[Any] | None = None


class OneShotRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    provider: Any = None
    prompt_type: Any = None
    symbol: Any = None
    timeframe: Any = None
    price: Any = None
    evidence_text: Any = None


# -- responses -----------------------------------------------------------------------------------


class MaskedKey(BaseModel):
    provider: str
    masked: str | None = Field(description='"****" and the last 4 characters, or null')


class KeysResponse(BaseModel):
    keys: list[MaskedKey]


class Deleted(BaseModel):
    deleted: bool


class VerdictOut(BaseModel):
    direction: str = Field(description="BUY, SELL or HOLD")
    probability: float | None = Field(description="that the direction is right, 0–1")


class OpinionOut(BaseModel):
    id: str
    provider: str
    model: str
    response: str
    tokens_used: int | None = None
    created_at: str
    verdict: VerdictOut | None = None


class ProviderFailure(BaseModel):
    provider: str
    code: str = Field(description="MISSING_API_KEY or PROVIDER_ERROR")
    message: str


class OpinionsCreated(BaseModel):
    opinions: list[OpinionOut]
    errors: list[ProviderFailure]
    data_incomplete: bool


class OpinionsList(BaseModel):
    opinions: list[OpinionOut]


class OneShotResponse(BaseModel):
    provider: str
    model: str
    prompt_type: str
    response: str
    tokens_used: int | None = None
    created_at: str
    cached: bool = False


class DirectionStats(BaseModel):
    predicted: int
    correct: int
    accuracy: float


class Bucket(BaseModel):
    lower: float
    upper: float
    count: int
    mean_probability: float | None
    hit_rate: float | None


class BaselineStats(BaseModel):
    evaluated: int
    correct: int
    accuracy: float


class Baselines(BaseModel):
    always_hold: BaselineStats
    momentum: BaselineStats = Field(description="direction of the last candle before the bubble")
    coin_flip_brier: float = Field(description="Brier score of always saying 50 %: 0.25")


class VerdictStats(BaseModel):
    """Scores of the machine-readable verdicts (direction + probability)."""

    evaluated: int = Field(description="scored opinions that gave a verdict")
    correct: int
    accuracy: float
    with_probability: int
    brier: float | None = Field(description="mean (p − right)²; lower is better, 0.25 = coin flip")
    brier_skill: float | None = Field(description="1 − brier / 0.25; above 0 beats a coin flip")
    calibration: list[Bucket]


class ModelStats(BaseModel):
    provider: str
    model: str
    evaluated: int
    correct: int
    accuracy: float
    verdicts: VerdictStats
    baselines: Baselines


class ProviderStats(BaseModel):
    provider: str
    total: int
    evaluated: int
    correct: int
    accuracy: float
    by_direction: dict[str, DirectionStats]
    verdicts: VerdictStats
    baselines: Baselines = Field(description="the no-AI baselines on this provider's outcomes")


class RankItem(BaseModel):
    provider: str
    accuracy: float
    rank: int


class PeriodModel(BaseModel):
    provider: str
    model: str
    evaluated: int
    accuracy: float
    verdict_accuracy: float
    brier: float | None
    brier_skill: float | None


class PeriodSummary(BaseModel):
    evaluated: int
    by_model: list[PeriodModel]
    baselines: Baselines


class AccuracyReport(BaseModel):
    period: str
    outcome_period: str
    total_opinions: int
    evaluated_opinions: int
    by_provider: dict[str, ProviderStats]
    ranking: list[RankItem]
    by_model: list[ModelStats]
    baselines: Baselines
    by_outcome_period: dict[str, PeriodSummary] = Field(
        description="every outcome period (1h, 4h, 1d) in brief: models against the baselines"
    )


class BubbleAccuracyItem(BaseModel):
    opinion_id: str
    provider: str
    model: str
    period: str
    predicted_direction: str
    actual_direction: str
    is_correct: bool
    pnl_percent: str | None = None
    verdict: VerdictOut | None = None
    verdict_correct: bool | None = None


class BubbleAccuracy(BaseModel):
    bubble_id: str
    accuracies: list[BubbleAccuracyItem]

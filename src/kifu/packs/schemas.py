"""Request and response models of the summary-pack endpoints.

The payload is documented section by section, but packs are stored JSON and a database adopted
from the reference backend holds packs of its own shape (fewer fields, ``null`` lists): every
payload field is optional, unknown ones are kept, and the routes answer with the fields a pack
has (``response_model_exclude_unset``), none added and none dropped, so its ``content_hash``
still verifies. Keys come in the order declared here (the stored JSONB had its own order).
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kifu.kit.fields import Body, DecimalText, Refused, Timestamp, coded, uuid_value
from kifu.packs import rules


def _range(raw: Any) -> str | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise Refused("must be a string")
    try:
        return rules.check_range(raw)
    except rules.RuleError as exc:
        raise Refused(exc.message) from None


def _generate_range(raw: Any) -> str | None:
    try:
        return _range(raw)
    except Refused:
        shown = raw if isinstance(raw, str) else type(raw).__name__
        raise Refused(
            f"unsupported range: {shown[:40]!r} (accepted: {', '.join(rules.RANGES)})"
        ) from None


def _zone(raw: Any) -> str | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise Refused("must be a string")
    try:
        rules.check_timezone(raw, "UTC")
    except rules.RuleError as exc:
        raise Refused(exc.message) from None
    return raw.strip()


PackRange = coded(
    "INVALID_RANGE",
    _range,
    nullable=True,
    description="7d, 30d (default) or all",
    json_schema={"enum": list(rules.RANGES)},
)
# Generating with a range the reference did not support was its PACK_GENERATE_FAILED (400,
# "unsupported range: x"); reading packs by range keeps INVALID_RANGE.
GenerateRange = coded(
    "PACK_GENERATE_FAILED",
    _generate_range,
    nullable=True,
    description="7d, 30d (default) or all",
    json_schema={"enum": list(rules.RANGES)},
)
TimeZone = coded(
    "INVALID_TIMEZONE",
    _zone,
    nullable=True,
    description="IANA time zone of the range's days (default: the server's KIFU_DEFAULT_TZ)",
    json_schema={"examples": ["UTC", "Asia/Seoul"]},
)
PackId = uuid_value(description="pack id")


class GenerateRequest(Body):
    source_run_id: uuid.UUID = Field(description="a completed sync or import run of the caller")
    range: GenerateRange | None = None
    tz: TimeZone | None = None


class GenerateLatestRequest(Body):
    range: GenerateRange | None = None
    tz: TimeZone | None = None


class GenerateResponse(BaseModel):
    pack_id: uuid.UUID
    reconciliation_status: str
    content_hash: str
    created: bool = Field(description="false when an identical pack already existed")


class GenerateLatestResponse(GenerateResponse):
    source_run_id: uuid.UUID
    anchor_ts: Timestamp = Field(description="the run's end (or start), which the range ends at")


# -- the payload (schema summary_pack_v1) ---------------------------------------------------------


class _Section(BaseModel):
    """Fields a pack may lack are optional; fields this version does not know are kept."""

    model_config = ConfigDict(extra="allow")


class PackTimeRange(_Section):
    range: str | None = None
    timezone: str | None = None
    start_ts: Timestamp | None = Field(default=None, description="null for `all`")
    end_ts: Timestamp | None = None


class DataSources(_Section):
    exchanges: list[str] | None = None
    csv_imported: bool | None = None
    modules: list[str] | None = None
    sources: list[str] | None = None
    source_run_id: uuid.UUID | None = None
    run_type: str | None = None


class PnlSummary(_Section):
    realized_pnl_total: DecimalText | None = Field(
        default=None, description="null when several quote currencies are involved"
    )
    realized_pnl_by_currency: dict[str, DecimalText] | None = None
    unrealized_pnl_snapshot: DecimalText | None = None
    fees_total: DecimalText | None = None
    fees_by_currency: dict[str, DecimalText] | None = None
    funding_total: DecimalText | None = None
    funding_by_currency: dict[str, DecimalText] | None = None


class FlowSummary(_Section):
    net_exchange_flow: DecimalText | None = None
    net_exchange_flow_by_currency: dict[str, DecimalText] | None = None
    net_wallet_flow: DecimalText | None = None


class ActivitySummary(_Section):
    trade_count: int | None = None
    buy_count: int | None = None
    sell_count: int | None = None
    trade_count_by_quote: dict[str, int] | None = None
    notional_volume_total: DecimalText | None = None
    notional_volume_by_currency: dict[str, DecimalText] | None = None
    long_short_ratio: DecimalText | None = None
    leverage_summary: Any = None
    max_drawdown_est: DecimalText | None = None
    max_drawdown_by_currency: dict[str, DecimalText] | None = None


class NormalizationDetail(_Section):
    code: str | None = None
    row_count: int | None = None
    event_ids: list[str] | None = None


class Suspect(_Section):
    kind: str | None = None
    category: str | None = Field(default=None, description="missing, duplicate or time")
    severity: str | None = None
    venue: str | None = None
    symbol: str | None = None
    key: str | None = None
    evidence: dict[str, Any] | None = Field(default=None, description="what was compared, per kind")


class Thresholds(_Section):
    error_when_missing_plus_duplicate_at_least: int | None = None
    error_kinds: list[str] | None = None
    future_tolerance_seconds: int | None = None
    earliest_plausible_ts: Timestamp | None = None


class Reconciliation(_Section):
    reconciliation_status: str | None = None
    missing_suspects_count: int | None = None
    duplicate_suspects_count: int | None = None
    time_suspects_count: int | None = None
    normalization_warnings: list[str] | None = None
    normalization_details: list[NormalizationDetail] | None = None
    suspects: list[Suspect] | None = None
    suspects_truncated: bool | None = None
    thresholds: Thresholds | None = None


class EvidenceIndex(_Section):
    exchange_trade_ids_sample: list[str] | None = None
    evidence_pack_ref: str | None = None


class PackPayload(_Section):
    pack_id: uuid.UUID | None = None
    schema_version: str | None = None
    calc_version: str | None = None
    content_hash: str | None = None
    time_range: PackTimeRange | None = None
    data_sources: DataSources | None = None
    pnl_summary: PnlSummary | None = None
    flow_summary: FlowSummary | None = None
    activity_summary: ActivitySummary | None = None
    reconciliation: Reconciliation | None = None
    evidence_index: EvidenceIndex | None = None


class SummaryPack(BaseModel):
    pack_id: uuid.UUID
    user_id: uuid.UUID
    source_run_id: uuid.UUID
    range: str
    schema_version: str
    calc_version: str
    content_hash: str
    reconciliation_status: str = Field(description="ok, warning or error")
    missing_suspects_count: int
    duplicate_suspects_count: int
    normalization_warnings: list[str]
    payload: PackPayload
    created_at: Timestamp


class PackListItem(BaseModel):
    pack_id: uuid.UUID
    source_run_id: uuid.UUID
    range: str
    schema_version: str
    calc_version: str
    content_hash: str
    reconciliation_status: str
    missing_suspects_count: int
    duplicate_suspects_count: int
    normalization_warnings: list[str]
    time_range: PackTimeRange | None
    created_at: Timestamp


class PackList(BaseModel):
    page: int
    limit: int
    total: int
    items: list[PackListItem]

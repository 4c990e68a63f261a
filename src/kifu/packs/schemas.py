"""Request and response models of the summary-pack endpoints."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source_run_id: uuid.UUID
    range: str | None = Field(default=None, description="7d, 30d (default) or all")
    tz: str | None = Field(default=None, description="IANA time zone of the range's days")


class GenerateLatestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    range: str | None = Field(default=None, description="7d, 30d (default) or all")
    tz: str | None = Field(default=None, description="IANA time zone of the range's days")


class GenerateResponse(BaseModel):
    pack_id: uuid.UUID
    reconciliation_status: str
    content_hash: str
    created: bool = Field(description="false when an identical pack already existed")


class GenerateLatestResponse(GenerateResponse):
    source_run_id: uuid.UUID
    anchor_ts: str


class SummaryPack(BaseModel):
    pack_id: uuid.UUID
    user_id: uuid.UUID
    source_run_id: uuid.UUID
    range: str
    schema_version: str
    calc_version: str
    content_hash: str
    reconciliation_status: str
    missing_suspects_count: int
    duplicate_suspects_count: int
    normalization_warnings: list[str]
    payload: dict[str, Any]
    created_at: str


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
    time_range: dict[str, Any] | None
    created_at: str


class PackList(BaseModel):
    page: int
    limit: int
    total: int
    items: list[PackListItem]

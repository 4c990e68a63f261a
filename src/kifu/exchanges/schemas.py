"""Request and response models of ``/api/v1/exchanges``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RegisterBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    exchange: str = Field(max_length=50)
    api_key: str = Field(max_length=512)
    api_secret: str = Field(max_length=512)

    def __repr__(self) -> str:  # never echo the secret in logs or tracebacks
        return f"RegisterBody(exchange={self.exchange!r})"

    __str__ = __repr__


class CredentialOut(BaseModel):
    id: str
    exchange: str
    api_key_masked: str
    is_valid: bool


class SyncStatusOut(BaseModel):
    last_attempt_at: str | None = None
    last_success_at: str | None = None
    consecutive_failures: int = 0
    next_attempt_at: str | None = None
    last_error: str | None = None
    last_error_code: str | None = None
    income_history_from: str | None = None


class CredentialItem(CredentialOut):
    created_at: str
    sync: SyncStatusOut


class CredentialList(BaseModel):
    items: list[CredentialItem]


class Deleted(BaseModel):
    deleted: bool


class TestResult(BaseModel):
    success: bool
    message: str
    expires_at: str | None = None

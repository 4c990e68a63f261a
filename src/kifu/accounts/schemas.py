"""Request and response models of the accounts API (reference §2.1 field names)."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from kifu.accounts.rules import MAX_EMAIL_LENGTH, is_well_formed_email, normalize_email
from kifu.accounts.tokens import MAX_REFRESH_TOKEN_LENGTH

MIN_PASSWORD_LENGTH = 8
# Bounded so a huge "password" cannot make hashing the bottleneck.
MAX_PASSWORD_LENGTH = 1024
MAX_NAME_LENGTH = 255  # users.name VARCHAR(255)


def _well_formed_email(value: str) -> str:
    email = normalize_email(value)
    if not is_well_formed_email(email):
        raise PydanticCustomError("email", "not a well-formed email address")
    return email


def _non_blank(value: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise PydanticCustomError("blank", "must not be empty")
    return stripped


Email = Annotated[str, Field(max_length=MAX_EMAIL_LENGTH), AfterValidator(_well_formed_email)]
Name = Annotated[str, Field(max_length=MAX_NAME_LENGTH), AfterValidator(_non_blank)]


class Body(BaseModel):
    """Request bodies: unknown fields are refused, types are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True)


class RegisterRequest(Body):
    email: Email
    password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)
    name: Name


class LoginRequest(Body):
    email: str = Field(min_length=1, max_length=MAX_EMAIL_LENGTH)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class RefreshRequest(Body):
    refresh_token: str = Field(min_length=1, max_length=MAX_REFRESH_TOKEN_LENGTH)


class RenameRequest(Body):
    name: Name


class SymbolIn(Body):
    symbol: str = Field(max_length=64)
    timeframe_default: str | None = Field(default=None, max_length=16)


class SymbolsRequest(Body):
    symbols: list[SymbolIn]


class RegisterResponse(BaseModel):
    user_id: uuid.UUID


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str


class MessageResponse(BaseModel):
    message: str


class SubscriptionOut(BaseModel):
    tier: str
    ai_quota_remaining: int
    ai_quota_limit: int
    last_reset_at: str
    expires_at: str | None = Field(default=None, description="omitted when the tier never ends")


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    name: str
    ai_allowlisted: bool
    created_at: str
    subscription: SubscriptionOut | None = Field(
        default=None, description="omitted when the user has no subscription"
    )


class SymbolOut(BaseModel):
    symbol: str
    timeframe_default: str


class SymbolsResponse(BaseModel):
    symbols: list[SymbolOut]

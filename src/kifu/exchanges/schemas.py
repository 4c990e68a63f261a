"""Request and response models of ``/api/v1/exchanges``."""

from __future__ import annotations

import re
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kifu.kit.fields import (
    INVALID_REQUEST,
    Body,
    Refused,
    Timestamp,
    bounded_text,
    choice,
    coded,
    pattern_text,
)
from kifu.kit.venues import EXCHANGE_CODES as EXCHANGES

MAX_KEY_LENGTH = 512


def _exchange(raw: Any) -> str:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise Refused("required", code=INVALID_REQUEST)
    if not isinstance(raw, str) or raw.strip().lower() not in EXCHANGES:
        raise Refused(f"must be one of {', '.join(EXCHANGES)}")
    return raw.strip().lower()


def _key(raw: Any) -> str:
    # Never echo the value: it is a secret.
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise Refused("required")
    if not isinstance(raw, str):
        raise Refused("must be a string")
    key = raw.strip()
    if len(key) > MAX_KEY_LENGTH:
        raise Refused(f"at most {MAX_KEY_LENGTH} characters")
    if len(key) < 8 or any(c.isspace() for c in key):
        raise Refused("not an exchange API key (too short or spaces)")
    return key


Exchange = coded(
    "INVALID_EXCHANGE", _exchange, json_schema={"enum": list(EXCHANGES)}, description="venue"
)
ApiKeyText = coded(INVALID_REQUEST, _key, json_schema={"minLength": 8, "maxLength": MAX_KEY_LENGTH})


class RegisterBody(Body):
    exchange: Exchange
    api_key: ApiKeyText
    api_secret: ApiKeyText = Field(description="stored encrypted, never returned")

    def __repr__(self) -> str:  # never echo the secret in logs or tracebacks
        return f"RegisterBody(exchange={self.exchange!r})"

    __str__ = __repr__


class CredentialOut(BaseModel):
    id: uuid.UUID
    exchange: str
    api_key_masked: str = Field(description="`****` and the key's last four characters")
    is_valid: bool = Field(description="false once the exchange rejected the key")


class SyncStatusOut(BaseModel):
    last_attempt_at: Timestamp | None = None
    last_success_at: Timestamp | None = None
    consecutive_failures: int = 0
    next_attempt_at: Timestamp | None = None
    last_error: str | None = None
    last_error_code: str | None = None
    income_history_from: Timestamp | None = None


class CredentialItem(CredentialOut):
    created_at: Timestamp
    sync: SyncStatusOut


class CredentialList(BaseModel):
    items: list[CredentialItem]


class Deleted(BaseModel):
    deleted: bool


class TestResult(BaseModel):
    success: bool
    message: str
    expires_at: Timestamp | None = Field(
        default=None, description="absent when the key never expires"
    )


class SyncResult(BaseModel):
    """A finished sync's counts. The venue adds what it noted (which symbols it read, how far
    back the history goes); those fields are present only for the venues that note them, and
    notes not listed here are passed through."""

    model_config = ConfigDict(extra="allow")

    success: bool
    message: str
    exchange: str
    run_id: uuid.UUID
    before_count: int = Field(description="the exchange's trades before the sync")
    after_count: int
    inserted_count: int
    fills_fetched: int
    income_fetched: int
    events_inserted: int
    fee_events_inserted: int
    trades_inserted: int
    batches: int
    positions_refreshed: bool
    server_seconds: float = Field(description="time spent waiting on the exchange")
    # In the order the venues note them (Binance futures reads income first).
    income_history_from: Timestamp | None = Field(
        default=None, description="Binance futures: oldest income asked for"
    )
    income_history_limited: bool | None = Field(
        default=None, description="Binance futures: older income is no longer available"
    )
    income_history_note: str | None = None
    symbols: list[str] | None = Field(default=None, description="Binance: symbols read")
    symbols_skipped: list[str] | None = Field(
        default=None, description="Binance: symbols the exchange refused"
    )
    history_from: Timestamp | None = Field(default=None, description="Upbit: oldest order asked")
    orders_fetched: int | None = Field(default=None, description="Upbit: orders read")


# -- POST /connections (the reference's stub) ---------------------------------------------------

MAX_ADDRESS_LENGTH = 128


def _optional_secret(raw: Any) -> str | None:
    # Accepted and dropped; never echoed (it may be a secret).
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if not isinstance(raw, str):
        raise Refused("must be a string")
    if len(raw.strip()) > MAX_KEY_LENGTH:
        raise Refused(f"at most {MAX_KEY_LENGTH} characters")
    return raw.strip()


def _address(raw: Any) -> str | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if not isinstance(raw, str):
        raise Refused("must be a string")
    text = raw.strip()
    if len(text) > MAX_ADDRESS_LENGTH or any(c.isspace() for c in text):
        raise Refused(f"one word of at most {MAX_ADDRESS_LENGTH} characters")
    return text


_CODE = re.compile(r"[a-z0-9_\-]{2,30}")
OptionalSecret = coded(
    INVALID_REQUEST, _optional_secret, nullable=True, json_schema={"maxLength": MAX_KEY_LENGTH}
)


_CODE_REASON = "letters, digits, _ or -, 2-30 characters"
VenueCode = pattern_text(
    INVALID_REQUEST,
    _CODE,
    _CODE_REASON,
    case="lower",
    required_reason="required",
    description="venue code (`binance_futures`, `upbit`, `uniswap`, …)",
)
SourceCode = pattern_text(
    INVALID_REQUEST,
    _CODE,
    _CODE_REASON,
    case="lower",
    blank_is_none=True,
    description="how its data would come: `api`, `csv`, `wallet`, …",
)
VenueType = choice(INVALID_REQUEST, ("cex", "dex", "broker"), blank_is_none=True)
Label = bounded_text(100, description="the user's name for the connection")
WalletAddress = coded(
    INVALID_REQUEST, _address, nullable=True, json_schema={"maxLength": MAX_ADDRESS_LENGTH}
)


class ConnectionBody(Body):
    """The reference's connection request. Nothing in it is stored: API-key connections are
    made with ``POST /exchanges``, files come in through ``POST /imports/trades``."""

    venue: VenueCode
    venue_type: VenueType | None = None
    source: SourceCode | None = None
    label: Label | None = None
    api_key: OptionalSecret | None = None
    api_secret: OptionalSecret | None = None
    wallet_address: WalletAddress | None = None

    def __repr__(self) -> str:  # never echo the key or secret in logs or tracebacks
        return f"ConnectionBody(venue={self.venue!r}, source={self.source!r})"

    __str__ = __repr__


class ConnectionAccepted(BaseModel):
    status: str = Field(description="`accepted`")
    venue: str
    source: str | None
    label: str | None
    message: str = Field(
        description="`connection registered (stub)`, and where the venue can really be connected"
    )

"""Use cases of exchange connections: register (after a live permission check), list, delete,
test, sync. Keys are encrypted before they are stored and decrypted only to call the exchange."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg import AsyncConnection

from kifu.config import Settings
from kifu.exchanges import store
from kifu.exchanges.rules import last4, mask
from kifu.exchanges.schemas import ConnectionBody, CredentialList, RegisterBody
from kifu.exchanges.sync import decrypt_credentials, sync_credential, venue_urls
from kifu.ingest.venues import open_venue
from kifu.ingest.venues.base import (
    AuthRejected,
    Banned,
    Credentials,
    KeyCheck,
    PermissionMissing,
    RateLimited,
    VenueError,
)
from kifu.kit import crypto, venues
from kifu.kit.answers import Asked, Computed
from kifu.kit.errors import BadRequest, DomainError, NotFound
from kifu.kit.timeutil import rfc3339, utc_now

MAX_HISTORY_DAYS = 3650


class KeyCheckFailed(DomainError):
    """The key could not be checked at all (the exchange failed, or the stored key cannot be
    decrypted): nothing is known about its rights."""

    code = "EXCHANGE_PERMISSION_CHECK_FAILED"


async def check_key(settings: Settings, exchange: str, creds: Credentials) -> KeyCheck:
    """The exchange's verdict on a key. A rejected key, a missing right or a withdrawal right
    is ``AuthRejected``/``PermissionMissing`` (``EXCHANGE_PERMISSION_DENIED``), a rate limit or
    ban ``RateLimited``/``Banned``; any other failure means the check itself failed."""
    try:
        async with open_venue(exchange, creds, venue_urls(settings)) as venue:
            return await venue.check_key()
    except (AuthRejected, PermissionMissing, RateLimited, Banned):
        raise
    except VenueError as exc:
        raise KeyCheckFailed(f"could not verify the key with the exchange: {exc.message}") from exc


def _validate(body: RegisterBody) -> tuple[str, Credentials]:
    exchange = body.exchange.strip().lower()
    if not exchange:
        raise BadRequest("INVALID_REQUEST", "exchange: required")
    if exchange not in venues.EXCHANGE_CODES:
        raise BadRequest(
            "INVALID_EXCHANGE", f"exchange: must be one of {', '.join(venues.EXCHANGE_CODES)}"
        )
    key, secret = body.api_key.strip(), body.api_secret.strip()
    if not key or not secret:
        raise BadRequest("INVALID_REQUEST", "api_key and api_secret: required")
    if len(key) < 8 or len(secret) < 8 or any(c.isspace() for c in key + secret):
        raise BadRequest(
            "INVALID_REQUEST", "api_key/api_secret: not an exchange API key (too short or spaces)"
        )
    return exchange, Credentials(key, secret)


async def register(
    conn: AsyncConnection, settings: Settings, user_id: uuid.UUID, body: RegisterBody
) -> dict[str, Any]:
    exchange, creds = _validate(body)
    await check_key(settings, exchange, creds)
    key = crypto.load_key(settings.enc_key)
    row = await store.upsert_credential(
        conn,
        user_id,
        exchange,
        crypto.encrypt(key, creds.api_key),
        crypto.encrypt(key, creds.api_secret),
        last4(creds.api_key),
    )
    return {
        "id": str(row.id),
        "exchange": row.exchange,
        "api_key_masked": mask(row.api_key_last4),
        "is_valid": row.is_valid,
    }


async def connections_answer(conn: AsyncConnection, user_id: uuid.UUID, kept: Asked) -> bytes:
    """``list_connections`` as ``schemas.CredentialList`` JSON, kept under the user's exchanges
    stamp (a connection added, tested, synced or deleted moves it)."""

    async def compute() -> Computed:
        listed = CredentialList.model_validate(await list_connections(conn, user_id))
        return listed.model_dump_json(by_alias=True).encode(), None

    return await kept.serve(conn, user_id, ("exchanges",), store.change_stamp, utc_now(), compute)


async def list_connections(conn: AsyncConnection, user_id: uuid.UUID) -> dict[str, Any]:
    items = []
    for (
        cid,
        exchange,
        l4,
        valid,
        created,
        attempt,
        success,
        fails,
        nxt,
        err,
        code,
        income_from,
    ) in await store.list_credentials(conn, user_id):
        items.append(
            {
                "id": str(cid),
                "exchange": exchange,
                "api_key_masked": mask(l4),
                "is_valid": valid,
                "created_at": rfc3339(created),
                "sync": {
                    "last_attempt_at": rfc3339(attempt),
                    "last_success_at": rfc3339(success),
                    "consecutive_failures": fails or 0,
                    "next_attempt_at": rfc3339(nxt),
                    "last_error": err,
                    "last_error_code": code,
                    "income_history_from": rfc3339(income_from),
                },
            }
        )
    return {"items": items}


async def _own(
    conn: AsyncConnection, user_id: uuid.UUID, credential_id: uuid.UUID
) -> store.CredentialRow:
    row = await store.get_credential(conn, credential_id, user_id)
    if row is None:  # someone else's id is as unknown as a made-up one
        raise NotFound("EXCHANGE_NOT_FOUND", "no exchange connection with this id")
    return row


async def delete(conn: AsyncConnection, user_id: uuid.UUID, credential_id: uuid.UUID) -> None:
    if not await store.delete_credential(conn, credential_id, user_id):
        raise NotFound("EXCHANGE_NOT_FOUND", "no exchange connection with this id")


async def test(
    conn: AsyncConnection, settings: Settings, user_id: uuid.UUID, credential_id: uuid.UUID
) -> dict[str, Any]:
    row = await _own(conn, user_id, credential_id)
    try:
        creds = decrypt_credentials(settings, row)
    except crypto.CryptoError as exc:
        raise KeyCheckFailed(
            "the stored key cannot be decrypted with the configured KIFU_ENC_KEY"
        ) from exc
    try:
        result = await check_key(settings, row.exchange, creds)
    except (AuthRejected, PermissionMissing):
        await store.set_valid(conn, row.id, False)
        raise
    if not row.is_valid:
        await store.set_valid(conn, row.id, True)
    out: dict[str, Any] = {"success": True, "message": result.message}
    if result.expires_at is not None:
        out["expires_at"] = rfc3339(result.expires_at)
    return out


async def sync(
    conn: AsyncConnection,
    settings: Settings,
    user_id: uuid.UUID,
    credential_id: uuid.UUID,
    *,
    full_backfill: bool,
    history_days: int | None,
) -> dict[str, Any]:
    if history_days is not None and not 0 < history_days <= MAX_HISTORY_DAYS:
        raise BadRequest(
            "INVALID_REQUEST",
            f"history_days is invalid: a whole number of days from 1 to {MAX_HISTORY_DAYS}",
        )
    row = await _own(conn, user_id, credential_id)
    return await sync_credential(
        conn, settings, row, full_backfill=full_backfill, history_days=history_days
    )


def accept_connection(body: ConnectionBody) -> dict[str, Any]:
    """``POST /connections``: the reference's stub, answered as it did (202, nothing stored),
    with the way to connect the venue for real in the message. The key, secret and address are
    checked for shape and dropped."""
    message = "connection registered (stub)"
    code = venues.ALIASES.get(body.venue.replace("-", "_"), body.venue.replace("-", "_"))
    if code in venues.EXCHANGE_CODES:
        message += f"; to sync {code} with an API key use POST /api/v1/exchanges"
    else:
        message += "; to bring its trades in use POST /api/v1/imports/trades"
    return {
        "status": "accepted",
        "venue": body.venue,
        "source": body.source,
        "label": body.label,
        "message": message,
    }

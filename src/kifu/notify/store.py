"""SQL of notify: channels, Telegram link codes and the outbox (migrations 007 and 110)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from kifu.kit import locks, stamps


@dataclass(frozen=True)
class ChannelRow:
    id: uuid.UUID
    user_id: uuid.UUID
    channel_type: str
    config: dict[str, Any]
    enabled: bool
    verified: bool
    created_at: datetime


_CHANNEL_COLUMNS = "id, user_id, channel_type, config, enabled, verified, created_at"


def _channel(row: tuple[Any, ...]) -> ChannelRow:
    return ChannelRow(*row)


async def list_channels(conn: AsyncConnection, user_id: uuid.UUID) -> list[ChannelRow]:
    cur = await conn.execute(
        f"SELECT {_CHANNEL_COLUMNS} FROM notification_channels WHERE user_id = %s"
        " ORDER BY created_at, id",
        (user_id,),
    )
    return [_channel(r) for r in await cur.fetchall()]


async def get_channel(
    conn: AsyncConnection, user_id: uuid.UUID, channel_id: uuid.UUID
) -> ChannelRow | None:
    cur = await conn.execute(
        f"SELECT {_CHANNEL_COLUMNS} FROM notification_channels WHERE id = %s AND user_id = %s",
        (channel_id, user_id),
    )
    row = await cur.fetchone()
    return _channel(row) if row else None


async def insert_channel(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    channel_type: str,
    config: dict[str, Any],
    secret_enc: str | None,
) -> ChannelRow:
    cur = await conn.execute(
        "INSERT INTO notification_channels (user_id, channel_type, config, enabled, verified,"
        " secret_enc) VALUES (%s, %s, %s, true, true, %s)"
        f" RETURNING {_CHANNEL_COLUMNS}",
        (user_id, channel_type, Jsonb(config), secret_enc),
    )
    row = await cur.fetchone()
    assert row is not None
    return _channel(row)


async def delete_channel(
    conn: AsyncConnection, user_id: uuid.UUID, channel_id: uuid.UUID, channel_type: str | None
) -> bool:
    cur = await conn.execute(
        "DELETE FROM notification_channels WHERE id = %s AND user_id = %s"
        " AND (%s::text IS NULL OR channel_type = %s)",
        (channel_id, user_id, channel_type, channel_type),
    )
    return cur.rowcount > 0


async def delete_telegram(conn: AsyncConnection, user_id: uuid.UUID) -> bool:
    cur = await conn.execute(
        "DELETE FROM notification_channels WHERE user_id = %s AND channel_type = 'telegram'",
        (user_id,),
    )
    return cur.rowcount > 0


async def upsert_telegram(conn: AsyncConnection, user_id: uuid.UUID, chat_id: int) -> None:
    await conn.execute(
        "INSERT INTO notification_channels (user_id, channel_type, config, enabled, verified)"
        " VALUES (%s, 'telegram', %s, true, true)"
        " ON CONFLICT (user_id, channel_type) WHERE channel_type IN ('telegram', 'web_push')"
        " DO UPDATE SET config = EXCLUDED.config, enabled = true, verified = true",
        (user_id, Jsonb({"chat_id": chat_id})),
    )


async def deliverable_channels(conn: AsyncConnection, user_id: uuid.UUID) -> list[ChannelRow]:
    """The user's channels a message goes to: enabled and verified (telegram with a chat)."""
    cur = await conn.execute(
        f"SELECT {_CHANNEL_COLUMNS} FROM notification_channels"
        " WHERE user_id = %s AND enabled AND verified"
        "   AND channel_type IN ('telegram', 'webhook', 'ntfy')"
        " ORDER BY created_at, id",
        (user_id,),
    )
    return [_channel(r) for r in await cur.fetchall()]


# -- Telegram link codes ------------------------------------------------------------------------


async def replace_code(
    conn: AsyncConnection, user_id: uuid.UUID, code: str, expires_at: datetime, now: datetime
) -> bool:
    """Retire the user's open codes and store ``code``; False (nothing stored) when another
    open code equals it (codes are looked up without a user, so open ones must be unique)."""
    async with conn.transaction():
        await locks.xact_lock(conn, "kifu.telegram_code", code)
        cur = await conn.execute(
            "SELECT 1 FROM telegram_verify_codes WHERE code = %s AND NOT used AND expires_at > %s",
            (code, now),
        )
        if await cur.fetchone():
            return False
        await conn.execute(
            "UPDATE telegram_verify_codes SET used = true WHERE user_id = %s AND NOT used",
            (user_id,),
        )
        await conn.execute(
            "INSERT INTO telegram_verify_codes (user_id, code, expires_at) VALUES (%s, %s, %s)",
            (user_id, code, expires_at),
        )
    return True


async def consume_code(conn: AsyncConnection, code: str, now: datetime) -> uuid.UUID | None:
    """Mark the open code used and return its user (inside the caller's transaction)."""
    cur = await conn.execute(
        "UPDATE telegram_verify_codes SET used = true WHERE id = ("
        "  SELECT id FROM telegram_verify_codes"
        "  WHERE code = %s AND NOT used AND expires_at > %s"
        "  ORDER BY created_at DESC LIMIT 1 FOR UPDATE)"
        " AND NOT used RETURNING user_id",
        (code, now),
    )
    row = await cur.fetchone()
    return row[0] if row else None


# -- the outbox ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutboxItem:
    id: uuid.UUID
    user_id: uuid.UUID | None
    channel_id: uuid.UUID | None
    channel_type: str
    target: dict[str, Any]
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    created_at: datetime
    secret_enc: str | None


async def enqueue(
    conn: AsyncConnection,
    *,
    user_id: uuid.UUID | None,
    channel_id: uuid.UUID | None,
    channel_type: str,
    target: dict[str, Any],
    kind: str,
    payload: dict[str, Any],
    dedupe_key: str | None,
    max_attempts: int,
) -> uuid.UUID | None:
    """Add a message; None when one with the same ``dedupe_key`` is already there."""
    cur = await conn.execute(
        "INSERT INTO notification_outbox (user_id, channel_id, channel_type, target, kind,"
        " payload, dedupe_key, max_attempts) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
        (
            user_id,
            channel_id,
            channel_type,
            Jsonb(target),
            kind,
            Jsonb(payload),
            dedupe_key,
            max_attempts,
        ),
    )
    row = await cur.fetchone()
    return row[0] if row else None


_CLAIM = """
WITH due AS (
    SELECT o.id, c.secret_enc
    FROM notification_outbox o
    LEFT JOIN notification_channels c ON c.id = o.channel_id
    WHERE ((o.status = 'pending' AND o.next_attempt_at <= %(now)s)
           OR (o.status = 'sending' AND o.lease_until < %(now)s))
      AND (%(ids)s::uuid[] IS NULL OR o.id = ANY(%(ids)s::uuid[]))
    ORDER BY o.next_attempt_at, o.id
    LIMIT %(batch)s
    FOR UPDATE OF o SKIP LOCKED
)
UPDATE notification_outbox o
SET status = 'sending', attempts = o.attempts + 1, lease_until = %(lease)s, updated_at = NOW()
FROM due
WHERE o.id = due.id
RETURNING o.id, o.user_id, o.channel_id, o.channel_type, o.target, o.payload, o.attempts,
          o.max_attempts, o.created_at, due.secret_enc
"""


async def claim(
    conn: AsyncConnection,
    now: datetime,
    lease_until: datetime,
    batch: int,
    ids: list[uuid.UUID] | None = None,
) -> list[OutboxItem]:
    """Take up to ``batch`` due messages (and ones whose sender died), of ``ids`` only when
    given, under a lease; rows other workers hold are skipped, so a message is never being sent
    by two workers."""
    params = {"now": now, "lease": lease_until, "batch": batch, "ids": ids}
    cur = await conn.execute(_CLAIM, params)
    return [OutboxItem(*r) for r in await cur.fetchall()]


async def mark_sent(conn: AsyncConnection, item: OutboxItem, now: datetime) -> bool:
    cur = await conn.execute(
        "UPDATE notification_outbox SET status = 'sent', sent_at = %s, lease_until = NULL,"
        " last_error = NULL, updated_at = NOW()"
        " WHERE id = %s AND status = 'sending' AND attempts = %s",
        (now, item.id, item.attempts),
    )
    return cur.rowcount > 0


async def mark_failed(
    conn: AsyncConnection, item: OutboxItem, error: str, retry_at: datetime | None
) -> None:
    """Back to 'pending' until ``retry_at``, or 'failed' for good when it is None."""
    await conn.execute(
        "UPDATE notification_outbox SET status = %s, next_attempt_at = COALESCE(%s,"
        " next_attempt_at), lease_until = NULL, last_error = %s, updated_at = NOW()"
        " WHERE id = %s AND status = 'sending' AND attempts = %s",
        (
            "failed" if retry_at is None else "pending",
            retry_at,
            error[:1000],
            item.id,
            item.attempts,
        ),
    )


@dataclass(frozen=True)
class MessageRow:
    id: uuid.UUID
    channel_id: uuid.UUID | None
    channel_type: str
    kind: str
    payload: dict[str, Any]
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    sent_at: datetime | None
    created_at: datetime


async def list_messages(
    conn: AsyncConnection, user_id: uuid.UUID, status: str | None, limit: int, offset: int
) -> tuple[list[MessageRow], int]:
    params = (user_id, status, status)
    where = "WHERE user_id = %s AND (%s::text IS NULL OR status = %s)"
    cur = await conn.execute(
        "SELECT id, channel_id, channel_type, kind, payload, status, attempts, last_error,"
        f" next_attempt_at, sent_at, created_at FROM notification_outbox {where}"
        " ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s",
        (*params, limit, offset),
    )
    rows = [MessageRow(*r) for r in await cur.fetchall()]
    cur = await conn.execute(f"SELECT count(*) FROM notification_outbox {where}", params)
    total = (await cur.fetchone())[0]  # type: ignore[index]
    return rows, total


async def change_stamp(conn: AsyncConnection, user_id: uuid.UUID) -> int | None:
    """The user's notify change stamp (migration 134, bumped by the triggers on
    ``notification_channels``; None before their first change): its primary key."""
    return await stamps.read(
        conn, "SELECT (SELECT stamp FROM notify_change_stamps WHERE user_id = %(u)s)", user_id
    )

"""SQL for accounts: users, subscriptions, refresh tokens, watch-list symbols, login counters.

Every function takes an open async connection; callers own transactions.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from psycopg import AsyncConnection
from psycopg.rows import class_row

from kifu.accounts.rules import TIER_QUOTAS, WatchSymbol
from kifu.kit import stamps

# -- users -------------------------------------------------------------------------------------


@dataclass
class UserRow:
    id: uuid.UUID
    email: str
    password_hash: str
    name: str
    ai_allowlisted: bool
    created_at: datetime


@dataclass
class SubscriptionRow:
    tier: str
    ai_quota_remaining: int
    ai_quota_limit: int
    last_reset_at: datetime
    expires_at: datetime | None


_USER_COLUMNS = "id, email, password_hash, name, ai_allowlisted, created_at"
_SUB_COLUMNS = "tier, ai_quota_remaining, ai_quota_limit, last_reset_at, expires_at"
# Legacy databases may hold several rows whose emails differ only in case; bound the candidates.
MAX_EMAIL_CANDIDATES = 5


async def email_taken(conn: AsyncConnection, email: str) -> bool:
    cur = await conn.execute("SELECT 1 FROM users WHERE lower(email) = lower(%s) LIMIT 1", (email,))
    return await cur.fetchone() is not None


async def insert_user(
    conn: AsyncConnection, email: str, password_hash: str, name: str, *, allowlisted: bool = False
) -> uuid.UUID:
    cur = await conn.execute(
        "INSERT INTO users (email, password_hash, name, ai_allowlisted) VALUES (%s, %s, %s, %s)"
        " RETURNING id",
        (email, password_hash, name, allowlisted),
    )
    row = await cur.fetchone()
    assert row is not None
    return row[0]


async def users_by_email(conn: AsyncConnection, email: str) -> list[UserRow]:
    """Rows whose email equals ``email`` ignoring case; an exact match first."""
    async with conn.cursor(row_factory=class_row(UserRow)) as cur:
        await cur.execute(
            f"SELECT {_USER_COLUMNS} FROM users WHERE lower(email) = lower(%s)"
            " ORDER BY (email = %s) DESC, created_at LIMIT %s",
            (email, email, MAX_EMAIL_CANDIDATES),
        )
        return await cur.fetchall()


async def change_stamp(conn: AsyncConnection, user_id: uuid.UUID) -> int | None:
    """The user's accounts change stamp (migration 132): it moves with every change to their
    user row, subscription or watch list."""
    return await stamps.read(
        conn, "SELECT (SELECT stamp FROM accounts_change_stamps WHERE user_id = %(u)s)", user_id
    )


async def user_by_id(conn: AsyncConnection, user_id: uuid.UUID) -> UserRow | None:
    async with conn.cursor(row_factory=class_row(UserRow)) as cur:
        await cur.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE id = %s", (user_id,))
        return await cur.fetchone()


async def profile_of(
    conn: AsyncConnection, user_id: uuid.UUID
) -> tuple[UserRow, SubscriptionRow | None] | None:
    """The user and their subscription (``user_by_id`` and ``subscription_of``) in one round
    trip; None when there is no such user."""
    cur = await conn.execute(
        f"SELECT {_USER_COLUMNS}, s.* FROM users"
        f" LEFT JOIN LATERAL (SELECT {_SUB_COLUMNS} FROM subscriptions WHERE user_id = users.id"
        " LIMIT 1) s ON true WHERE users.id = %s",
        (user_id,),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    user = UserRow(*row[:6])
    return user, None if row[6] is None else SubscriptionRow(*row[6:])


async def set_password_hash(conn: AsyncConnection, user_id: uuid.UUID, password_hash: str) -> None:
    await conn.execute(
        "UPDATE users SET password_hash = %s, updated_at = now() WHERE id = %s",
        (password_hash, user_id),
    )


async def rename_user(conn: AsyncConnection, user_id: uuid.UUID, name: str) -> bool:
    cur = await conn.execute(
        "UPDATE users SET name = %s, updated_at = now() WHERE id = %s", (name, user_id)
    )
    return cur.rowcount == 1


async def set_allowlisted(conn: AsyncConnection, user_id: uuid.UUID, allowlisted: bool) -> bool:
    cur = await conn.execute(
        "UPDATE users SET ai_allowlisted = %s, updated_at = now() WHERE id = %s",
        (allowlisted, user_id),
    )
    return cur.rowcount == 1


async def set_admin(conn: AsyncConnection, user_id: uuid.UUID, is_admin: bool) -> bool:
    cur = await conn.execute(
        "UPDATE users SET is_admin = %s, updated_at = now() WHERE id = %s", (is_admin, user_id)
    )
    return cur.rowcount == 1


async def is_admin(conn: AsyncConnection, user_id: uuid.UUID) -> bool:
    cur = await conn.execute("SELECT is_admin FROM users WHERE id = %s", (user_id,))
    row = await cur.fetchone()
    return bool(row and row[0])


async def mark_sandbox(conn: AsyncConnection, user_id: uuid.UUID) -> None:
    await conn.execute("UPDATE users SET is_sandbox = true WHERE id = %s", (user_id,))


async def sandbox_flags(conn: AsyncConnection, user_id: uuid.UUID) -> tuple[bool, bool] | None:
    """(is_sandbox, is_admin) of a user, or None when there is no such user."""
    cur = await conn.execute("SELECT is_sandbox, is_admin FROM users WHERE id = %s", (user_id,))
    row = await cur.fetchone()
    return (bool(row[0]), bool(row[1])) if row else None


async def delete_user(conn: AsyncConnection, user_id: uuid.UUID) -> bool:
    """Delete a user; every table that hangs off users cascades."""
    cur = await conn.execute("DELETE FROM users WHERE id = %s", (user_id,))
    return cur.rowcount == 1


@dataclass
class UserListRow:
    id: uuid.UUID
    email: str
    name: str
    ai_allowlisted: bool
    created_at: datetime
    tier: str | None
    ai_quota_remaining: int | None
    ai_quota_limit: int | None


async def list_users(conn: AsyncConnection, *, limit: int, offset: int) -> list[UserListRow]:
    async with conn.cursor(row_factory=class_row(UserListRow)) as cur:
        await cur.execute(
            "SELECT u.id, u.email, u.name, u.ai_allowlisted, u.created_at,"
            " s.tier, s.ai_quota_remaining, s.ai_quota_limit"
            " FROM users u LEFT JOIN subscriptions s ON s.user_id = u.id"
            " ORDER BY u.created_at, u.id LIMIT %s OFFSET %s",
            (limit, offset),
        )
        return await cur.fetchall()


# -- subscriptions -----------------------------------------------------------------------------


async def insert_subscription(
    conn: AsyncConnection, user_id: uuid.UUID, tier: str, quota: int, now: datetime
) -> None:
    await conn.execute(
        "INSERT INTO subscriptions (user_id, tier, ai_quota_remaining, ai_quota_limit,"
        " last_reset_at, expires_at) VALUES (%s, %s, %s, %s, %s, NULL)",
        (user_id, tier, quota, quota, now),
    )


async def subscription_of(
    conn: AsyncConnection, user_id: uuid.UUID, *, for_update: bool = False
) -> SubscriptionRow | None:
    lock = " FOR UPDATE" if for_update else ""
    async with conn.cursor(row_factory=class_row(SubscriptionRow)) as cur:
        await cur.execute(
            f"SELECT {_SUB_COLUMNS} FROM subscriptions WHERE user_id = %s{lock}", (user_id,)
        )
        return await cur.fetchone()


async def set_tier(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    tier: str,
    limit: int,
    remaining: int,
    expires_at: datetime | None,
) -> None:
    await conn.execute(
        "UPDATE subscriptions SET tier = %s, ai_quota_limit = %s, ai_quota_remaining = %s,"
        " expires_at = %s WHERE user_id = %s",
        (tier, limit, remaining, expires_at, user_id),
    )


async def spend_credit(conn: AsyncConnection, user_id: uuid.UUID) -> int | None:
    """Take one AI credit atomically; the credits left, or None when there were none (or no
    subscription). The row lock makes concurrent spenders queue, and the re-checked
    ``> 0`` keeps the count from going negative."""
    cur = await conn.execute(
        "UPDATE subscriptions SET ai_quota_remaining = ai_quota_remaining - 1"
        " WHERE user_id = %s AND ai_quota_remaining > 0 RETURNING ai_quota_remaining",
        (user_id,),
    )
    row = await cur.fetchone()
    return None if row is None else row[0]


async def refund_credit(conn: AsyncConnection, user_id: uuid.UUID) -> int | None:
    cur = await conn.execute(
        "UPDATE subscriptions SET ai_quota_remaining = LEAST(ai_quota_remaining + 1,"
        " ai_quota_limit) WHERE user_id = %s RETURNING ai_quota_remaining",
        (user_id,),
    )
    row = await cur.fetchone()
    return None if row is None else row[0]


_QUOTAS_JSON = json.dumps(TIER_QUOTAS, sort_keys=True)
_RESET_BATCH = 1000

# Both statements re-state their condition in the UPDATE's own WHERE: when two workers race, the
# second one waits for the first's row locks and PostgreSQL re-checks that WHERE on the new row
# version, which no longer matches, so each row is reset once per month without any job lock.
_DOWNGRADE_EXPIRED = """
UPDATE subscriptions s
SET tier = 'free', ai_quota_limit = q.quota, ai_quota_remaining = q.quota,
    last_reset_at = %(now)s, expires_at = NULL
FROM (SELECT (%(quotas)s::jsonb ->> 'free')::int AS quota) q
WHERE s.id IN (SELECT id FROM subscriptions
               WHERE expires_at IS NOT NULL AND expires_at < %(now)s LIMIT %(batch)s)
  AND s.expires_at IS NOT NULL AND s.expires_at < %(now)s
"""
_MONTHLY_RESET = """
UPDATE subscriptions s
SET ai_quota_limit = (%(quotas)s::jsonb ->> s.tier)::int,
    ai_quota_remaining = (%(quotas)s::jsonb ->> s.tier)::int,
    last_reset_at = %(now)s,
    expires_at = CASE WHEN s.tier = 'free' THEN NULL ELSE s.expires_at END
WHERE s.id IN (SELECT id FROM subscriptions
               WHERE date_trunc('month', last_reset_at AT TIME ZONE 'UTC')
                     < date_trunc('month', %(now)s AT TIME ZONE 'UTC')
               LIMIT %(batch)s)
  AND date_trunc('month', s.last_reset_at AT TIME ZONE 'UTC')
      < date_trunc('month', %(now)s AT TIME ZONE 'UTC')
"""


async def _in_batches(conn: AsyncConnection, query: str, now: datetime) -> int:
    total = 0
    while True:
        async with conn.transaction():
            cur = await conn.execute(
                query, {"now": now, "quotas": _QUOTAS_JSON, "batch": _RESET_BATCH}
            )
        total += cur.rowcount
        if cur.rowcount < _RESET_BATCH:
            return total


async def downgrade_expired(conn: AsyncConnection, now: datetime) -> int:
    return await _in_batches(conn, _DOWNGRADE_EXPIRED, now)


async def reset_monthly_quotas(conn: AsyncConnection, now: datetime) -> int:
    return await _in_batches(conn, _MONTHLY_RESET, now)


# -- refresh tokens ----------------------------------------------------------------------------


@dataclass
class RefreshTokenRow:
    id: uuid.UUID
    user_id: uuid.UUID
    expires_at: datetime
    revoked_at: datetime | None
    replaced_by: uuid.UUID | None


async def insert_refresh_token(
    conn: AsyncConnection, user_id: uuid.UUID, token_hash: str, expires_at: datetime
) -> uuid.UUID:
    cur = await conn.execute(
        "INSERT INTO refresh_tokens (user_id, token_hash, expires_at) VALUES (%s, %s, %s)"
        " RETURNING id",
        (user_id, token_hash, expires_at),
    )
    row = await cur.fetchone()
    assert row is not None
    return row[0]


async def refresh_token_by_hash(
    conn: AsyncConnection, token_hash: str, *, for_update: bool = False
) -> RefreshTokenRow | None:
    lock = " FOR UPDATE" if for_update else ""
    async with conn.cursor(row_factory=class_row(RefreshTokenRow)) as cur:
        await cur.execute(
            "SELECT id, user_id, expires_at, revoked_at, replaced_by FROM refresh_tokens"
            f" WHERE token_hash = %s{lock}",
            (token_hash,),
        )
        return await cur.fetchone()


async def mark_rotated(
    conn: AsyncConnection, token_id: uuid.UUID, replaced_by: uuid.UUID, now: datetime
) -> None:
    await conn.execute(
        "UPDATE refresh_tokens SET revoked_at = %s, last_used_at = %s, replaced_by = %s,"
        " revoked_reason = 'rotated' WHERE id = %s",
        (now, now, replaced_by, token_id),
    )


async def revoke_token(
    conn: AsyncConnection, token_id: uuid.UUID, reason: str, now: datetime
) -> None:
    await conn.execute(
        "UPDATE refresh_tokens SET revoked_at = %s, revoked_reason = %s"
        " WHERE id = %s AND revoked_at IS NULL",
        (now, reason, token_id),
    )


async def revoke_user_tokens(
    conn: AsyncConnection, user_id: uuid.UUID, reason: str, now: datetime
) -> int:
    cur = await conn.execute(
        "UPDATE refresh_tokens SET revoked_at = %s, revoked_reason = %s"
        " WHERE user_id = %s AND revoked_at IS NULL",
        (now, reason, user_id),
    )
    return cur.rowcount


# -- watch-list symbols ------------------------------------------------------------------------

MAX_SYMBOL_ROWS = 200


async def symbols_of(conn: AsyncConnection, user_id: uuid.UUID) -> list[WatchSymbol]:
    cur = await conn.execute(
        "SELECT symbol, timeframe_default FROM user_symbols WHERE user_id = %s"
        " ORDER BY created_at, symbol LIMIT %s",
        (user_id, MAX_SYMBOL_ROWS),
    )
    return [WatchSymbol(symbol, tf) for symbol, tf in await cur.fetchall()]


async def symbol_timeframes(conn: AsyncConnection, user_id: uuid.UUID) -> dict[str, str]:
    """Every symbol of the user's watch-list and its chart timeframe."""
    cur = await conn.execute(
        "SELECT symbol, timeframe_default FROM user_symbols WHERE user_id = %s", (user_id,)
    )
    return {symbol: tf for symbol, tf in await cur.fetchall()}


async def add_symbol_if_missing(
    conn: AsyncConnection, user_id: uuid.UUID, symbol: WatchSymbol
) -> None:
    await conn.execute(
        "INSERT INTO user_symbols (user_id, symbol, timeframe_default) VALUES (%s, %s, %s)"
        " ON CONFLICT (user_id, symbol) DO NOTHING",
        (user_id, symbol.symbol, symbol.timeframe_default),
    )


async def watch_symbols(
    conn: AsyncConnection, user_id: uuid.UUID, symbols: list[str], timeframe: str
) -> None:
    """Add the symbols the user is not watching yet (one statement)."""
    await conn.execute(
        "INSERT INTO user_symbols (user_id, symbol, timeframe_default)"
        " SELECT DISTINCT %s, s, %s FROM unnest(%s::text[]) AS s"
        " ON CONFLICT (user_id, symbol) DO NOTHING",
        (user_id, timeframe, symbols),
    )


async def replace_symbols(
    conn: AsyncConnection, user_id: uuid.UUID, symbols: list[WatchSymbol], now: datetime
) -> None:
    """Replace the list; ``created_at`` steps by a microsecond per entry to keep the order."""
    await conn.execute("DELETE FROM user_symbols WHERE user_id = %s", (user_id,))
    await conn.execute(
        "INSERT INTO user_symbols (user_id, symbol, timeframe_default, created_at)"
        " SELECT %s, s.symbol, s.tf, %s + (s.n - 1) * interval '1 microsecond'"
        " FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS s(symbol, tf, n)",
        (
            user_id,
            now,
            [s.symbol for s in symbols],
            [s.timeframe_default for s in symbols],
        ),
    )


# -- login rate limit --------------------------------------------------------------------------


async def count_attempts(
    conn: AsyncConnection, keys: list[str], window_start: datetime
) -> dict[str, int]:
    """Add one attempt to each key's counter of this window; each key's new count."""
    cur = await conn.execute(
        "INSERT INTO login_attempts (key_hash, window_start, attempts)"
        " SELECT k, %s, 1 FROM unnest(%s::text[]) AS k"
        " ON CONFLICT (key_hash, window_start)"
        " DO UPDATE SET attempts = login_attempts.attempts + 1"
        " RETURNING key_hash, attempts",
        (window_start, keys),
    )
    return {key.strip(): n for key, n in await cur.fetchall()}


async def clear_attempts(conn: AsyncConnection, key: str) -> None:
    await conn.execute("DELETE FROM login_attempts WHERE key_hash = %s", (key,))


async def purge_attempts(conn: AsyncConnection, older_than: datetime) -> int:
    cur = await conn.execute("DELETE FROM login_attempts WHERE window_start < %s", (older_than,))
    return cur.rowcount

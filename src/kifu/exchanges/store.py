"""SQL of exchange connections and sync: credentials, cursors and sync status. Fills are written
by ``kifu.exchanges.flows.write_batch`` through the ledger's writer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection

from kifu.ingest.venues.base import Cursor
from kifu.kit import stamps

ACCOUNT_LABEL = "api-sync"

# -- credentials -------------------------------------------------------------------------------

CRED_COLUMNS = (
    "id, user_id, exchange, api_key_enc, api_secret_enc, api_key_last4, is_valid, created_at"
)


@dataclass(frozen=True)
class CredentialRow:
    id: uuid.UUID
    user_id: uuid.UUID
    exchange: str
    api_key_enc: str
    api_secret_enc: str
    api_key_last4: str
    is_valid: bool
    created_at: datetime

    def __repr__(self) -> str:
        return f"CredentialRow({self.id}, {self.exchange})"


async def upsert_credential(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    exchange: str,
    key_enc: str,
    secret_enc: str,
    last4: str,
) -> CredentialRow:
    """Register or replace the user's key for ``exchange`` (valid again, sync health reset)."""
    async with conn.transaction():
        cur = await conn.execute(
            "INSERT INTO exchange_credentials (user_id, exchange, api_key_enc, api_secret_enc,"
            " api_key_last4, is_valid) VALUES (%s, %s, %s, %s, %s, true)"
            " ON CONFLICT (user_id, exchange) DO UPDATE SET api_key_enc = EXCLUDED.api_key_enc,"
            " api_secret_enc = EXCLUDED.api_secret_enc, api_key_last4 = EXCLUDED.api_key_last4,"
            f" is_valid = true RETURNING {CRED_COLUMNS}",
            (user_id, exchange, key_enc, secret_enc, last4),
        )
        row = CredentialRow(*(await cur.fetchone()))  # type: ignore[misc]
        await conn.execute("DELETE FROM exchange_sync_status WHERE credential_id = %s", (row.id,))
    return row


async def get_credential(
    conn: AsyncConnection, credential_id: uuid.UUID, user_id: uuid.UUID | None = None
) -> CredentialRow | None:
    where = "id = %s" + (" AND user_id = %s" if user_id else "")
    params = (credential_id, user_id) if user_id else (credential_id,)
    cur = await conn.execute(
        f"SELECT {CRED_COLUMNS} FROM exchange_credentials WHERE {where}", params
    )
    row = await cur.fetchone()
    return CredentialRow(*row) if row else None


async def list_credentials(conn: AsyncConnection, user_id: uuid.UUID) -> list[tuple[Any, ...]]:
    """At most one per exchange (unique (user_id, exchange)), so the list is bounded."""
    cur = await conn.execute(
        "SELECT c.id, c.exchange, c.api_key_last4, c.is_valid, c.created_at,"
        " s.last_attempt_at, s.last_success_at, s.consecutive_failures, s.next_attempt_at,"
        " s.last_error, s.last_error_code, s.income_history_from"
        " FROM exchange_credentials c"
        " LEFT JOIN exchange_sync_status s ON s.credential_id = c.id"
        " WHERE c.user_id = %s ORDER BY c.created_at DESC, c.id DESC",
        (user_id,),
    )
    return list(await cur.fetchall())


async def delete_credential(
    conn: AsyncConnection, credential_id: uuid.UUID, user_id: uuid.UUID
) -> bool:
    cur = await conn.execute(
        "DELETE FROM exchange_credentials WHERE id = %s AND user_id = %s",
        (credential_id, user_id),
    )
    return cur.rowcount > 0


async def set_valid(conn: AsyncConnection, credential_id: uuid.UUID, valid: bool) -> None:
    await conn.execute(
        "UPDATE exchange_credentials SET is_valid = %s WHERE id = %s", (valid, credential_id)
    )


# -- sync status (poller) ----------------------------------------------------------------------


async def mark_attempt(conn: AsyncConnection, cred: CredentialRow, run_id: uuid.UUID) -> None:
    await conn.execute(
        "INSERT INTO exchange_sync_status (credential_id, user_id, last_attempt_at, last_run_id)"
        " VALUES (%s, %s, now(), %s) ON CONFLICT (credential_id) DO UPDATE SET"
        " last_attempt_at = now(), last_run_id = EXCLUDED.last_run_id, updated_at = now()",
        (cred.id, cred.user_id, run_id),
    )


async def mark_success(
    conn: AsyncConnection, credential_id: uuid.UUID, income_from: datetime | None
) -> None:
    await conn.execute(
        "UPDATE exchange_sync_status SET last_success_at = now(), consecutive_failures = 0,"
        " next_attempt_at = NULL, last_error = NULL, last_error_code = NULL,"
        " income_history_from = coalesce(%s, income_history_from), updated_at = now()"
        " WHERE credential_id = %s",
        (income_from, credential_id),
    )


async def failures(conn: AsyncConnection, credential_id: uuid.UUID) -> int:
    cur = await conn.execute(
        "SELECT consecutive_failures FROM exchange_sync_status WHERE credential_id = %s",
        (credential_id,),
    )
    row = await cur.fetchone()
    return row[0] if row else 0


async def mark_failure(
    conn: AsyncConnection,
    credential_id: uuid.UUID,
    *,
    failures: int,
    next_attempt_at: datetime | None,
    error: str,
    code: str,
) -> None:
    await conn.execute(
        "UPDATE exchange_sync_status SET consecutive_failures = %s, next_attempt_at = %s,"
        " last_error = %s, last_error_code = %s, updated_at = now() WHERE credential_id = %s",
        (failures, next_attempt_at, error[:500], code[:50], credential_id),
    )


async def due_credentials(
    conn: AsyncConnection, interval: timedelta, limit: int
) -> list[uuid.UUID]:
    """Valid credentials not tried within ``interval`` and not in a backoff or ban."""
    cur = await conn.execute(
        "SELECT c.id FROM exchange_credentials c"
        " LEFT JOIN exchange_sync_status s ON s.credential_id = c.id"
        " WHERE c.is_valid"
        " AND (s.next_attempt_at IS NULL OR s.next_attempt_at <= now())"
        " AND (s.last_attempt_at IS NULL OR s.last_attempt_at <= now() - %s)"
        " ORDER BY s.last_attempt_at NULLS FIRST, c.id LIMIT %s",
        (interval, limit),
    )
    return [r[0] for r in await cur.fetchall()]


async def is_due(conn: AsyncConnection, credential_id: uuid.UUID, interval: timedelta) -> bool:
    """``due_credentials``' rule for one credential (checked again by the job, under its lock)."""
    cur = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM exchange_credentials c"
        " LEFT JOIN exchange_sync_status s ON s.credential_id = c.id"
        " WHERE c.id = %s AND c.is_valid"
        " AND (s.next_attempt_at IS NULL OR s.next_attempt_at <= now())"
        " AND (s.last_attempt_at IS NULL OR s.last_attempt_at <= now() - %s))",
        (credential_id, interval),
    )
    return bool((await cur.fetchone())[0])  # type: ignore[index]


# -- sync context ------------------------------------------------------------------------------


async def cursors(conn: AsyncConnection, user_id: uuid.UUID, exchange: str) -> dict[str, Cursor]:
    cur = await conn.execute(
        "SELECT symbol, last_trade_id, last_sync_at FROM trade_sync_state"
        " WHERE user_id = %s AND exchange = %s",
        (user_id, exchange),
    )
    return {s: Cursor(t, at) for s, t, at in await cur.fetchall()}


# -- cursors -----------------------------------------------------------------------------------


async def save_cursors(
    conn: AsyncConnection, user_id: uuid.UUID, exchange: str, cursors: dict[str, Cursor]
) -> None:
    for symbol, c in cursors.items():
        await conn.execute(
            "INSERT INTO trade_sync_state (user_id, exchange, symbol, last_trade_id,"
            " last_sync_at) VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (user_id, exchange, symbol) DO UPDATE SET"
            " last_trade_id = EXCLUDED.last_trade_id, last_sync_at = EXCLUDED.last_sync_at",
            (user_id, exchange, symbol[:20], c.last_trade_id, c.last_sync_at),
        )


async def change_stamp(conn: AsyncConnection, user_id: uuid.UUID) -> int | None:
    """The user's exchanges change stamp (migration 134, bumped by the triggers on
    ``exchange_credentials`` and ``exchange_sync_status``; None before their first change):
    its primary key."""
    return await stamps.read(
        conn, "SELECT (SELECT stamp FROM exchanges_change_stamps WHERE user_id = %(u)s)", user_id
    )

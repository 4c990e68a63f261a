"""SQL of the tables review owns: ``guided_reviews``, ``guided_review_items``, ``user_streaks``
and ``trade_safety_reviews``; and the one probe of the ledger's and the journal's change stamps
that review's kept answers are checked against. Every statement is scoped by user (directly or
through the review); indexes named next to each."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection, errors
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from kifu.kit import locks, stamps

GUIDED_LOCK = "kifu.review.guided"
REVIEW_COLUMNS = "id, user_id, review_date, status, completed_at, created_at"
ITEM_COLUMNS = (
    "i.id, i.review_id, i.trade_id, i.bundle_key, i.symbol, i.side, i.pnl, i.trade_count,"
    " i.intent, i.emotions, i.pattern_match, i.memo, i.order_index, i.created_at"
)


async def lock_guided(conn: AsyncConnection, user_id: uuid.UUID) -> None:
    """Serialise the user's guided-review writes (get-or-create of a day, its items, the
    streak) until the transaction ends."""
    await locks.xact_lock(conn, GUIDED_LOCK, user_id)


async def zone_known(conn: AsyncConnection, name: str) -> bool:
    """Whether the server's tz database knows the zone (outside any transaction)."""
    try:
        await conn.execute("SELECT now() AT TIME ZONE %s", (name,))
    except errors.InvalidParameterValue:
        return False
    return True


async def change_stamps(conn: AsyncConnection, user_id: uuid.UUID) -> tuple[int | None, int | None]:
    """The user's ledger and journal change stamps (migration 130; None before their first
    change): both primary keys, one round trip."""
    return await stamps.read(
        conn,
        "SELECT (SELECT stamp FROM ledger_change_stamps WHERE user_id = %(u)s),"
        " (SELECT stamp FROM journal_change_stamps WHERE user_id = %(u)s)",
        user_id,
    )


async def day_stamps(conn: AsyncConnection, user_id: uuid.UUID) -> tuple[int | None, int | None]:
    """The user's ledger and review change stamps (migrations 130 and 133): what a day's guided
    review and safety check are computed from, their fills and review's own rows."""
    return await stamps.read(
        conn,
        "SELECT (SELECT stamp FROM ledger_change_stamps WHERE user_id = %(u)s),"
        " (SELECT stamp FROM review_change_stamps WHERE user_id = %(u)s)",
        user_id,
    )


async def review_stamp(conn: AsyncConnection, user_id: uuid.UUID) -> int | None:
    """The user's review change stamp (migration 133; None before their first change)."""
    return await stamps.read(
        conn, "SELECT (SELECT stamp FROM review_change_stamps WHERE user_id = %(u)s)", user_id
    )


async def _one(conn: AsyncConnection, sql: str, params: Any) -> dict | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, params)
        return await cur.fetchone()


async def _all(conn: AsyncConnection, sql: str, params: Any) -> list[dict]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, params)
        return await cur.fetchall()


# -- guided reviews (unique (user_id, review_date)) ---------------------------------------------


async def review_of_day(conn: AsyncConnection, user_id: uuid.UUID, day: date) -> dict | None:
    return await _one(
        conn,
        f"SELECT {REVIEW_COLUMNS} FROM guided_reviews WHERE user_id = %s AND review_date = %s",
        (user_id, day),
    )


async def get_or_create_review(
    conn: AsyncConnection, user_id: uuid.UUID, day: date
) -> tuple[dict, bool]:
    """The day's review, created ``pending`` when absent; True when this call created it. The
    unique key makes a second creator a reader even without the lock."""
    row = await _one(
        conn,
        "INSERT INTO guided_reviews (user_id, review_date) VALUES (%s, %s)"
        f" ON CONFLICT (user_id, review_date) DO NOTHING RETURNING {REVIEW_COLUMNS}",
        (user_id, day),
    )
    if row is not None:
        return row, True
    existing = await review_of_day(conn, user_id, day)
    assert existing is not None
    return existing, False


async def review_for_update(
    conn: AsyncConnection, user_id: uuid.UUID, review_id: uuid.UUID
) -> dict | None:
    return await _one(
        conn,
        f"SELECT {REVIEW_COLUMNS} FROM guided_reviews WHERE id = %s AND user_id = %s FOR UPDATE",
        (review_id, user_id),
    )


async def complete_review(conn: AsyncConnection, review_id: uuid.UUID) -> dict:
    """Mark completed; the first completion time is kept, so what counts as a late trade does
    not move when a review is completed again."""
    row = await _one(
        conn,
        "UPDATE guided_reviews SET status = 'completed', completed_at = coalesce(completed_at,"
        f" NOW()) WHERE id = %s RETURNING {REVIEW_COLUMNS}",
        (review_id,),
    )
    assert row is not None
    return row


async def start_review(conn: AsyncConnection, review_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE guided_reviews SET status = 'in_progress' WHERE id = %s AND status = 'pending'",
        (review_id,),
    )


# -- items (idx_guided_review_items_review) -------------------------------------------------


async def items_of(conn: AsyncConnection, review_id: uuid.UUID) -> list[dict]:
    return await _all(
        conn,
        f"SELECT {ITEM_COLUMNS} FROM guided_review_items i WHERE i.review_id = %s"
        " ORDER BY i.order_index, i.created_at, i.id",
        (review_id,),
    )


async def insert_items(
    conn: AsyncConnection, review_id: uuid.UUID, items: Sequence[dict[str, Any]]
) -> None:
    """Insert items (bundle_key, symbol, side, pnl, trade_count, order_index)."""
    if not items:
        return
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO guided_review_items (review_id, bundle_key, symbol, side, pnl,"
            " trade_count, order_index) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    review_id,
                    i["bundle_key"],
                    i["symbol"],
                    i["side"],
                    i["pnl"],
                    i["trade_count"],
                    i["order_index"],
                )
                for i in items
            ],
        )


async def update_item_counts(
    conn: AsyncConnection, item_id: uuid.UUID, side: str | None, pnl: Decimal, trade_count: int
) -> None:
    await conn.execute(
        "UPDATE guided_review_items SET side = %s, pnl = %s, trade_count = %s WHERE id = %s",
        (side, pnl, trade_count, item_id),
    )


async def delete_items(conn: AsyncConnection, ids: Sequence[uuid.UUID]) -> None:
    if ids:
        await conn.execute("DELETE FROM guided_review_items WHERE id = ANY(%s)", (list(ids),))


async def item_for_update(
    conn: AsyncConnection, user_id: uuid.UUID, item_id: uuid.UUID
) -> dict | None:
    """The item when its review is the user's, locked with its review."""
    return await _one(
        conn,
        f"SELECT {ITEM_COLUMNS}, r.status AS review_status FROM guided_review_items i"
        " JOIN guided_reviews r ON r.id = i.review_id"
        " WHERE i.id = %s AND r.user_id = %s FOR UPDATE",
        (item_id, user_id),
    )


async def answer_item(
    conn: AsyncConnection,
    item_id: uuid.UUID,
    intent: str,
    emotions: list[str] | None,
    pattern_match: str | None,
    memo: str | None,
) -> None:
    await conn.execute(
        "UPDATE guided_review_items SET intent = %s, emotions = %s, pattern_match = %s,"
        " memo = %s WHERE id = %s",
        (intent, Jsonb(emotions) if emotions is not None else None, pattern_match, memo, item_id),
    )


# -- streaks (primary key user_id) ---------------------------------------------------------------


async def streak_of(conn: AsyncConnection, user_id: uuid.UUID) -> dict | None:
    return await _one(
        conn,
        "SELECT user_id, current_streak, longest_streak, last_review_date, updated_at"
        " FROM user_streaks WHERE user_id = %s",
        (user_id,),
    )


async def put_streak(
    conn: AsyncConnection, user_id: uuid.UUID, current: int, longest: int, last: date | None
) -> dict:
    row = await _one(
        conn,
        "INSERT INTO user_streaks (user_id, current_streak, longest_streak, last_review_date,"
        " updated_at) VALUES (%s, %s, %s, %s, NOW())"
        " ON CONFLICT (user_id) DO UPDATE SET current_streak = EXCLUDED.current_streak,"
        " longest_streak = EXCLUDED.longest_streak,"
        " last_review_date = EXCLUDED.last_review_date, updated_at = NOW()"
        " RETURNING user_id, current_streak, longest_streak, last_review_date, updated_at",
        (user_id, current, longest, last),
    )
    assert row is not None
    return row


# -- safety reviews (ux_trade_safety_reviews_trade / _trade_event) -------------------------------

SAFETY_COLUMNS = "id, trade_id, trade_event_id, verdict, note, created_at, updated_at"


async def safety_reviews_of(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    event_ids: Sequence[uuid.UUID],
    trade_ids: Sequence[uuid.UUID],
) -> tuple[dict[uuid.UUID, dict], dict[uuid.UUID, dict]]:
    """The user's reviews of these events and of these trades rows, by target id."""
    rows = await _all(
        conn,
        f"SELECT {SAFETY_COLUMNS} FROM trade_safety_reviews WHERE user_id = %(u)s"
        " AND (trade_event_id = ANY(%(e)s::uuid[]) OR trade_id = ANY(%(t)s::uuid[]))",
        {"u": user_id, "e": list(event_ids), "t": list(trade_ids)},
    )
    by_event = {r["trade_event_id"]: r for r in rows if r["trade_event_id"] is not None}
    by_trade = {r["trade_id"]: r for r in rows if r["trade_id"] is not None}
    return by_event, by_trade


async def upsert_safety_review(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    target_type: str,
    target_id: uuid.UUID,
    verdict: str,
    note: str | None,
) -> dict:
    """One review per (user, target): a second post updates verdict, note and updated_at."""
    column = "trade_event_id" if target_type == "trade_event" else "trade_id"
    row = await _one(
        conn,
        f"INSERT INTO trade_safety_reviews (user_id, {column}, verdict, note)"
        " VALUES (%s, %s, %s, %s)"
        f" ON CONFLICT (user_id, {column}) WHERE {column} IS NOT NULL DO UPDATE SET"
        " verdict = EXCLUDED.verdict, note = EXCLUDED.note, updated_at = NOW()"
        f" RETURNING {SAFETY_COLUMNS}",
        (user_id, target_id, verdict, note),
    )
    assert row is not None
    return row

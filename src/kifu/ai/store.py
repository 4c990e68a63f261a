"""The AI capability's SQL: personal keys, provider models, the shared rate limiter, the one-shot
cache, opinions, and accuracy rows (written once per (opinion, outcome) by a unique key).

Reads of ``bubbles`` and ``outcomes`` here are joins for filtering and scoring only; single
bubbles are read through ``kifu.journal.queries``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from kifu.kit import stamps

# -- personal keys -------------------------------------------------------------------------------


async def keys_of(conn: AsyncConnection, user_id: uuid.UUID) -> dict[str, tuple[str, str]]:
    """provider → (encrypted key, last 4 characters)."""
    cur = await conn.execute(
        "SELECT provider, api_key_enc, api_key_last4 FROM user_ai_keys WHERE user_id = %s",
        (user_id,),
    )
    return {p: (enc, last4) for p, enc, last4 in await cur.fetchall()}


async def upsert_key(
    conn: AsyncConnection, user_id: uuid.UUID, provider: str, enc: str, last4: str
) -> None:
    await conn.execute(
        "INSERT INTO user_ai_keys (user_id, provider, api_key_enc, api_key_last4)"
        " VALUES (%s, %s, %s, %s) ON CONFLICT (user_id, provider) DO UPDATE"
        " SET api_key_enc = EXCLUDED.api_key_enc, api_key_last4 = EXCLUDED.api_key_last4",
        (user_id, provider, enc, last4),
    )


async def delete_key(conn: AsyncConnection, user_id: uuid.UUID, provider: str) -> bool:
    cur = await conn.execute(
        "DELETE FROM user_ai_keys WHERE user_id = %s AND provider = %s", (user_id, provider)
    )
    return cur.rowcount > 0


# -- providers -----------------------------------------------------------------------------------


async def enabled_models(conn: AsyncConnection) -> dict[str, str]:
    """provider name → model of its enabled row (the default one, else the newest), so several
    rows per name (the schema allows it) give one stable answer."""
    cur = await conn.execute(
        "SELECT DISTINCT ON (name) name, model FROM ai_providers WHERE enabled"
        " ORDER BY name, is_default DESC, created_at DESC, model"
    )
    return {name: model for name, model in await cur.fetchall()}


# -- rate limit ----------------------------------------------------------------------------------

# A token bucket per user: refill at `rate` tokens per second up to `burst`, take one. The upsert
# locks the user's row, so concurrent requests from several API processes queue on it.
_TAKE = """
INSERT INTO ai_rate_buckets AS b (user_id, tokens, refilled_at)
VALUES (%(user)s, %(burst)s - 1, %(now)s)
ON CONFLICT (user_id) DO UPDATE
SET tokens = LEAST(%(burst)s::float8, b.tokens + GREATEST(EXTRACT(EPOCH FROM (%(now)s - b.refilled_at)), 0) * %(rate)s) - 1,
    refilled_at = GREATEST(%(now)s, b.refilled_at)
WHERE LEAST(%(burst)s::float8, b.tokens + GREATEST(EXTRACT(EPOCH FROM (%(now)s - b.refilled_at)), 0) * %(rate)s) >= 1
RETURNING tokens
"""  # noqa: E501


async def take_token(
    conn: AsyncConnection, user_id: uuid.UUID, now: datetime, rate: float, burst: int
) -> float | None:
    """Take one token; None when the bucket is empty, else the tokens left."""
    cur = await conn.execute(_TAKE, {"user": user_id, "burst": burst, "now": now, "rate": rate})
    row = await cur.fetchone()
    return None if row is None else float(row[0])


async def bucket_level(
    conn: AsyncConnection, user_id: uuid.UUID, now: datetime, rate: float, burst: int
) -> float:
    cur = await conn.execute(
        "SELECT LEAST(%s::float8, tokens + GREATEST(EXTRACT(EPOCH FROM (%s - refilled_at)), 0)"
        " * %s) FROM ai_rate_buckets WHERE user_id = %s",
        (burst, now, rate, user_id),
    )
    row = await cur.fetchone()
    return float(burst) if row is None else float(row[0])


# -- one-shot cache ------------------------------------------------------------------------------


async def cached_answer(conn: AsyncConnection, key: str, now: datetime) -> dict[str, Any] | None:
    cur = await conn.execute(
        "SELECT answer FROM ai_one_shot_cache WHERE cache_key = %s AND expires_at > %s",
        (key, now),
    )
    row = await cur.fetchone()
    return None if row is None else row[0]


async def cache_answer(
    conn: AsyncConnection, key: str, user_id: uuid.UUID, answer: dict[str, Any], expires: datetime
) -> None:
    await conn.execute(
        "INSERT INTO ai_one_shot_cache (cache_key, user_id, answer, expires_at)"
        " VALUES (%s, %s, %s, %s) ON CONFLICT (cache_key) DO UPDATE"
        " SET answer = EXCLUDED.answer, expires_at = EXCLUDED.expires_at",
        (key, user_id, Jsonb(answer), expires),
    )


async def purge_cache(conn: AsyncConnection, now: datetime) -> int:
    cur = await conn.execute("DELETE FROM ai_one_shot_cache WHERE expires_at <= %s", (now,))
    return cur.rowcount


# -- opinions ------------------------------------------------------------------------------------

OPINION_COLUMNS = (
    "id, bubble_id, provider, model, response, tokens_used, created_at,"
    " verdict_direction, verdict_probability"
)


@dataclass(frozen=True)
class NewOpinion:
    provider: str
    model: str
    prompt: str
    response: str
    tokens_used: int | None
    verdict_direction: str | None
    verdict_probability: Decimal | None
    momentum_direction: str | None
    created_at: datetime | None = None  # None: now (only simulated opinions are back-dated)


async def insert_opinion(
    conn: AsyncConnection, bubble_id: uuid.UUID, o: NewOpinion
) -> dict[str, Any]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "INSERT INTO ai_opinions (bubble_id, provider, model, prompt_template, response,"
            " tokens_used, verdict_direction, verdict_probability, momentum_direction,"
            " created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, COALESCE(%s, NOW()))"
            f" RETURNING {OPINION_COLUMNS}",
            (
                bubble_id,
                o.provider,
                o.model,
                o.prompt,
                o.response,
                o.tokens_used,
                o.verdict_direction,
                o.verdict_probability,
                o.momentum_direction,
                o.created_at,
            ),
        )
        row = await cur.fetchone()
    assert row is not None
    return row


async def opinions_of(conn: AsyncConnection, bubble_id: uuid.UUID) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {OPINION_COLUMNS} FROM ai_opinions WHERE bubble_id = %s"
            " ORDER BY created_at DESC, id DESC",
            (bubble_id,),
        )
        return await cur.fetchall()


# -- scoring -------------------------------------------------------------------------------------

# Every (opinion, outcome) pair of the same bubble without an accuracy row, where the opinion was
# asked no later than the outcome's time (candle_time + period, floored to the minute, as the
# outcome job computes it): an opinion asked after that could have seen the answer.
_DUE = """
SELECT o.id AS opinion_id, o.provider, o.model, o.response, o.verdict_direction,
       o.verdict_probability, o.momentum_direction,
       oc.id AS outcome_id, oc.period, oc.pnl_percent, oc.bubble_id
FROM outcomes oc
JOIN bubbles b ON b.id = oc.bubble_id
JOIN ai_opinions o ON o.bubble_id = oc.bubble_id
WHERE o.created_at <= date_trunc('minute', b.candle_time + CASE oc.period
          WHEN '1h' THEN interval '1 hour' WHEN '4h' THEN interval '4 hours'
          ELSE interval '1 day' END)
  AND NOT EXISTS (SELECT 1 FROM ai_opinion_accuracies a
                  WHERE a.opinion_id = o.id AND a.outcome_id = oc.id)
ORDER BY oc.id, o.id
LIMIT %s
"""


async def due_pairs(conn: AsyncConnection, batch: int) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_DUE, (batch,))
        return await cur.fetchall()


async def insert_accuracies(conn: AsyncConnection, rows: list[tuple[Any, ...]]) -> int:
    """Insert scored pairs; a pair another worker scored first is skipped. Returns rows written."""
    if not rows:
        return 0
    written = 0
    async with conn.transaction(), conn.cursor() as cur:
        for row in rows:
            await cur.execute(
                "INSERT INTO ai_opinion_accuracies (opinion_id, outcome_id, bubble_id, provider,"
                " period, predicted_direction, actual_direction, is_correct, verdict_direction,"
                " verdict_probability, verdict_correct, momentum_direction, model)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (opinion_id, outcome_id) DO NOTHING",
                row,
            )
            written += cur.rowcount
    return written


# -- accuracy reads ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    user_id: uuid.UUID
    since: datetime | None
    asset_class: str | None
    venue: str | None


def _bubble_scope(s: Scope) -> tuple[str, list[Any]]:
    where = ["b.user_id = %s"]
    args: list[Any] = [s.user_id]
    if s.since is not None:
        where.append("b.candle_time >= %s")
        args.append(s.since)
    if s.asset_class:
        where.append("b.asset_class = %s")
        args.append(s.asset_class)
    if s.venue:
        where.append("b.venue_name = %s")
        args.append(s.venue)
    return " AND ".join(where), args


async def total_opinions(conn: AsyncConnection, s: Scope) -> tuple[int, datetime | None]:
    """How many opinions the scoped bubbles have, and the earliest candle time of those
    bubbles (the first to leave a period window as time goes on)."""
    where, args = _bubble_scope(s)
    cur = await conn.execute(
        "SELECT count(*), min(b.candle_time) FROM ai_opinions o JOIN bubbles b"
        f" ON b.id = o.bubble_id WHERE {where}",
        args,
    )
    row = await cur.fetchone()
    return (int(row[0]), row[1]) if row else (0, None)


async def change_stamps(conn: AsyncConnection, user_id: uuid.UUID) -> tuple[int | None, int | None]:
    """The user's AI and journal change stamps (migrations 133 and 130; None before their
    first change): what the accuracy report is computed from, the opinions and scores and the
    bubbles they are scoped by. Both primary keys, one round trip."""
    return await stamps.read(
        conn,
        "SELECT (SELECT stamp FROM ai_change_stamps WHERE user_id = %(u)s),"
        " (SELECT stamp FROM journal_change_stamps WHERE user_id = %(u)s)",
        user_id,
    )


async def scored_rows(conn: AsyncConnection, s: Scope, period: str | None) -> list[dict[str, Any]]:
    """Accuracy rows on the scoped bubbles, of one outcome period or (None) of all."""
    where, args = _bubble_scope(s)
    if period is not None:
        where += " AND a.period = %s"
        args.append(period)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT a.opinion_id, a.outcome_id, a.period, a.provider,"
            " COALESCE(a.model, o.model) AS model,"
            " a.predicted_direction, a.actual_direction, a.is_correct, a.verdict_direction,"
            " a.verdict_probability, a.verdict_correct, a.momentum_direction"
            " FROM ai_opinion_accuracies a JOIN bubbles b ON b.id = a.bubble_id"
            " JOIN ai_opinions o ON o.id = a.opinion_id"
            f" WHERE {where} ORDER BY a.provider, a.opinion_id",
            args,
        )
        return await cur.fetchall()


async def accuracies_of_bubble(conn: AsyncConnection, bubble_id: uuid.UUID) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT a.opinion_id, a.provider, COALESCE(a.model, o.model) AS model, a.period,"
            " a.predicted_direction, a.actual_direction, a.is_correct, oc.pnl_percent,"
            " a.verdict_direction, a.verdict_probability, a.verdict_correct, a.created_at"
            " FROM ai_opinion_accuracies a JOIN outcomes oc ON oc.id = a.outcome_id"
            " JOIN ai_opinions o ON o.id = a.opinion_id"
            " WHERE a.bubble_id = %s"
            " ORDER BY a.created_at DESC, o.created_at DESC, a.period, a.opinion_id",
            (bubble_id,),
        )
        return await cur.fetchall()

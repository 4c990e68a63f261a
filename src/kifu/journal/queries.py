"""The journal's read API for other capabilities: bubbles and their outcomes, folded in SQL.

Every query is per user and starts from ``idx_bubbles_user_candle_time`` (user_id, candle_time
DESC, id); outcomes are reached by their unique (bubble_id, period) key. Figures come back raw
(counts and exact ``Decimal`` sums); what they mean is the caller's business.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection

from kifu.journal import store

# count, wins (> 0), losses (< 0), Σ, max, min of pnl_percent
_AGG = (
    "count(o.pnl_percent) AS n,"
    " count(*) FILTER (WHERE o.pnl_percent > 0) AS wins,"
    " count(*) FILTER (WHERE o.pnl_percent < 0) AS losses,"
    " sum(o.pnl_percent) AS total, max(o.pnl_percent) AS best, min(o.pnl_percent) AS worst"
)

OutcomeRow = tuple[int, int, int, Decimal | None, Decimal | None, Decimal | None]


@dataclass(frozen=True)
class BubbleScope:
    """Which bubbles: candle_time ≥ ``since`` (None = all), exact symbol, one tag, asset class
    and venue name (compared case-insensitively)."""

    since: datetime | None = None
    symbol: str | None = None
    tag: str | None = None
    asset_class: str | None = None
    venue: str | None = None

    def where(self, user_id: uuid.UUID) -> tuple[str, dict[str, Any]]:
        parts = ["b.user_id = %(user)s"]
        params: dict[str, Any] = {"user": user_id}
        if self.since is not None:
            parts.append("b.candle_time >= %(since)s")
            params["since"] = self.since
        if self.symbol:
            parts.append("b.symbol = %(symbol)s")
            params["symbol"] = self.symbol
        if self.tag:
            parts.append("%(tag)s = ANY(b.tags)")
            params["tag"] = self.tag
        if self.asset_class:
            parts.append("lower(b.asset_class) = lower(%(ac)s)")
            params["ac"] = self.asset_class
        if self.venue:
            parts.append("lower(b.venue_name) = lower(%(venue)s)")
            params["venue"] = self.venue
        return " AND ".join(parts), params


@dataclass(frozen=True)
class OutcomeStats:
    total_bubbles: int
    bubbles_with_outcome: int
    by_period: dict[str, OutcomeRow]
    by_tag: dict[str, OutcomeRow]
    by_symbol: dict[str, OutcomeRow]
    earliest: datetime | None = None  # the scoped bubbles' first candle_time


def _row(r: tuple[Any, ...]) -> OutcomeRow:
    return (int(r[0]), int(r[1]), int(r[2]), r[3], r[4], r[5])


async def outcome_stats(
    conn: AsyncConnection, user_id: uuid.UUID, scope: BubbleScope
) -> OutcomeStats:
    """Counts of the scoped bubbles, and their outcomes folded per period (all periods) and, for
    1h outcomes, per tag and per symbol, and the first candle time among them: one statement,
    the scoped bubbles read once."""
    where, params = scope.where(user_id)
    agg = _AGG.replace("o.pnl_percent", "j.pnl_percent")
    cur = await conn.execute(
        f"WITH s AS (SELECT b.id, b.symbol, b.tags, b.candle_time FROM bubbles b WHERE {where}),"
        " j AS (SELECT s.symbol, s.tags, o.period, o.pnl_percent"
        "       FROM s JOIN outcomes o ON o.bubble_id = s.id)"
        " SELECT 'count', NULL, count(*), count(*) FILTER (WHERE EXISTS"
        "   (SELECT 1 FROM outcomes o WHERE o.bubble_id = s.id)), 0::bigint,"
        "   NULL::numeric, NULL::numeric, NULL::numeric, min(s.candle_time) FROM s"
        f" UNION ALL SELECT 'period', j.period, {agg}, NULL FROM j GROUP BY j.period"
        f" UNION ALL SELECT 'tag', t.tag, {agg}, NULL"
        "   FROM j CROSS JOIN LATERAL unnest(j.tags) AS t(tag)"
        "   WHERE j.period = '1h' GROUP BY t.tag"
        f" UNION ALL SELECT 'symbol', j.symbol, {agg}, NULL FROM j WHERE j.period = '1h'"
        "   GROUP BY j.symbol",
        params,
    )
    total = with_outcome = 0
    earliest = None
    groups: dict[str, dict[str, OutcomeRow]] = {"period": {}, "tag": {}, "symbol": {}}
    for r in await cur.fetchall():
        if r[0] == "count":
            total, with_outcome, earliest = int(r[2]), int(r[3]), r[8]
        else:
            groups[r[0]][r[1]] = _row(r[2:8])
    return OutcomeStats(
        total, with_outcome, groups["period"], groups["tag"], groups["symbol"], earliest
    )


@dataclass(frozen=True)
class DayRow:
    day: date
    bubbles: int
    with_outcome: int
    wins: int
    losses: int
    total: Decimal


async def outcomes_by_day(
    conn: AsyncConnection, user_id: uuid.UUID, start: datetime, end: datetime, zone: str
) -> list[DayRow]:
    """Bubbles with ``start <= candle_time < end``, grouped by the candle time's date in
    ``zone``, with their 1h outcomes: distinct bubbles, outcomes, wins (> 0), losses (< 0) and
    the Σ of pnl_percent."""
    cur = await conn.execute(
        "SELECT (b.candle_time AT TIME ZONE %(zone)s)::date AS day, count(*),"
        " count(o.pnl_percent), count(*) FILTER (WHERE o.pnl_percent > 0),"
        " count(*) FILTER (WHERE o.pnl_percent < 0), coalesce(sum(o.pnl_percent), 0)"
        " FROM bubbles b LEFT JOIN outcomes o ON o.bubble_id = b.id AND o.period = '1h'"
        " WHERE b.user_id = %(user)s AND b.candle_time >= %(start)s AND b.candle_time < %(end)s"
        " GROUP BY 1 ORDER BY 1",
        {"user": user_id, "start": start, "end": end, "zone": zone},
    )
    return [
        DayRow(r[0], int(r[1]), int(r[2]), int(r[3]), int(r[4]), r[5]) for r in await cur.fetchall()
    ]


async def bubble_of(
    conn: AsyncConnection, user_id: uuid.UUID, bubble_id: uuid.UUID
) -> dict[str, Any] | None:
    """The user's bubble (id, symbol, timeframe, candle_time, price, memo, tags, labels), or None
    when it does not exist or belongs to someone else."""
    return await store.get_bubble(conn, user_id, bubble_id)


async def outcomes_of(conn: AsyncConnection, bubble_id: uuid.UUID) -> dict[str, dict[str, Any]]:
    """The bubble's outcomes by period (``1h``/``4h``/``1d``) that have been computed."""
    return await store.outcomes_of(conn, bubble_id)

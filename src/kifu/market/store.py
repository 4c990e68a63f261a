"""SQL for the candle cache (closed candles and fetched windows) and venue cooldowns."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from psycopg import AsyncConnection

from kifu.market.rules import Candle


async def window_covered(
    conn: AsyncConnection, venue: str, symbol: str, interval: str, start: datetime, end: datetime
) -> bool:
    """True when one fetched window holds every candle open time in [start, end]."""
    cur = await conn.execute(
        "SELECT 1 FROM market_candle_windows"
        " WHERE source = %s AND symbol = %s AND interval = %s AND start_at <= %s AND end_at >= %s"
        " LIMIT 1",
        (venue, symbol, interval, start, end),
    )
    return await cur.fetchone() is not None


async def uncovered(
    conn: AsyncConnection,
    venue: str,
    symbol: str,
    interval: str,
    ranges: Sequence[tuple[datetime, datetime]],
) -> list[int]:
    """Indexes of ``ranges`` that no single fetched window covers."""
    if not ranges:
        return []
    cur = await conn.execute(
        "SELECT r.i FROM unnest(%s::timestamptz[], %s::timestamptz[]) WITH ORDINALITY"
        "   AS r(a, b, i)"
        " WHERE NOT EXISTS (SELECT 1 FROM market_candle_windows w"
        "   WHERE w.source = %s AND w.symbol = %s AND w.interval = %s"
        "     AND w.start_at <= r.a AND w.end_at >= r.b)"
        " ORDER BY r.i",
        ([a for a, _ in ranges], [b for _, b in ranges], venue, symbol, interval),
    )
    return [int(row[0]) - 1 for row in await cur.fetchall()]


async def load(
    conn: AsyncConnection, venue: str, symbol: str, interval: str, start: datetime, end: datetime
) -> list[Candle]:
    cur = await conn.execute(
        "SELECT open_time, open, high, low, close, volume FROM market_candles"
        " WHERE source = %s AND symbol = %s AND interval = %s AND open_time BETWEEN %s AND %s"
        " ORDER BY open_time",
        (venue, symbol, interval, start, end),
    )
    return [Candle(*row) for row in await cur.fetchall()]


async def save_window(
    conn: AsyncConnection,
    venue: str,
    symbol: str,
    interval: str,
    start: datetime,
    end: datetime,
    candles: Sequence[Candle],
) -> None:
    """Store closed candles and record [start, end] as fetched, atomically."""
    async with conn.transaction():
        if candles:
            async with conn.cursor() as cur:
                await cur.executemany(
                    "INSERT INTO market_candles"
                    " (source, symbol, interval, open_time, open, high, low, close, volume)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (source, symbol, interval, open_time) DO NOTHING",
                    [
                        (
                            venue,
                            symbol,
                            interval,
                            c.open_time,
                            c.open,
                            c.high,
                            c.low,
                            c.close,
                            c.volume,
                        )
                        for c in candles
                    ],
                )
        await conn.execute(
            "INSERT INTO market_candle_windows (source, symbol, interval, start_at, end_at)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (venue, symbol, interval, start, end),
        )


async def closes_at(
    conn: AsyncConnection,
    venue: str,
    symbol: str,
    targets: Sequence[datetime],
    lookback: timedelta,
) -> dict[datetime, Decimal]:
    """For each target minute, the close of the newest cached 1m candle in [target−lookback,
    target]. Targets without one are absent."""
    if not targets:
        return {}
    cur = await conn.execute(
        "SELECT t.at, c.close FROM unnest(%s::timestamptz[]) AS t(at)"
        " CROSS JOIN LATERAL (SELECT close FROM market_candles"
        "   WHERE source = %s AND symbol = %s AND interval = '1m'"
        "     AND open_time <= t.at AND open_time >= t.at - %s"
        "   ORDER BY open_time DESC LIMIT 1) c",
        (list(targets), venue, symbol, lookback),
    )
    return {row[0]: row[1] for row in await cur.fetchall()}


async def cooldown_until(conn: AsyncConnection, venue: str, now: datetime) -> datetime | None:
    cur = await conn.execute(
        "SELECT until FROM market_cooldowns WHERE venue = %s AND until > %s", (venue, now)
    )
    row = await cur.fetchone()
    return row[0] if row else None


async def set_cooldown(conn: AsyncConnection, venue: str, until: datetime, reason: str) -> None:
    await conn.execute(
        "INSERT INTO market_cooldowns (venue, until, reason, updated_at)"
        " VALUES (%s, %s, %s, NOW())"
        " ON CONFLICT (venue) DO UPDATE SET until = GREATEST(market_cooldowns.until,"
        "   EXCLUDED.until), reason = EXCLUDED.reason, updated_at = NOW()",
        (venue, until, reason[:500]),
    )

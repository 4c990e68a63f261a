"""SQL for the candle cache (closed candles and fetched windows) and venue cooldowns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
from psycopg import AsyncConnection, pq
from psycopg.types.multirange import Multirange
from psycopg.types.range import Range

from kifu.kit import pgarray
from kifu.market.rules import Candle


async def windows_over(
    conn: AsyncConnection,
    venue: str,
    symbol: str,
    interval: str,
    spans: Sequence[tuple[datetime, datetime]],
    longest: timedelta,
) -> list[tuple[datetime, datetime]]:
    """The fetched windows that share a candle with any of ``spans``, each once. Windows are
    found by their start, at most ``longest`` before a span (none is longer)."""
    if not spans:
        return []
    cur = await conn.execute(
        "SELECT DISTINCT w.start_at, w.end_at"
        " FROM unnest(%s::timestamptz[], %s::timestamptz[]) AS r(a, b)"
        " JOIN market_candle_windows w ON w.source = %s AND w.symbol = %s AND w.interval = %s"
        "   AND w.start_at BETWEEN r.a - %s AND r.b AND w.end_at >= r.a",
        (
            pgarray.literal(a for a, _ in spans),
            pgarray.literal(b for _, b in spans),
            venue,
            symbol,
            interval,
            longest,
        ),
    )
    return [(a, b) for a, b in await cur.fetchall()]


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


_EPOCH, _MS = datetime(1970, 1, 1, tzinfo=UTC), timedelta(milliseconds=1)


@dataclass(frozen=True)
class Columns:
    """Candles as PostgreSQL array literals, one a column: open times in epoch milliseconds, then
    open, high, low, close and volume; every element a plain number (digits, sign, point,
    exponent), so none needs quoting."""

    ms: str
    open: str
    high: str
    low: str
    close: str
    volume: str


def columns_of(candles: Sequence[Candle]) -> Columns:
    """The columns of parsed candles (their values are finite: ``Candle`` holds no other)."""
    return Columns(
        pgarray.literal((c.open_time - _EPOCH) // _MS for c in candles),
        *(
            pgarray.literal(getattr(c, f) for c in candles)
            for f in ("open", "high", "low", "close", "volume")
        ),
    )


def _save_window_sql(*, only_new: bool) -> str:
    """One statement: the answer's candles that open in [start, end] (``only_new``: in the
    ``new`` spans only, inserted as they are) and the window."""
    if only_new:
        which, conflict = "AND c.open_time <@ %(new)s::tstzmultirange", ""
    else:
        which, conflict = "", "ON CONFLICT (source, symbol, interval, open_time) DO NOTHING"
    return f"""
WITH c AS (
    SELECT to_timestamp(c.ms / 1000.0) AS open_time, c.open, c.high, c.low, c.close, c.volume
    FROM unnest(%(ms)s::bigint[], %(open)s::numeric[], %(high)s::numeric[], %(low)s::numeric[],
                %(close)s::numeric[], %(volume)s::numeric[])
        AS c(ms, open, high, low, close, volume)
), candles AS (
    INSERT INTO market_candles
        (source, symbol, interval, open_time, open, high, low, close, volume)
    SELECT %(venue)s, %(symbol)s, %(interval)s, c.* FROM c
    WHERE c.open_time BETWEEN %(start)s AND %(end)s {which}
    {conflict}
)
INSERT INTO market_candle_windows (source, symbol, interval, start_at, end_at)
VALUES (%(venue)s, %(symbol)s, %(interval)s, %(start)s, %(end)s)
ON CONFLICT DO NOTHING
"""


_SAVE_WINDOW = _save_window_sql(only_new=False)
_SAVE_NEW = _save_window_sql(only_new=True)


def _stands_alone(conn: AsyncConnection) -> bool:
    """Whether a statement on ``conn`` is its own transaction: autocommit, and no transaction
    block open (``ACTIVE``: another task's statement is running on it, as when an outcome job
    given no ``connect`` prices its symbols on its one connection, whose statements each stand
    alone)."""
    return conn.autocommit and conn.info.transaction_status in (
        pq.TransactionStatus.IDLE,
        pq.TransactionStatus.ACTIVE,
    )


async def save_window(
    conn: AsyncConnection,
    venue: str,
    symbol: str,
    interval: str,
    start: datetime,
    end: datetime,
    candles: Columns,
    new: Sequence[tuple[datetime, datetime]] | None = None,
) -> None:
    """Store the closed candles that open in [start, end] and record [start, end] as fetched:
    one statement, so both land or neither. Elements that are not numbers PostgreSQL takes
    raise ``psycopg.DataError`` (and store nothing).

    ``new``: the spans of [start, end] that held no cached candle when the request was planned
    (``rules.uncached_parts``); the others are not stored again. Outside a transaction, their
    candles are then inserted without ``ON CONFLICT`` (a speculative insertion costs 75% more
    than a plain one: 1.08 s against 0.61 s for 205,064 candles); only when another worker
    stored some of them in the meantime (a unique violation, which undoes the whole statement)
    is the write made again, skipping every stored candle. In a transaction it is made that
    way at once: a failed statement would abort the caller's transaction."""
    params = {
        "venue": venue,
        "symbol": symbol,
        "interval": interval,
        "start": start,
        "end": end,
        "ms": candles.ms,
        "open": candles.open,
        "high": candles.high,
        "low": candles.low,
        "close": candles.close,
        "volume": candles.volume,
    }
    if new is not None and _stands_alone(conn):
        params["new"] = Multirange([Range(a, b, "[]") for a, b in new])
        try:
            await conn.execute(_SAVE_NEW, params)
            return
        except psycopg.errors.UniqueViolation:
            pass
    await conn.execute(_SAVE_WINDOW, params)


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
        (pgarray.literal(targets), venue, symbol, lookback),
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

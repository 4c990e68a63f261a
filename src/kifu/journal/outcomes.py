"""The outcome job: what the price did 1h, 4h and 1d after each bubble (reference §4.5).

    target      = floor_to_minute(bubble.candle_time + period)
    reference   = bubble.price
    outcome     = close of the 1-minute candle at target
    pnl_percent = (outcome − reference) / reference × 100, exact, rounded to 8 decimals

Safe on several workers: work is claimed in ``outcome_attempts`` with an upsert that only takes
rows nobody holds (a claim is a lease; a crashed worker's claims free up after ``LEASE``), and
outcomes are inserted with ON CONFLICT DO NOTHING. Bubbles whose symbol has no price source are
marked ``skipped`` once; candles not available yet are retried with a growing delay; a venue's
rate limit defers only that venue's bubbles until its cooldown ends.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from psycopg import AsyncConnection

from kifu.journal import rules
from kifu.kit import money
from kifu.kit.timeutil import utc_now
from kifu.market import MarketData, RateLimited, SymbolUnsupported, UpstreamFailed
from kifu.market.rules import Unsupported

log = logging.getLogger("kifu.journal.outcomes")

LEASE = timedelta(minutes=10)
MAX_BACKOFF = timedelta(hours=1)
NOT_CLOSED_DELAY = timedelta(minutes=1)


@dataclass
class OutcomeRun:
    claimed: int = 0
    computed: int = 0
    skipped: int = 0
    deferred: int = 0


@dataclass
class _Work:
    bubble_id: uuid.UUID
    period: str
    attempts: int
    symbol: str
    price: Decimal
    target: datetime


_CLAIM = """
WITH due AS (
    SELECT b.id AS bubble_id, p.period
    FROM bubbles b
    CROSS JOIN (VALUES ('1h', interval '1 hour'), ('4h', interval '4 hours'),
                       ('1d', interval '1 day')) AS p(period, span)
    WHERE b.candle_time <= %(now)s - p.span
      AND NOT EXISTS (SELECT 1 FROM outcomes o
                      WHERE o.bubble_id = b.id AND o.period = p.period)
      AND NOT EXISTS (SELECT 1 FROM outcome_attempts a
                      WHERE a.bubble_id = b.id AND a.period = p.period
                        AND (a.status = 'skipped' OR a.next_attempt_at > %(now)s))
    ORDER BY b.candle_time, b.id
    LIMIT %(batch)s
), claimed AS (
    INSERT INTO outcome_attempts AS a (bubble_id, period, status, attempts, next_attempt_at)
    SELECT bubble_id, period, 'retry', 1, %(lease)s FROM due
    ON CONFLICT (bubble_id, period) DO UPDATE
        SET attempts = a.attempts + 1, next_attempt_at = EXCLUDED.next_attempt_at,
            updated_at = NOW()
        WHERE a.status = 'retry' AND a.next_attempt_at <= %(now)s
    RETURNING a.bubble_id, a.period, a.attempts
)
SELECT c.bubble_id, c.period, c.attempts, b.symbol, b.price, b.candle_time
FROM claimed c JOIN bubbles b ON b.id = c.bubble_id
"""


async def _claim(conn: AsyncConnection, now: datetime, batch: int) -> list[_Work]:
    cur = await conn.execute(_CLAIM, {"now": now, "batch": batch, "lease": now + LEASE})
    return [
        _Work(bid, period, attempts, symbol, price, rules.outcome_target(candle_time, period))
        for bid, period, attempts, symbol, price, candle_time in await cur.fetchall()
    ]


async def _defer(
    conn: AsyncConnection, items: list[_Work], until: datetime | None, now: datetime, error: str
) -> None:
    rows = []
    for w in items:
        when = until or now + min(timedelta(minutes=2 ** min(w.attempts - 1, 10)), MAX_BACKOFF)
        rows.append((when, error[:500], w.bubble_id, w.period))
    async with conn.cursor() as cur:
        await cur.executemany(
            "UPDATE outcome_attempts SET status = 'retry', next_attempt_at = %s, last_error = %s,"
            " updated_at = NOW() WHERE bubble_id = %s AND period = %s",
            rows,
        )


async def _skip(conn: AsyncConnection, items: list[_Work], reason: str) -> None:
    async with conn.cursor() as cur:
        await cur.executemany(
            "UPDATE outcome_attempts SET status = 'skipped', last_error = %s, updated_at = NOW()"
            " WHERE bubble_id = %s AND period = %s",
            [(reason[:500], w.bubble_id, w.period) for w in items],
        )


async def _store(conn: AsyncConnection, done: list[tuple[_Work, Decimal, Decimal]]) -> None:
    async with conn.transaction(), conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO outcomes (bubble_id, period, reference_price, outcome_price, pnl_percent)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (bubble_id, period) DO NOTHING",
            [(w.bubble_id, w.period, w.price, close, pnl) for w, close, pnl in done],
        )
        await cur.executemany(
            "DELETE FROM outcome_attempts WHERE bubble_id = %s AND period = %s",
            [(w.bubble_id, w.period) for w, _, _ in done],
        )


async def _process(
    conn: AsyncConnection, market: MarketData, work: list[_Work], now: datetime, run: OutcomeRun
) -> None:
    by_symbol: dict[str, list[_Work]] = defaultdict(list)
    for w in work:
        by_symbol[w.symbol].append(w)
    for symbol, items in sorted(by_symbol.items()):
        bad_price = [w for w in items if w.price is None or w.price <= 0]
        if bad_price:
            await _skip(conn, bad_price, "reference price is not positive")
            run.skipped += len(bad_price)
            items = [w for w in items if w not in bad_price]
        if not items:
            continue
        try:
            market.source_of(symbol)
        except Unsupported as exc:
            await _skip(conn, items, f"no price source: {exc}")
            run.skipped += len(items)
            continue
        try:
            closes = await market.minute_closes(conn, symbol, [w.target for w in items])
        except SymbolUnsupported as exc:
            await _skip(conn, items, exc.message)
            run.skipped += len(items)
            continue
        except RateLimited as exc:
            await _defer(conn, items, exc.until, now, exc.message)
            run.deferred += len(items)
            continue
        except UpstreamFailed as exc:
            log.warning("outcomes for %s: %s", symbol, exc.message)
            await _defer(conn, items, None, now, exc.message)
            run.deferred += len(items)
            continue
        done, waiting = [], []
        for w in items:
            close = closes.get(w.target)
            if close is None:
                waiting.append(w)
            else:
                done.append((w, close, money.pnl_percent(w.price, close)))
        if done:
            await _store(conn, done)
            run.computed += len(done)
        if waiting:
            await _defer_waiting(conn, waiting, now)
            run.deferred += len(waiting)


async def _defer_waiting(conn: AsyncConnection, items: list[_Work], now: datetime) -> None:
    """No candle for the target yet: right after it closes, or with backoff when it is old
    (a halted market)."""
    fresh = [w for w in items if w.target + NOT_CLOSED_DELAY >= now]
    stale = [w for w in items if w.target + NOT_CLOSED_DELAY < now]
    if fresh:
        await _defer(conn, fresh, now + NOT_CLOSED_DELAY, now, "candle not closed yet")
    if stale:
        await _defer(conn, stale, None, now, "no candle within 5 minutes of the target")


async def compute_due_outcomes(
    conn: AsyncConnection,
    market: MarketData,
    now: datetime | None = None,
    *,
    batch: int = 1000,
    max_rounds: int = 100,
) -> OutcomeRun:
    """Compute every due outcome (up to ``batch × max_rounds`` per call), oldest bubbles first.

    ``conn`` must be in autocommit mode. Returns counts for logs and benchmarks."""
    now = now or utc_now()
    run = OutcomeRun()
    for _ in range(max_rounds):
        work = await _claim(conn, now, batch)
        if not work:
            break
        run.claimed += len(work)
        await _process(conn, market, work, now, run)
    return run

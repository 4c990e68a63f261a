"""The alert outcome job: what the price did 1h, 4h and 1d after each decision (reference §4.10).

    target      = floor_to_minute(decision.created_at + period)
    reference   = alert.trigger_price
    outcome     = close of the 1-minute candle at target (from ``kifu.market``)
    pnl_percent = (outcome − reference) / reference × 100, rounded to 8 decimals

Safe on several workers, computed once each: work is claimed in ``alert_outcome_attempts`` (a
lease; a crashed worker's claims free up after ``LEASE``) and outcomes are inserted with ON
CONFLICT (alert_id, period) DO NOTHING. Symbols without a price source are marked ``skipped``
once; candles not there yet are retried with a growing delay; a venue's rate limit defers that
symbol until its cooldown ends.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from psycopg import AsyncConnection

from kifu.alerts import rules
from kifu.kit import money
from kifu.kit.timeutil import utc_now
from kifu.market import MarketData, RateLimited, SymbolUnsupported, UpstreamFailed

log = logging.getLogger("kifu.alerts.outcomes")

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
    alert_id: uuid.UUID
    decision_id: uuid.UUID
    period: str
    attempts: int
    symbol: str
    price: Decimal
    target: datetime


_CLAIM = """
WITH due AS (
    SELECT a.id AS alert_id, p.period
    FROM alert_decisions d
    JOIN alerts a ON a.id = d.alert_id
    CROSS JOIN (VALUES ('1h', interval '1 hour'), ('4h', interval '4 hours'),
                       ('1d', interval '1 day')) AS p(period, span)
    WHERE d.created_at <= %(now)s - p.span
      AND NOT EXISTS (SELECT 1 FROM alert_outcomes o
                      WHERE o.alert_id = a.id AND o.period = p.period)
      AND NOT EXISTS (SELECT 1 FROM alert_outcome_attempts t
                      WHERE t.alert_id = a.id AND t.period = p.period
                        AND (t.status = 'skipped' OR t.next_attempt_at > %(now)s))
    ORDER BY d.created_at, a.id
    LIMIT %(batch)s
), claimed AS (
    INSERT INTO alert_outcome_attempts AS t (alert_id, period, status, attempts, next_attempt_at)
    SELECT alert_id, period, 'retry', 1, %(lease)s FROM due
    ON CONFLICT (alert_id, period) DO UPDATE
        SET attempts = t.attempts + 1, next_attempt_at = EXCLUDED.next_attempt_at,
            updated_at = NOW()
        WHERE t.status = 'retry' AND t.next_attempt_at <= %(now)s
    RETURNING t.alert_id, t.period, t.attempts
)
SELECT c.alert_id, d.id, c.period, c.attempts, a.symbol, a.trigger_price, d.created_at
FROM claimed c
JOIN alerts a ON a.id = c.alert_id
JOIN alert_decisions d ON d.alert_id = c.alert_id
"""


async def _claim(conn: AsyncConnection, now: datetime, batch: int) -> list[_Work]:
    cur = await conn.execute(_CLAIM, {"now": now, "batch": batch, "lease": now + LEASE})
    return [
        _Work(aid, did, period, attempts, symbol, price, rules.outcome_target(decided, period))
        for aid, did, period, attempts, symbol, price, decided in await cur.fetchall()
    ]


async def _defer(
    conn: AsyncConnection, items: list[_Work], until: datetime | None, now: datetime, error: str
) -> None:
    rows = []
    for w in items:
        when = until or now + min(timedelta(minutes=2 ** min(w.attempts - 1, 10)), MAX_BACKOFF)
        rows.append((when, error[:500], w.alert_id, w.period))
    async with conn.cursor() as cur:
        await cur.executemany(
            "UPDATE alert_outcome_attempts SET status = 'retry', next_attempt_at = %s,"
            " last_error = %s, updated_at = NOW() WHERE alert_id = %s AND period = %s",
            rows,
        )


async def _skip(conn: AsyncConnection, items: list[_Work], reason: str) -> None:
    async with conn.cursor() as cur:
        await cur.executemany(
            "UPDATE alert_outcome_attempts SET status = 'skipped', last_error = %s,"
            " updated_at = NOW() WHERE alert_id = %s AND period = %s",
            [(reason[:500], w.alert_id, w.period) for w in items],
        )


async def _store(conn: AsyncConnection, done: list[tuple[_Work, Decimal, Decimal]]) -> None:
    async with conn.transaction(), conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO alert_outcomes (alert_id, decision_id, period, reference_price,"
            " outcome_price, pnl_percent) VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (alert_id, period) DO NOTHING",
            [(w.alert_id, w.decision_id, w.period, w.price, c, pnl) for w, c, pnl in done],
        )
        await cur.executemany(
            "DELETE FROM alert_outcome_attempts WHERE alert_id = %s AND period = %s",
            [(w.alert_id, w.period) for w, _, _ in done],
        )


async def _process(
    conn: AsyncConnection, market: MarketData, work: list[_Work], now: datetime, run: OutcomeRun
) -> None:
    by_symbol: dict[str, list[_Work]] = defaultdict(list)
    for w in work:
        by_symbol[w.symbol].append(w)
    for symbol, items in sorted(by_symbol.items()):
        bad = [w for w in items if w.price <= 0]
        if bad:
            await _skip(conn, bad, "trigger price is not positive")
            run.skipped += len(bad)
            items = [w for w in items if w.price > 0]
            if not items:
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
            log.warning("alert outcomes for %s: %s", symbol, exc.message)
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
        fresh = [w for w in waiting if w.target + NOT_CLOSED_DELAY >= now]
        stale = [w for w in waiting if w.target + NOT_CLOSED_DELAY < now]
        if fresh:
            await _defer(conn, fresh, now + NOT_CLOSED_DELAY, now, "candle not closed yet")
        if stale:
            await _defer(conn, stale, None, now, "no candle within 5 minutes of the target")
        run.deferred += len(waiting)


async def compute_due_outcomes(
    conn: AsyncConnection,
    market: MarketData,
    now: datetime | None = None,
    *,
    batch: int = 500,
    max_rounds: int = 20,
) -> OutcomeRun:
    """Compute the alert outcomes due at ``now`` (``conn`` in autocommit mode)."""
    now = now or utc_now()
    run = OutcomeRun()
    for _ in range(max_rounds):
        work = await _claim(conn, now, batch)
        if not work:
            break
        run.claimed += len(work)
        await _process(conn, market, work, now, run)
    return run

"""The outcome job: what the price did 1h, 4h and 1d after each bubble (reference §4.5).

    target      = floor_to_minute(bubble.candle_time + period)
    reference   = bubble.price
    outcome     = close of the 1-minute candle at target
    pnl_percent = (outcome − reference) / reference × 100, exact, rounded to 8 decimals

Safe on several workers: work is claimed in ``outcome_attempts`` with an upsert that only takes
rows nobody holds (a claim is a lease; a crashed worker's claims free up after ``LEASE``), and
outcomes are inserted with ON CONFLICT DO NOTHING. One pass over the tables reads the due work of
many rounds; each round then claims its keys, checked again. Bubbles whose symbol has no price
source are marked ``skipped`` once; candles not available yet are retried with a growing delay; a
venue's rate limit defers only that venue's bubbles until its cooldown ends.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from psycopg import AsyncConnection

from kifu.accounts import service as accounts
from kifu.journal import rules
from kifu.kit import pgarray
from kifu.market import MarketData
from kifu.market import outcomes as engine
from kifu.market.outcomes import LEASE, OutcomeRun

__all__ = ["OutcomeRun", "compute_due_outcomes"]


_ATTEMPTS = engine.Attempts("outcome_attempts", "bubble_id")


@dataclass
class _Work:
    bubble_id: uuid.UUID
    period: str
    attempts: int
    symbol: str
    price: Decimal
    target: datetime

    @property
    def key(self) -> uuid.UUID:
        return self.bubble_id


_PERIODS = (
    "(VALUES ('1h', interval '1 hour'), ('4h', interval '4 hours'), ('1d', interval '1 day'))"
)
# Due at ``now``: the period has passed, there is no outcome, and nobody holds or skipped it.
_OPEN = """b.candle_time <= %(now)s - p.span
      AND NOT EXISTS (SELECT 1 FROM outcomes o
                      WHERE o.bubble_id = b.id AND o.period = p.period)
      AND NOT EXISTS (SELECT 1 FROM outcome_attempts a
                      WHERE a.bubble_id = b.id AND a.period = p.period
                        AND (a.status = 'skipped' OR a.next_attempt_at > %(now)s))"""
# The due work, oldest bubble first: one pass over the tables for many rounds ...
_DUE = f"""
SELECT b.id, p.period
FROM bubbles b CROSS JOIN {_PERIODS} AS p(period, span)
WHERE {_OPEN}
ORDER BY b.candle_time, b.id, p.period
LIMIT %(limit)s
"""
# ... claimed a round at a time, each key checked again (another worker may have taken it).
_CLAIM = f"""
WITH due AS (
    SELECT b.id AS bubble_id, p.period
    FROM unnest(%(ids)s::uuid[], %(periods)s::text[]) AS k(bubble_id, period)
    JOIN bubbles b ON b.id = k.bubble_id
    JOIN {_PERIODS} AS p(period, span) ON p.period = k.period
    WHERE {_OPEN}
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
# Rounds of due work read in one pass (a pass costs about as much as a round's claim).
_ROUNDS_A_PASS = 16


# Outcomes land once each (ON CONFLICT) and their claims go with them, in one statement.
_STORE = """
WITH done AS (
    SELECT * FROM unnest(%s::uuid[], %s::text[], %s::numeric[], %s::numeric[], %s::numeric[])
        AS d(bubble_id, period, reference_price, outcome_price, pnl_percent)
), saved AS (
    INSERT INTO outcomes (bubble_id, period, reference_price, outcome_price, pnl_percent)
    SELECT * FROM done
    ON CONFLICT (bubble_id, period) DO NOTHING
)
DELETE FROM outcome_attempts a USING done d WHERE a.bubble_id = d.bubble_id AND a.period = d.period
"""


class _Outcomes:
    """``outcomes`` and their claims in ``outcome_attempts`` (``kifu.market.outcomes`` runs
    the job)."""

    attempts = _ATTEMPTS
    bad_price = "reference price is not positive"

    def __init__(self) -> None:
        self._due: deque[tuple[uuid.UUID, str]] = deque()  # read, not claimed yet
        self._all_read = False  # the last pass found less than it could take

    async def claim(self, conn: AsyncConnection, now: datetime, batch: int) -> list[_Work]:
        params: dict[str, object] = {"now": now, "lease": now + LEASE}
        while True:
            if not self._due:
                if self._all_read:
                    return []
                limit = batch * _ROUNDS_A_PASS
                cur = await conn.execute(_DUE, {**params, "limit": limit})
                self._due.extend(await cur.fetchall())
                self._all_read = len(self._due) < limit
                if not self._due:
                    return []
            keys = [self._due.popleft() for _ in range(min(batch, len(self._due)))]
            cur = await conn.execute(
                _CLAIM,
                {
                    **params,
                    "ids": pgarray.literal(k[0] for k in keys),
                    "periods": pgarray.literal(k[1] for k in keys),
                },
            )
            rows = await cur.fetchall()
            if rows:  # none: another worker took all of these keys; try the next ones
                return [
                    _Work(
                        bid, period, attempts, symbol, price, rules.outcome_target(candle, period)
                    )
                    for bid, period, attempts, symbol, price, candle in rows
                ]

    async def store(
        self, conn: AsyncConnection, done: Sequence[tuple[_Work, Decimal, Decimal]]
    ) -> None:
        await conn.execute(
            _STORE,
            (
                pgarray.literal(w.bubble_id for w, _, _ in done),
                pgarray.literal(w.period for w, _, _ in done),
                pgarray.literal(w.price for w, _, _ in done),
                pgarray.literal(close for _, close, _ in done),
                pgarray.literal(pnl for _, _, pnl in done),
            ),
        )


async def compute_due_outcomes(
    conn: AsyncConnection,
    market: MarketData,
    now: datetime | None = None,
    *,
    batch: int = 1000,
    max_rounds: int = 100,
    connect: engine.Connect | None = None,
) -> OutcomeRun:
    """Compute every due bubble outcome (up to ``batch × max_rounds`` per call), oldest bubbles
    first. ``conn`` must be in autocommit mode; ``connect`` opens more such connections for the
    symbols' candles (``engine.compute_due``). Returns counts for logs and benchmarks."""
    return await engine.compute_due(
        _Outcomes(), conn, market, now, batch=batch, max_rounds=max_rounds, connect=connect
    )


# -- simulated outcomes (the sandbox user of ``kifu demo`` only) -------------------------------

SIMULATED_NOTE = "simulated journal (kifu demo): no market outcome"


@dataclass(frozen=True)
class SimulatedOutcome:
    bubble_id: uuid.UUID
    period: str
    outcome_price: Decimal
    pnl_percent: Decimal


async def record_simulated(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    outcomes: list[SimulatedOutcome],
    *,
    bubble_ids: list[uuid.UUID],
) -> int:
    """Store simulated outcomes for bubbles of ``user_id`` (only a sandbox user: anyone else is
    refused), and mark every other period of ``bubble_ids`` ``skipped`` so the outcome job never
    prices a simulated bubble with real candles. No candle is written anywhere. Returns the
    outcomes stored."""
    if not await accounts.is_sandbox(conn, user_id):
        raise ValueError("simulated outcomes are written for sandbox users only")
    written = 0
    async with conn.transaction(), conn.cursor() as cur:
        for o in outcomes:
            await cur.execute(
                "INSERT INTO outcomes (bubble_id, period, reference_price, outcome_price,"
                " pnl_percent) SELECT b.id, %s, b.price, %s, %s FROM bubbles b"
                " WHERE b.id = %s AND b.user_id = %s"
                " ON CONFLICT (bubble_id, period) DO NOTHING",
                (o.period, o.outcome_price, o.pnl_percent, o.bubble_id, user_id),
            )
            written += cur.rowcount
        await cur.execute(
            "INSERT INTO outcome_attempts (bubble_id, period, status, attempts, next_attempt_at,"
            " last_error)"
            " SELECT b.id, p.period, 'skipped', 0, NOW(), %s FROM bubbles b"
            " CROSS JOIN (VALUES ('1h'), ('4h'), ('1d')) AS p(period)"
            " WHERE b.id = ANY(%s) AND b.user_id = %s AND NOT EXISTS (SELECT 1 FROM outcomes o"
            "   WHERE o.bubble_id = b.id AND o.period = p.period)"
            " ON CONFLICT (bubble_id, period) DO UPDATE SET status = 'skipped',"
            " last_error = EXCLUDED.last_error, updated_at = NOW()",
            (SIMULATED_NOTE, bubble_ids, user_id),
        )
    return written

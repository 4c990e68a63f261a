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

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from psycopg import AsyncConnection

from kifu.alerts import rules
from kifu.kit import pgarray
from kifu.market import MarketData
from kifu.market import outcomes as engine
from kifu.market.outcomes import LEASE, OutcomeRun

__all__ = ["OutcomeRun", "compute_due_outcomes"]


_ATTEMPTS = engine.Attempts("alert_outcome_attempts", "alert_id")


@dataclass
class _Work:
    alert_id: uuid.UUID
    decision_id: uuid.UUID
    period: str
    attempts: int
    symbol: str
    price: Decimal
    target: datetime

    @property
    def key(self) -> uuid.UUID:
        return self.alert_id


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


# Outcomes land once each (ON CONFLICT) and their claims go with them, in one statement.
_STORE = """
WITH done AS (
    SELECT * FROM unnest(%s::uuid[], %s::uuid[], %s::text[], %s::numeric[], %s::numeric[],
                         %s::numeric[])
        AS d(alert_id, decision_id, period, reference_price, outcome_price, pnl_percent)
), saved AS (
    INSERT INTO alert_outcomes
        (alert_id, decision_id, period, reference_price, outcome_price, pnl_percent)
    SELECT * FROM done
    ON CONFLICT (alert_id, period) DO NOTHING
)
DELETE FROM alert_outcome_attempts t USING done d
WHERE t.alert_id = d.alert_id AND t.period = d.period
"""


class _AlertOutcomes:
    """``alert_outcomes`` and their claims in ``alert_outcome_attempts``
    (``kifu.market.outcomes`` runs the job)."""

    attempts = _ATTEMPTS
    bad_price = "trigger price is not positive"

    async def claim(self, conn: AsyncConnection, now: datetime, batch: int) -> list[_Work]:
        cur = await conn.execute(_CLAIM, {"now": now, "batch": batch, "lease": now + LEASE})
        return [
            _Work(aid, did, period, attempts, symbol, price, rules.outcome_target(at, period))
            for aid, did, period, attempts, symbol, price, at in await cur.fetchall()
        ]

    async def store(
        self, conn: AsyncConnection, done: Sequence[tuple[_Work, Decimal, Decimal]]
    ) -> None:
        await conn.execute(
            _STORE,
            (
                pgarray.literal(w.alert_id for w, _, _ in done),
                pgarray.literal(w.decision_id for w, _, _ in done),
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
    batch: int = 500,
    max_rounds: int = 20,
    connect: engine.Connect | None = None,
) -> OutcomeRun:
    """Compute the alert outcomes due at ``now`` (``conn`` in autocommit mode; ``connect``
    opens more such connections for the symbols' candles, ``engine.compute_due``)."""
    return await engine.compute_due(
        _AlertOutcomes(), conn, market, now, batch=batch, max_rounds=max_rounds, connect=connect
    )
